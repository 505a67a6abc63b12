// The runner (src/tracers/run.ts) with each event buffer, in this process: the exec tracer
// started with the ring buffer and with the perf buffer sees a real exec, and close()
// releases every kernel object and mapping it made.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { kernelTest } from "./env.ts";
import { kernelObjectFds } from "./loader-ids.ts";
import { getPlatform } from "../src/platform/index.ts";
import { type ExecRecord, execTracer } from "../src/tracers/exec.ts";
import { type EventBuffer, startTracer } from "../src/tracers/run.ts";
import { TracerError } from "../src/errors.ts";

const decoder = new TextDecoder();

/** This process's mappings of BPF maps and perf events (ring buffers, perf rings). */
const kernelMappings = () =>
  readFileSync("/proc/self/maps", "utf8").split("\n")
    .filter((l) => /anon_inode:(\[perf_event\]|bpf)/.test(l));

for (const buffer of ["ring", "perf"] as EventBuffer[]) {
  test(
    `startTracer({ buffer: "${buffer}" }) sees an exec; close() leaves no fd or mapping`,
    kernelTest(),
    async () => {
      const p = await getPlatform();
      const before = kernelObjectFds();
      const mappedBefore = kernelMappings();
      const t = startTracer(p, execTracer({}), { buffer });
      try {
        assert.equal(t.buffer, buffer);
        assert.ok(kernelMappings().length > mappedBefore.length, "the buffer is mapped");
        const child = spawnSync("/bin/true", [`run-buffers-${buffer}`]);
        assert.equal(child.status, 0);
        const seen: ExecRecord[] = [];
        const deadline = performance.now() + 5000;
        while (seen.length === 0 && performance.now() < deadline) {
          await t.poll(100, (r) => {
            if (r.pid === child.pid) seen.push(r);
          });
        }
        assert.equal(seen.length, 1, `no exec record for pid ${child.pid}`);
        assert.deepEqual(seen[0].args.map((a) => decoder.decode(a)), [
          "/bin/true",
          `run-buffers-${buffer}`,
        ]);
        assert.equal(t.stats()[0], 0n);
      } finally {
        t.close();
      }
      assert.deepEqual(kernelObjectFds(), before);
      assert.deepEqual(kernelMappings(), mappedBefore);
    },
  );
}

test(
  "a tracer without a perf-buffer flag refuses buffer perf, before loading anything",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const before = kernelObjectFds();
    const desc = { ...execTracer({}), perfBufferFlag: undefined };
    assert.throws(
      () => startTracer(p, desc, { buffer: "perf" }),
      (e: unknown) =>
        e instanceof TracerError &&
        /exec tracer cannot send its events to a perf buffer/.test(e.message),
    );
    assert.deepEqual(kernelObjectFds(), before);
  },
);
