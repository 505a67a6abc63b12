// `tracer inspect`: text and JSON output of an object's programs, maps and CO-RE
// relocations against a given target BTF.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { inspectCommand } from "../src/cli/inspect.ts";
import type { Platform } from "../src/platform/types.ts";
import { UsageError } from "../src/errors.ts";

const FIXTURES = new URL("./fixtures/core/", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const decoder = new TextDecoder();
  const platform = {
    writeAll(fd: number, bytes: Uint8Array) {
      if (fd === 1) stdout += decoder.decode(bytes);
    },
  } as unknown as Platform;
  const code = await inspectCommand.run(args, platform);
  return { code, stdout };
}

test("inspect --json: one record per relocation with libbpf's kind names and values", async () => {
  const { code, stdout } = await run([
    join(FIXTURES, "core_fields.bpf.o"),
    "--btf",
    join(FIXTURES, "target_a.btf"),
    "--json",
  ]);
  assert.equal(code, 0);
  const doc = JSON.parse(stdout);
  assert.equal(doc.relocations.length, 78);
  assert.deepEqual(doc.relocations[0], {
    program: "field_offsets",
    section: "raw_tp/sys_enter",
    relo: 0,
    insn: 0,
    kind: "byte_off",
    local_type: 9,
    local_type_name: "core_sample",
    access: "0:0",
    local_spec: "[9] struct core_sample.x (0:0 @ offset 0)",
    target_type: 2,
    target_spec: "[2] struct core_sample.x (0:2 @ offset 32)",
    old: 0,
    new: 32,
    poisoned: false,
  });
  const poisoned = doc.relocations.filter((r: { poisoned: boolean }) => r.poisoned);
  assert.deepEqual(
    poisoned.map((r: { program: string; insn: number; kind: string }) =>
      `${r.program}:${r.insn}:${r.kind}`
    ),
    [
      "enums_and_types:14:enumval_value",
      "flavors:14:byte_off",
      "direct_access:4:byte_off",
      "direct_access:20:byte_off",
    ],
  );
  const big = doc.relocations.find((r: { access: string; local_type_name: string }) =>
    r.local_type_name === "core_enum" && r.access === "2"
  );
  assert.equal(big.old, "18446744073709551613"); // CE_NEG = -3 as libbpf's u64
  assert.equal(big.new, "18446744073709551586"); // -30
  const mem = doc.relocations.find((r: { mem_size?: unknown }) => r.mem_size);
  assert.deepEqual(mem.mem_size, { old: 4, new: 8 });
  assert.deepEqual(doc.programs.map((p: { name: string }) => p.name), [
    "field_offsets",
    "field_info",
    "bitfields",
    "enums_and_types",
    "flavors",
    "direct_access",
  ]);
});

test("inspect (text): programs, maps and relocations of an object against a kernel BTF", async () => {
  const { code, stdout } = await run([
    join(FIXTURES, "core_kernel.bpf.o"),
    "--btf",
    join(FIXTURES, "target_b.btf"),
  ]);
  assert.equal(code, 0);
  assert.match(stdout, /^ {2}tp_btf\/sched_process_exec +exec_task +59$/m);
  assert.match(stdout, /^ {2}\.text +parent_tgid +20 +subprogram$/m);
  assert.match(stdout, /CO-RE relocations against .*target_b\.btf \(21\):/);
  // target_b has no task_struct: field reads are poisoned, existence checks are 0.
  assert.match(
    stdout,
    /exec_task +1 +byte_off +\[6\] struct task_struct\.mm \(0:4 @ offset 24\) +- +24 -> poisoned/,
  );
  assert.match(stdout, /exec_task +9 +field_exists .* +- +1 -> 0 \(not found\)/);
});

test("inspect: an ambiguous relocation is reported with its spec and exit status 1", async () => {
  const { code, stdout } = await run([
    join(FIXTURES, "core_ambig.bpf.o"),
    "--btf",
    join(FIXTURES, "target_b.btf"),
    "--json",
  ]);
  assert.equal(code, 1);
  const doc = JSON.parse(stdout);
  assert.match(
    doc.error,
    /program 'ambiguous' relo #0 insn #0 \[6\] struct core_amb\.b \(0:1 @ offset 4\): field offset ambiguity/,
  );
  await assert.rejects(run([]), UsageError);
  await assert.rejects(run(["/nonexistent.o"]), /no such object file/);
});
