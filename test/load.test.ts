// Under load with a tiny event buffer, every event is delivered or counted lost, exactly, and
// the tracer says live that it cannot keep up. Each tracer runs against its storm
// (test/storms.ts, the same as scripts/load.ts runs for minutes) for STORM_SECONDS with a
// 4 KiB ring buffer, then a 4 KiB-per-CPU perf buffer, so that events are lost. Cost: about
// 6 x (STORM_SECONDS + tracer start-up), 15-25 s per runtime here.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTest } from "./env.ts";
import { buildStorms, runStorm, STORM_KINDS, stormProblems } from "./storms.ts";
import { LostWarning } from "../src/tracers/lost-warning.ts";

const STORM_SECONDS = 1.5;

test("lost warning: at once on the first loss, then at most once an interval", () => {
  const w = new LostWarning(1000);
  assert.equal(w.check(0n, 0), null);
  assert.equal(
    w.check(5n, 10),
    "tracer: cannot keep up: 5 more events lost (the event buffer was full), 5 since start; " +
      "a larger --ring-bytes may help\n",
  );
  assert.equal(w.check(9n, 500), null); // too soon: told in the next line
  assert.equal(w.check(9n, 1009), null);
  assert.match(w.check(9n, 1010)!, /: 4 more events lost .*, 9 since start;/);
  assert.equal(w.check(9n, 5000), null); // nothing new
  assert.match(w.check(10n, 5001)!, /: 1 more events lost .*, 10 since start;/);
});

for (const buffer of ["ring", "perf"] as const) {
  test(
    `load, ${buffer} buffer of 4 KiB: exec, open and connect storms, delivered + lost = issued`,
    { ...kernelTest(), timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "load-test-"));
      try {
        buildStorms(dir);
        for (const kind of STORM_KINDS) {
          const r = await runStorm(kind, {
            dir,
            seconds: STORM_SECONDS,
            ringBytes: 4096,
            buffer,
          });
          const what = `${kind} (${buffer}): issued ${r.issued}, delivered ${r.delivered}, ` +
            `lost ${r.lost}, ${r.warnings} warnings; stderr:\n${r.stderr.slice(-2000)}`;
          assert.deepEqual(stormProblems(r), [], what);
          // A 4 KiB buffer cannot hold the storm's backlog: the accounting was exercised.
          assert.ok(r.lost > 0 && r.delivered > 0, what);
          assert.ok(r.warnings >= 1, what);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}
