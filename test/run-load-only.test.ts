// `tracer run OBJECT --load-only` on objects from Debian's libbpf-tools binaries: one line per
// program, "loaded" exactly where libbpf (test/harness, core_harness --load) loads that program
// alone on this kernel and "FAILED" with libbpf's errno elsewhere, the exit status 0 only when
// all loaded; a map the object leaves to user space is refused by name until --map-size gives
// it; --program and --set. Cost: ~3 s.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTest } from "./env.ts";
import { extractTool as extract } from "./embedded-bpf.ts";
import { runLibbpfLoad } from "./harness/libbpf-log.ts";
import { runTracer } from "./tracer-cli.ts";
import { errnoName } from "../src/errors.ts";

/** "NAME loaded ..." and "NAME FAILED ERRNO ..." lines -> {name: "loaded" or the errno name}. */
function outcomes(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of stdout.split("\n")) {
    const m = /^(\S+)\s+(?:(loaded)|FAILED\s+(\S+))\s/.exec(l);
    if (m) out[m[1]] = m[2] ?? m[3];
  }
  return out;
}

test("run --load-only: each program loaded exactly where libbpf loads it", kernelTest(), () => {
  const dir = mkdtempSync(join(tmpdir(), "tracer-run-"));
  try {
    for (const tool of ["execsnoop", "bindsnoop", "biolatency", "javagc"]) {
      const path = extract(dir, tool);
      const lib = runLibbpfLoad(path);
      const r = runTracer("run", [path, "--load-only"]);
      const want = Object.fromEntries(
        lib.programs.map((p) => [p.name, p.errno === 0 ? "loaded" : errnoName(p.errno)]),
      );
      assert.deepEqual(outcomes(r.stdout), want, `${tool}: ${r.stdout}${r.stderr}`);
      const all = Object.values(want).every((o) => o === "loaded");
      assert.equal(r.status, all ? 0 : 1, `${tool}: exit status`);
      const n = Object.values(want).filter((o) => o === "loaded").length;
      assert.match(r.stdout, new RegExp(`^${n} of ${lib.programs.length} programs loaded$`, "m"));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("run --load-only: runtime-sized maps need --map-size; --program, --set", kernelTest(), () => {
  const dir = mkdtempSync(join(tmpdir(), "tracer-run-"));
  try {
    const capable = extract(dir, "capable");
    let r = runTracer("run", [capable, "--load-only"]);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr.trim(),
      "tracer run: map stackmap: the object leaves its max_entries to user space; " +
        "give --map-size stackmap=N:VALUE_SIZE",
    );
    assert.equal(r.stdout, "");
    r = runTracer("run", [
      capable,
      "--load-only",
      "--map-size",
      "stackmap=1024:1016",
      "--program",
      "kprobe__cap_capable_exit",
      "--set",
      "targ_pid=1",
    ]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^kprobe__cap_capable_exit\s+loaded\s+kretprobe\/cap_capable\s/m);
    assert.match(r.stdout, /^1 of 1 programs loaded$/m);
    r = runTracer("run", [capable, "--load-only", "--map-size", "stackmap=8:8", "--set", "x=1"]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^tracer run: constant x: no such variable in \.rodata \(it has: .*targ_pid/,
    );
    r = runTracer("run", [
      capable,
      "--load-only",
      "--map-size",
      "stackmap=8:8",
      "--set",
      "targ_pid=true",
    ]);
    assert.equal(
      r.stderr.trim(),
      "tracer run: constant targ_pid: expects an integer of 4 bytes, got boolean true",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
