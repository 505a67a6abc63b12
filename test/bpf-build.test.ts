import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { Buffer } from "node:buffer";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BPF_DIR, buildAll, GENERATED, generatedModule } from "../scripts/build-bpf.ts";
import { parseElf } from "../src/elf/reader.ts";
import { Btf } from "../src/btf/reader.ts";
import { Kind } from "../src/btf/types.ts";
import { embeddedObject, embeddedObjectNames } from "../src/tracers/embedded.ts";
import { kernelTest } from "./env.ts";

test("bpf objects and src/generated/objects.ts are byte-identical to a fresh build", () => {
  const out = mkdtempSync(join(tmpdir(), "bpf-build-test-"));
  try {
    const objects = buildAll(out);
    assert.deepEqual([...objects.keys()], ["connect", "exec", "open"]);
    for (const [name, bytes] of objects) {
      const committed = new Uint8Array(readFileSync(join(BPF_DIR, `${name}.bpf.o`)));
      assert.ok(Buffer.compare(committed, bytes) === 0, `bpf/${name}.bpf.o differs`);
      assert.deepEqual(embeddedObject(name), committed);
    }
    assert.equal(readFileSync(GENERATED, "utf8"), generatedModule(objects));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the build does not depend on the checkout's path", () => {
  const dir = mkdtempSync(join(tmpdir(), "bpf-build-elsewhere-"));
  try {
    const src = join(dir, "some", "other", "bpf");
    cpSync(BPF_DIR, src, { recursive: true });
    const objects = buildAll(dir, src);
    const committed = new Uint8Array(readFileSync(join(BPF_DIR, "exec.bpf.o")));
    assert.ok(Buffer.compare(objects.get("exec")!, committed) === 0);
    const text = new TextDecoder("latin1").decode(committed);
    assert.ok(!text.includes(BPF_DIR), "absolute source path in the object");
    assert.ok(!text.includes("/tmp/"), "temporary path in the object");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("exec.bpf.o: programs, maps, .rodata config and event type in BTF, no DWARF", () => {
  assert.deepEqual(embeddedObjectNames(), ["connect", "exec", "open"]);
  const elf = parseElf(embeddedObject("exec"), "exec.bpf.o");
  const names = elf.sections.map((s) => s.name);
  for (
    const s of [
      "tp_btf/sched_process_exec",
      "tracepoint/sched/sched_process_exec",
      "raw_tp/sched_process_fork",
      "raw_tp/sched_process_exit",
      "tracepoint/syscalls/sys_enter_execve",
      "tracepoint/syscalls/sys_exit_execve",
      "tracepoint/syscalls/sys_enter_execveat",
      "tp_btf/sched_process_fork",
      "tp_btf/sched_process_exit",
      ".rodata",
      ".maps",
      "license",
      ".BTF",
      ".BTF.ext",
    ]
  ) assert.ok(names.includes(s), `missing section ${s}`);
  assert.deepEqual(names.filter((n) => n.startsWith(".debug")), []);
  assert.ok(!names.includes(".bss") && !names.includes(".data"), "only .rodata global data");
  const btf = Btf.parse(elf.sectionByName(".BTF")!.data);
  const secVars = (sec: string) => {
    const id = btf.byName(sec, Kind.DATASEC)[0];
    const t = btf.type(id) as { vars: { type: number }[] };
    return t.vars.map((v) => btf.name(v.type)).sort();
  };
  assert.deepEqual(secVars(".maps"), [
    "cgroup_events",
    "cgroup_verdicts",
    "events",
    "heap",
    "pending",
    "stats",
    "traced",
  ]);
  assert.deepEqual(secVars(".rodata"), [
    "boot_minus_monotonic_ns",
    "cgroup_hierarchy_id",
    "cgroup_v1_subsys",
    "emit_failed",
    "emit_success",
    "filter_cgroups",
    "follow_tgid",
    "max_arg_bytes",
    "max_args",
    "target_ppid",
    "target_uid",
    "unused_cgroup_event",
    "unused_exec_event",
    "use_monotonic_clock",
    "use_perf_buffer",
    "wakeup_bytes",
  ]);
  assert.equal(btf.byName("exec_event", Kind.STRUCT).length, 1);
  const license = new TextDecoder().decode(elf.sectionByName("license")!.data);
  assert.equal(license, "Dual BSD/GPL\0");
});

test(
  "the kernel's verifier accepts every program of exec.bpf.o (bpftool as reference loader)",
  kernelTest(),
  () => {
    const pin = `/sys/fs/bpf/tracer-test-${process.pid}`;
    const r = spawnSync("bpftool", ["prog", "loadall", join(BPF_DIR, "exec.bpf.o"), pin], {
      encoding: "utf8",
    });
    try {
      assert.equal(r.status, 0, r.stderr);
      const progs = spawnSync("ls", [pin], { encoding: "utf8" }).stdout.trim().split("\n").sort();
      assert.deepEqual(progs, [
        "enter_execve",
        "enter_execveat",
        "exit_execve",
        "exit_execve_bounded",
        "handle_exec",
        "handle_exec_tp",
        "handle_exit",
        "handle_exit_raw",
        "handle_fork",
        "handle_fork_raw",
        "on_cgroup_mkdir",
      ]);
    } finally {
      rmSync(pin, { recursive: true, force: true });
    }
  },
);
