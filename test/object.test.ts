// Object spec: programs, subprograms, maps and ELF relocations of the fixture objects and the
// shipped tracer objects, checked against what Debian's libbpf reports when it opens them.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "./env.ts";
import { runLibbpf } from "./harness/libbpf-log.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { sectionDef } from "../src/object/sections.ts";
import { internalMapName } from "../src/object/maps.ts";
import { AttachType, MapType, ProgType } from "../src/kernel/constants.ts";
import { FormatError } from "../src/errors.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURES = join(ROOT, "test/fixtures/core");

function objects(): string[] {
  const list = readdirSync(FIXTURES).filter((f) => f.endsWith(".bpf.o")).map((f) =>
    join(FIXTURES, f)
  );
  const bpf = join(ROOT, "bpf");
  if (existsSync(bpf)) {
    list.push(...readdirSync(bpf).filter((f) => f.endsWith(".bpf.o")).map((f) => join(bpf, f)));
  }
  return list;
}

const load = (path: string) =>
  loadObjectSpec(new Uint8Array(readFileSync(path)), path.split("/").pop()!);

test(
  "object spec: programs, subprograms and BTF-defined maps agree with libbpf's view",
  kernelTest(),
  () => {
    let checked = 0;
    for (const path of objects()) {
      const spec = load(path);
      const log = runLibbpf(path, "/sys/kernel/btf/vmlinux").log;
      const progs = [...log.matchAll(
        /sec '([^']+)': found program '([^']+)' at insn offset (\d+) \(\d+ bytes\), code size (\d+) insns/g,
      )].map(([, sec, name, off, n]) => `${sec} ${name} @${off} ${n}`);
      const ours = spec.programs.concat(spec.subprograms).map((p) =>
        `${p.section} ${p.name} @${p.offset / 8} ${p.insns.length / 8}`
      );
      assert.deepEqual(ours.sort(), progs.sort(), path);
      for (const mp of spec.maps.filter((x) => x.section === ".maps")) {
        const field = (f: string) => {
          const r = new RegExp(`map '${mp.name}': found ${f}(?: \\[\\d+\\], sz)? = (\\d+)`).exec(
            log,
          );
          return r ? Number(r[1]) : undefined;
        };
        assert.equal(mp.type, field("type"), `${path} ${mp.name} type`);
        assert.equal(mp.maxEntries, field("max_entries"), `${path} ${mp.name} max_entries`);
        if (field("key") !== undefined) assert.equal(mp.keySize, field("key"), `${mp.name} key`);
        if (field("value") !== undefined) {
          assert.equal(
            mp.valueSize,
            field("value"),
            `${mp.name} value`,
          );
        }
        checked++;
      }
      assert.equal(spec.license, /license of .* is (.*)$/m.exec(log)?.[1], `${path} license`);
    }
    assert.ok(checked > 0, "no BTF-defined map checked");
  },
);

test("object spec: core_kernel.bpf.o programs, subprogram call and attach points", () => {
  const spec = load(join(FIXTURES, "core_kernel.bpf.o"));
  const exec = spec.programs.find((p) => p.name === "exec_task")!;
  assert.deepEqual(exec.attach, { kind: "tp_btf", target: "sched_process_exec" });
  assert.equal(exec.progType, ProgType.TRACING);
  assert.equal(exec.expectedAttachType, AttachType.TRACE_RAW_TP);
  assert.equal(exec.insns.length / 8, 59);
  const call = exec.relocations.find((r) => r.kind === "call")!;
  assert.equal(call.insn, 42);
  assert.equal(call.section, ".text");
  assert.equal(call.addend, 0); // parent_tgid is the first .text function
  assert.deepEqual(spec.subprograms.map((p) => [p.name, p.isSubprogram]), [["parent_tgid", true]]);
  const sw = spec.programs.find((p) => p.name === "switch_task")!;
  assert.deepEqual(sw.attach, { kind: "raw_tp", target: "sched_switch" });
  assert.equal(sw.progType, ProgType.RAW_TRACEPOINT);
  assert.equal(exec.funcInfo.length, 1);
  assert.equal(exec.funcInfo[0].insnOff, 0);
  assert.ok(exec.lineInfo.length > 5 && exec.lineInfo.every((l) => l.insnOff < 59));
});

test("section names map to libbpf's program and attach types", () => {
  assert.deepEqual(sectionDef("tp/sched/sched_process_exec").attach, {
    kind: "tracepoint",
    category: "sched",
    name: "sched_process_exec",
  });
  assert.equal(sectionDef("tracepoint/syscalls/sys_enter_openat").progType, ProgType.TRACEPOINT);
  assert.equal(sectionDef("fentry.s/do_unlinkat").sleepable, true);
  assert.equal(sectionDef("fexit/do_unlinkat").expectedAttachType, AttachType.TRACE_FEXIT);
  assert.equal(sectionDef("kretprobe/tcp_connect").attach.kind, "kretprobe");
  assert.equal(sectionDef("lsm/file_open").progType, ProgType.LSM);
  assert.deepEqual(sectionDef("xdp").attach, { kind: "other", section: "xdp" });
});

test("global data maps are named like libbpf's internal maps", () => {
  assert.equal(internalMapName("exec.bpf.o", ".rodata"), "exec.rodata");
  assert.equal(internalMapName("averyveryverylongname.bpf.o", ".bss"), "averyver.bss");
  assert.equal(internalMapName("exec.bpf.o", ".rodata.str1.1"), ".rodata.str1.1");
  const exec = join(ROOT, "bpf/exec.bpf.o");
  if (existsSync(exec)) {
    const ro = load(exec).maps.find((m) => m.section === ".rodata");
    assert.ok(ro && ro.type === MapType.ARRAY && ro.maxEntries === 1 && ro.data);
    assert.equal(ro.valueSize, ro.data.bytes.length);
    assert.ok(ro.data.vars.length > 0);
  }
});

test("malformed objects get a FormatError, not another exception", () => {
  const good = new Uint8Array(readFileSync(join(FIXTURES, "core_kernel.bpf.o")));
  assert.throws(() => loadObjectSpec(good.slice(0, 40), "short.o"), FormatError);
  const bad = good.slice();
  bad[18] = 62; // e_machine = x86_64
  assert.throws(() => loadObjectSpec(bad, "x86.o"), FormatError);
  // Truncate the file: section data now points past its end.
  assert.throws(() => loadObjectSpec(good.slice(0, good.length - 300), "cut.o"), FormatError);
});

test("data-section variables carry their ELF symbol offsets (clang leaves DATASEC offsets 0)", () => {
  const path = join(ROOT, "test/fixtures/loader/getpid.bpf.o");
  const spec = loadObjectSpec(new Uint8Array(readFileSync(path)), "getpid.bpf.o");
  const rodata = spec.maps.find((m) => m.data?.section === ".rodata");
  assert.ok(rodata?.data);
  assert.deepEqual(
    rodata.data.vars.map((v) => [v.name, v.offset, v.size]),
    [["magic", 0, 4], ["target_tid", 4, 4]],
  );
});
