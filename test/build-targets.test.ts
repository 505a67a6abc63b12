// build.ts --all: the three binaries, each a self-contained executable for its CPU, built from
// Bun's base executables for the targets (scripts/bun-targets.ts). Cost: 17-23 s per runtime on
// the shared 2-core host (three `bun build --compile`; base executables cached in .cache/bun-targets).
// Running the arm64 binary is test/vm/kernels.vmtest.ts's part (qemu-system-aarch64).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseElf } from "../src/elf/reader.ts";
import { BINARIES, targetExecutable } from "../scripts/bun-targets.ts";

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

test("build.ts --all writes tracer, tracer-x64-baseline and tracer-arm64 for their CPUs", () => {
  const dir = mkdtempSync(join(tmpdir(), "build-targets-"));
  try {
    const deno = "node_modules/.bin/deno";
    const r = spawnSync(deno, ["run", "-A", "build.ts", "--all", "--no-bpf", "--out", dir], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const expected: Record<string, [number, string]> = {
      "tracer": [EM_X86_64, "/lib64/ld-linux-x86-64.so.2"],
      "tracer-x64-baseline": [EM_X86_64, "/lib64/ld-linux-x86-64.so.2"],
      "tracer-arm64": [EM_AARCH64, "/lib/ld-linux-aarch64.so.1"],
    };
    assert.deepEqual(Object.keys(BINARIES).sort(), Object.keys(expected).sort());
    for (const [name, [machine, interp]] of Object.entries(expected)) {
      const bytes = new Uint8Array(readFileSync(join(dir, name)));
      const elf = parseElf(bytes, name, { anyMachine: true });
      assert.equal(elf.machine, machine, name);
      // Dynamically linked against glibc only through its loader: no other file to ship.
      const text = new TextDecoder("latin1").decode(bytes.subarray(0, 4096));
      assert.ok(text.includes(interp), `${name}: interpreter ${interp}`);
      // The base executable is the target's own Bun, and the embedded program follows it.
      const base = readFileSync(targetExecutable(BINARIES[name as keyof typeof BINARIES].target));
      assert.ok(bytes.length > base.length, `${name} is larger than its base executable`);
    }
    // The x86-64 builds run here (this machine is x86-64).
    if (process.arch === "x64") {
      for (const name of ["tracer", "tracer-x64-baseline"]) {
        const v = spawnSync(join(dir, name), ["--version"], { encoding: "utf8" });
        assert.equal(v.status, 0, `${name}: ${v.stderr}`);
        assert.match(v.stdout, /^tracer \d+\.\d+\.\d+/);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
