// Every fuzz target (test/fuzz/targets.ts: ELF, BTF base and split, .BTF.ext, the object
// spec, CO-RE, the exec/open/connect decoders and formatters, the CLI's argument parser)
// for a bounded run: every input ends in a result or the target's typed error, no input
// takes seconds, memory does not grow. Then every saved input under test/fixtures/fuzz/
// (crashes the fuzzers found, fixed since) is replayed.
// Cost: about 2 s per target, 20-25 s in all, per runtime.
// The seed is random unless FUZZ_SEED is set, or fixed under CI=true (a CI run must not fail on
// an input no change of its own brought; local runs and scripts/fuzz.ts explore new seeds). A
// failure names the seed and the command to rerun.

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { readdirSync, readFileSync } from "node:fs";
import { targetByName, TARGETS } from "./fuzz/targets.ts";
import { runFuzz, runOne } from "./fuzz/runner.ts";

const SEED = Number(
  process.env.FUZZ_SEED ??
    (process.env.CI === "true" ? 20261127 : Math.floor(Math.random() * 0xffffffff)),
);
const RUNS = 3000;
const SECONDS = 2;

for (const target of TARGETS) {
  test(`fuzz ${target.name}: ${RUNS} inputs (at most ${SECONDS} s) end in a result or a typed error`, () => {
    const r = runFuzz(target, { seed: SEED, runs: RUNS, seconds: SECONDS, maxFailures: 3 });
    const rerun = `scripts/fuzz.ts ${target.name} --seed ${SEED} --runs ${r.inputs}`;
    for (const f of r.failures) {
      assert.fail(`input ${f.iteration} of seed ${SEED} (${rerun}): ${f.error}`);
    }
    assert.ok(r.inputs >= 100, `only ${r.inputs} inputs in ${r.seconds.toFixed(1)} s`);
    // Some inputs must reach the parser's checks, and some must pass them.
    if (target.name !== "cli") {
      assert.ok(r.rejected > 0 && r.rejected < r.inputs, `${r.rejected} of ${r.inputs} refused`);
    }
    // A hang would never return; a slow input is a parser gone quadratic (the first inputs
    // include the JIT's warm-up, hence the margin).
    assert.ok(
      r.slowest.ms < 3000,
      `input ${r.slowest.iteration} took ${r.slowest.ms} ms (${rerun})`,
    );
    assert.ok(
      r.memory.growthMiB < 128,
      `RSS grew ${r.memory.growthMiB.toFixed(1)} MiB after warm-up: ${
        r.memory.samples.map((m) => m.toFixed(0))
      }`,
    );
  });
}

const SAVED = new URL("./fixtures/fuzz/", import.meta.url).pathname;

test("every saved fuzz input (test/fixtures/fuzz/TARGET-*.bin) ends in a result or a typed error", () => {
  const files = readdirSync(SAVED).filter((f) => f.endsWith(".bin")).sort();
  assert.ok(files.length > 0);
  const prepared = new Map<
    string,
    ReturnType<typeof targetByName>["prepare"] extends () => infer P ? P : never
  >();
  for (const f of files) {
    const name = TARGETS.map((t) =>
      t.name
    ).filter((n) => f.startsWith(n + "-")).sort((a, b) => b.length - a.length)[0];
    assert.ok(name, `${f}: no target named by its prefix`);
    if (!prepared.has(name)) {
      prepared.set(name, targetByName(name).prepare());
    }
    const error = runOne(prepared.get(name)!, new Uint8Array(readFileSync(SAVED + f)));
    assert.equal(error, null, `${f}: ${error}`);
  }
});
