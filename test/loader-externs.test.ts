// .kconfig and .ksyms externs and libbpf's section names: the pure rules (section table,
// kconfig layout and values, kernel version code) on made-up inputs, then the real thing:
// test/fixtures/loader/externs.bpf.o run once on this kernel (BPF_PROG_TEST_RUN) reports
// the values its externs got, each checked against this kernel's own files (config.gz,
// osrelease, kallsyms) and a kfunc call's result; a strong missing kfunc is refused naming
// the program, the instruction and the symbol, and a missing weak kfunc reached unguarded is
// named in the verifier's error. Cost: under a second.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { kernelTest } from "./env.ts";
import { sectionDef } from "../src/object/sections.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import type { KconfigExtern } from "../src/object/externs.ts";
import { ExternError, fillKconfig } from "../src/loader/kconfig.ts";
import { type KconfigSource, versionFrom } from "../src/kernel/kconfig.ts";
import { AttachType, ProgType } from "../src/kernel/constants.ts";
import { getPlatform } from "../src/platform/index.ts";
import { loadCollection, LoadError } from "../src/loader/collection.ts";
import { progTestRun } from "../src/kernel/bpf.ts";
import { SysError } from "../src/errors.ts";

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./fixtures/loader/${name}`, import.meta.url)));

test("section names: libbpf's program type, expected attach type, sleepable, autoload", () => {
  const T = ProgType;
  const A = AttachType;
  const cases: [string, number, number, boolean, string][] = [
    ["uprobe/bin:func", T.KPROBE, 0, false, "uprobe"],
    ["uretprobe//usr/bin/bash:readline", T.KPROBE, 0, false, "uretprobe"],
    ["uprobe.s/bin:func", T.KPROBE, 0, true, "uprobe"],
    ["uretprobe.s", T.KPROBE, 0, true, "uretprobe"],
    ["usdt/lib:prov:name", T.KPROBE, 0, false, "usdt"],
    ["usdt", T.KPROBE, 0, false, "usdt"],
    ["perf_event", T.PERF_EVENT, 0, false, "perf_event"],
    ["lsm/file_open", T.LSM, A.LSM_MAC, false, "lsm"],
    ["lsm.s/bprm_check_security", T.LSM, A.LSM_MAC, true, "lsm"],
    ["fmod_ret/do_x", T.TRACING, A.MODIFY_RETURN, false, "fmod_ret"],
    ["iter/task", T.TRACING, A.TRACE_ITER, false, "iter"],
    ["iter.s/task_vma", T.TRACING, A.TRACE_ITER, true, "iter"],
    ["struct_ops/dctcp_init", T.STRUCT_OPS, 0, false, "struct_ops"],
    ["tp_btf/sched_switch", T.TRACING, A.TRACE_RAW_TP, false, "tp_btf"],
    ["fentry.s/do_x", T.TRACING, A.TRACE_FENTRY, true, "fentry"],
    ["ksyscall/openat", T.KPROBE, 0, false, "ksyscall"],
    ["kretsyscall/openat", T.KPROBE, 0, false, "kretsyscall"],
    ["kprobe.multi/vfs_*", T.KPROBE, A.TRACE_KPROBE_MULTI, false, "kprobe.multi"],
    ["kretprobe.multi/vfs_*", T.KPROBE, A.TRACE_KPROBE_MULTI, false, "kretprobe.multi"],
    ["syscall", T.SYSCALL, 0, true, "other"],
  ];
  for (const [sec, type, attach, sleepable, kind] of cases) {
    const d = sectionDef(sec);
    assert.deepEqual(
      [d.progType, d.expectedAttachType, d.sleepable, d.attach.kind, d.autoload],
      [type, attach, sleepable, kind, true],
      sec,
    );
  }
  // "?" turns autoload off and changes nothing else.
  const q = sectionDef("?tp/sched/sched_switch");
  assert.equal(q.autoload, false);
  assert.deepEqual(q.attach, { kind: "tracepoint", category: "sched", name: "sched_switch" });
  // A "+" definition matches its name or its name and "/"; the others only exactly.
  assert.equal(sectionDef("uprobex/f").attach.kind, "other");
  assert.equal(sectionDef("perf_event/x").progType, ProgType.UNSPEC);
  assert.deepEqual(sectionDef("uprobe/f").attach, { kind: "uprobe", target: "f" });
});

test("kconfig externs: libbpf's layout (alignment, size, name) and BTF types", () => {
  const spec = loadObjectSpec(fixture("externs.bpf.o"), "externs.bpf.o");
  const k = spec.externs.filter((e): e is KconfigExtern => e.kind === "kconfig");
  assert.deepEqual(
    k.map((e) => [e.name, e.type, e.size, e.align, e.offset, e.weak]),
    [
      ["CONFIG_NR_CPUS", "int", 8, 8, 0, true],
      ["CONFIG_DEBUG_INFO_BTF", "tristate", 4, 4, 8, false],
      ["CONFIG_HZ", "int", 4, 4, 12, false],
      ["LINUX_KERNEL_VERSION", "int", 4, 4, 16, false],
      ["CONFIG_BPF_SYSCALL", "bool", 1, 1, 20, false],
      ["CONFIG_TRACER_SURELY_NOT_AN_OPTION", "bool", 1, 1, 21, true],
      ["LINUX_HAS_BPF_COOKIE", "bool", 1, 1, 22, false],
      ["LINUX_HAS_SYSCALL_WRAPPER", "bool", 1, 1, 23, false],
      ["CONFIG_LOCALVERSION", "char_array", 8, 1, 24, false],
    ],
  );
  const map = spec.maps.find((m) => m.section === ".kconfig")!;
  assert.equal(map.name, "externs.kconfig");
  assert.equal(map.valueSize, 32);
  assert.deepEqual(
    spec.externs.filter((e) => e.kind === "ksym").map((e) => [e.name, e.weak]),
    [
      ["_stext", false],
      ["bpf_task_from_pid", true],
      ["bpf_task_release", true],
      ["bpf_tracer_surely_not_a_kfunc", true],
    ],
  );
});

function source(config: string | null, version = 0x061200): KconfigSource {
  return {
    kernelVersion: () => version,
    bpfCookie: () => true,
    syscallWrapper: () => false,
    config: () => config,
  };
}

function ext(
  name: string,
  type: KconfigExtern["type"],
  size: number,
  offset = 0,
  weak = false,
  signed = false,
): KconfigExtern {
  return {
    kind: "kconfig",
    name,
    weak,
    symbolIndex: 0,
    btfId: 0,
    type,
    size,
    align: 1,
    signed,
    offset,
  };
}

test("kconfig values: libbpf's rules for each type, range, weak and strong", () => {
  const cfg = [
    "# CONFIG_OFF is not set",
    "CONFIG_Y=y",
    "CONFIG_M=m",
    'CONFIG_S="a long string"',
    "CONFIG_HEX=0x1f",
    "CONFIG_OCT=010",
    "CONFIG_NEG=-1",
    "CONFIG_BIG=300",
  ].join("\n");
  const bytes = new Uint8Array(32);
  fillKconfig(
    [
      ext("CONFIG_Y", "bool", 1, 0),
      ext("CONFIG_M", "tristate", 4, 4),
      ext("CONFIG_S", "char_array", 6, 8),
      ext("CONFIG_HEX", "int", 2, 14),
      ext("CONFIG_OCT", "char", 1, 16),
      ext("CONFIG_NEG", "int", 4, 20, false, true),
      ext("CONFIG_OFF", "bool", 1, 24, true),
      ext("LINUX_KERNEL_VERSION", "int", 4, 28),
    ],
    bytes,
    source(cfg),
  );
  const dv = new DataView(bytes.buffer);
  assert.equal(bytes[0], 1);
  assert.equal(dv.getUint32(4, true), 2); // TRI_MODULE
  assert.equal(new TextDecoder().decode(bytes.subarray(8, 14)), "a lon\0"); // cut to fit
  assert.equal(dv.getUint16(14, true), 31);
  assert.equal(bytes[16], 8);
  assert.equal(dv.getInt32(20, true), -1);
  assert.equal(bytes[24], 0); // weak, absent: 0
  assert.equal(dv.getUint32(28, true), 0x061200);

  const fails = (e: KconfigExtern, text: string | null, errno: number) =>
    assert.throws(
      () => fillKconfig([e], new Uint8Array(16), source(text)),
      (x: unknown) => x instanceof ExternError && x.errno === errno && x.message.includes(e.name),
    );
  fails(ext("CONFIG_M", "bool", 1), cfg, 22); // 'm' needs a tristate
  fails(ext("CONFIG_BIG", "int", 1), cfg, 34); // 300 does not fit a u8: ERANGE
  fails(ext("CONFIG_Y", "int", 4), cfg, 22); // y into an integer
  fails(ext("CONFIG_S", "int", 4), cfg, 22); // a string into an integer
  fails(ext("CONFIG_ABSENT", "bool", 1), cfg, 3); // strong and unset: ESRCH
  fails(ext("CONFIG_Y", "bool", 1), null, 22); // no configuration to read
  fails(ext("LINUX_UNKNOWN", "int", 4), cfg, 22); // unknown LINUX_ must be weak
  fillKconfig([ext("LINUX_UNKNOWN", "int", 4, 0, true)], new Uint8Array(4), source(cfg));
});

test("LINUX_KERNEL_VERSION: libbpf's version code from Ubuntu, Debian and plain kernels", () => {
  assert.equal(versionFrom("Ubuntu 5.4.0-12.15-generic 5.4.8", "", "5.4.0-12-generic"), 0x050408);
  assert.equal(versionFrom(null, "#1 SMP Debian 4.19.260-1 (2022-09-29)", "4.19.0-22"), 0x0413ff);
  assert.equal(versionFrom(null, "#1 SMP PREEMPT_DYNAMIC @0", "6.18.44-fc-v782"), 0x06122c);
  assert.equal(versionFrom(null, "", "garbage"), 0);
});

/** This kernel's configuration, read independently of the loader (zcat /proc/config.gz). */
function kernelConfig(): Map<string, string> {
  const release = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  const text = existsSync(`/boot/config-${release}`)
    ? readFileSync(`/boot/config-${release}`, "utf8")
    : execFileSync("zcat", ["/proc/config.gz"], { encoding: "utf8", maxBuffer: 64 << 20 });
  const out = new Map<string, string>();
  for (const l of text.split("\n")) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(l);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

test(
  "externs on this kernel: the values a program sees, and a kfunc call",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("externs.bpf.o"), "externs.bpf.o");
    const c = loadCollection(p, spec);
    try {
      // "?syscall" (unguarded) is left out of a default load, as libbpf leaves it.
      assert.deepEqual([...c.programs.keys()], ["externs"]);
      // The object's BTF was accepted as rewritten (.kconfig/.ksyms DATASECs, the kfuncs'
      // dummy_ksym VAR): no fallback to a sanitized BTF or to none.
      assert.deepEqual(c.warnings, []);
      const bss = c.map(".bss");
      const size = spec.maps.find((m) => m.section === ".bss")!.valueSize;
      const init = new Uint8Array(size);
      const PID_IN = 48; // struct seen's pid_in
      new DataView(init.buffer).setInt32(PID_IN, process.pid, true);
      bss.update(new Uint8Array(4), init);
      assert.equal(progTestRun(p, c.program("externs").program.fd, null, "externs"), 0);
      const v = bss.lookup(new Uint8Array(4))!;
      const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);

      const release = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
      const [maj, min, pat] = release.split(/[.-]/).map(Number);
      const cfg = kernelConfig();
      const stext = /^([0-9a-f]+) \S+ _stext$/m.exec(readFileSync("/proc/kallsyms", "utf8"))!;
      assert.deepEqual(
        {
          version: dv.getUint32(0, true),
          cookie: v[4],
          wrapper: v[5],
          bpfSyscall: v[6],
          missing: v[7],
          debugInfoBtf: dv.getUint32(8, true),
          hz: dv.getInt32(12, true),
          nrCpus: dv.getBigUint64(16, true),
          localversion: new TextDecoder().decode(v.subarray(24, 32)).replace(/\0.*$/s, ""),
          stext: dv.getBigUint64(32, true),
          taskPid: dv.getInt32(40, true),
          missingKfunc: dv.getInt32(44, true),
        },
        {
          version: (maj << 16) + (min << 8) + Math.min(pat, 255),
          cookie: 1, // bpf_get_attach_cookie exists since 5.15
          // A syscall wrapper is found through a kprobe: no kprobes here, no wrapper found.
          wrapper: existsSync("/sys/bus/event_source/devices/kprobe") ? 1 : 0,
          bpfSyscall: cfg.get("CONFIG_BPF_SYSCALL") === "y" ? 1 : 0,
          missing: 0,
          debugInfoBtf: { y: 1, m: 2 }[cfg.get("CONFIG_DEBUG_INFO_BTF") ?? ""] ?? 0,
          hz: Number(cfg.get("CONFIG_HZ")),
          nrCpus: BigInt(cfg.get("CONFIG_NR_CPUS") ?? 0),
          localversion: JSON.parse(cfg.get("CONFIG_LOCALVERSION") ?? '""').slice(0, 7),
          stext: BigInt("0x" + stext[1]),
          taskPid: process.pid, // bpf_task_from_pid(our pid)->pid
          missingKfunc: 0, // bpf_ksym_exists() false: the poisoned call was dead code
        },
      );
    } finally {
      c.close();
    }
  },
);

test(
  "a strong kfunc the kernel lacks: refused naming program, instruction, symbol",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("strong-kfunc.bpf.o"), "strong-kfunc.bpf.o");
    assert.throws(
      () => loadCollection(p, spec),
      (e: unknown) =>
        e instanceof LoadError && e.errno === 22 &&
        /^program calls_missing \(section syscall\), instruction \d+: extern 'bpf_tracer_surely_not_a_kfunc' \(\.ksyms, strong\)/
          .test(e.message),
    );
  },
);

test(
  "a missing weak kfunc called without bpf_ksym_exists(): the error names it",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("externs.bpf.o"), "externs.bpf.o");
    assert.throws(
      () => loadCollection(p, spec, { programs: ["unguarded"] }),
      (e: unknown) =>
        e instanceof SysError && e.errno === 22 &&
        /instruction \d+ calls kfunc 'bpf_tracer_surely_not_a_kfunc', which this kernel lacks/
          .test(e.message),
    );
  },
);

test(
  "programs the loader cannot load are refused by name, before any load",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("externs.bpf.o"), "externs.bpf.o");
    const as = (section: string) => {
      const d = sectionDef(section);
      const prog = { ...spec.programs[0], section, attach: d.attach, progType: d.progType };
      return { ...spec, programs: [prog] };
    };
    assert.throws(
      () => loadCollection(p, as("struct_ops/dctcp_init")),
      (e: unknown) =>
        e instanceof LoadError && e.errno === 95 &&
        /^program externs \(section struct_ops\/dctcp_init\): struct_ops programs/.test(e.message),
    );
    assert.throws(
      () => loadCollection(p, as("my_section")),
      (e: unknown) =>
        e instanceof LoadError && e.errno === 22 &&
        /^program externs: section 'my_section' is not one libbpf knows/.test(e.message),
    );
  },
);
