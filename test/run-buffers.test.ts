// The runner (src/tracers/run.ts) with each event buffer, in this process: the exec tracer
// started with the ring buffer and with the perf buffer sees a real exec, and close()
// releases every kernel object and mapping it made.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { kernelTest } from "./env.ts";
import { kernelObjectFds } from "./loader-ids.ts";
import { getPlatform } from "../src/platform/index.ts";
import { type ExecRecord, execTracer } from "../src/tracers/exec.ts";
import { type EventBuffer, startTracer } from "../src/tracers/run.ts";
import { SysError, TracerError } from "../src/errors.ts";
import type { Platform } from "../src/platform/types.ts";
import { BpfCmd, MapType } from "../src/kernel/constants.ts";
import { mapCreate } from "../src/kernel/bpf.ts";

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

test(
  "without ring buffer maps (a kernel before 5.8: map create says EINVAL) the runner picks the perf buffer by itself and it works",
  kernelTest(),
  async () => {
    const real = await getPlatform();
    // The platform, except that creating a BPF_MAP_TYPE_RINGBUF fails as old kernels fail it.
    const refused: string[] = [];
    const p: Platform = Object.create(real);
    p.bpf = (cmd, attr, step) => {
      const mapType = new DataView(attr.buffer, attr.byteOffset).getUint32(0, true);
      if (cmd === BpfCmd.MAP_CREATE && mapType === MapType.RINGBUF) {
        refused.push(step);
        throw new SysError(step, 22);
      }
      return real.bpf(cmd, attr, step);
    };
    const t = startTracer(p, execTracer({}));
    try {
      assert.equal(t.buffer, "perf");
      assert.ok(refused.length >= 1, "the ring buffer was never tried");
      const child = spawnSync("/bin/true", ["run-buffers-auto"]);
      const seen: ExecRecord[] = [];
      const deadline = performance.now() + 5000;
      while (seen.length === 0 && performance.now() < deadline) {
        await t.poll(100, (r) => {
          if (r.pid === child.pid) seen.push(r);
        });
      }
      assert.deepEqual(seen.map((r) => r.args.map((a) => decoder.decode(a))), [[
        "/bin/true",
        "run-buffers-auto",
      ]]);
    } finally {
      t.close();
    }
    // And with the real platform the ring buffer is chosen (this kernel has it: checked by
    // creating one).
    let hasRing = true;
    try {
      mapCreate(real, {
        type: MapType.RINGBUF,
        keySize: 0,
        valueSize: 0,
        maxEntries: 4096,
        name: "t_rb",
      })
        .close();
    } catch {
      hasRing = false;
    }
    const t2 = startTracer(real, execTracer({}));
    try {
      assert.equal(t2.buffer, hasRing ? "ring" : "perf");
    } finally {
      t2.close();
    }
  },
);

test(
  "per-program run counts, run time and skipped runs agree with bpftool's (kernel.bpf_stats_enabled)",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const stats = "/proc/sys/kernel/bpf_stats_enabled";
    const was = readFileSync(stats, "utf8").trim();
    writeFileSync(stats, "1");
    const t = startTracer(p, execTracer({}));
    try {
      for (let i = 0; i < 3; i++) spawnSync("/bin/true");
      await t.poll(50, () => {});
      writeFileSync(stats, "0"); // freeze the counters while they are compared
      const ours = t.programStats();
      assert.ok(ours.length > 0);
      for (const s of ours) {
        const r = spawnSync("bpftool", ["prog", "show", "id", String(s.id), "--json"], {
          encoding: "utf8",
        });
        assert.equal(r.status, 0, r.stderr);
        const theirs = JSON.parse(r.stdout);
        assert.equal(s.runCnt, BigInt(theirs.run_cnt ?? 0), `${s.name} run_cnt`);
        assert.equal(s.runTimeNs, BigInt(theirs.run_time_ns ?? 0), `${s.name} run_time_ns`);
        assert.equal(s.missed, BigInt(theirs.recursion_misses ?? 0), `${s.name} misses`);
      }
      assert.ok(ours.some((s) => s.runCnt >= 3n), "the exec program ran");
      assert.equal(t.skippedRuns(), ours.reduce((n, s) => n + s.missed, 0n));
    } finally {
      writeFileSync(stats, was);
      t.close();
    }
  },
);
