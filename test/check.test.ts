// `tracer check` run as a subprocess, compared with the test's own attempts on this kernel.
// Nothing here knows this host's answers: each expectation comes from trying it directly.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { IN_CI, kernelTest } from "./env.ts";
import { kernelObjectFds } from "./loader-ids.ts";
import { runScript, runtimeArgv } from "./platform-run.ts";
import { kernelHasBpfLoop } from "./tracer-cli.ts";
import { getPlatform } from "../src/platform/index.ts";
import { asm, encode } from "../src/asm/insn.ts";
import * as op from "../src/asm/opcodes.ts";
import { kernelBtf } from "../src/btf/source.ts";
import { Kind } from "../src/btf/types.ts";
import { SysError } from "../src/errors.ts";
import { linkCreate, mapCreate, progLoad, rawTracepointOpen } from "../src/kernel/bpf.ts";
import { AttachType, Helper, MapType, ProgType } from "../src/kernel/constants.ts";
import { kprobeEvent, tracepointEvent } from "../src/kernel/perf.ts";
import { kprobePmu, tracepointId } from "../src/kernel/tracefs.ts";
import type { ProbeResult } from "../src/kernel/probes.ts";
import { type CheckReport, missingFor, runProbes } from "../src/kernel/readiness.ts";
import { formatCheckTable } from "../src/cli/check.ts";

const p = await getPlatform();
const RET0 = encode([asm.mov64Imm(0, 0), asm.exit()]);

let cached: { status: number | null; report: CheckReport } | undefined;
function checkJson() {
  if (!cached) {
    const r = runScript("src/main.ts", "check", "--json");
    assert.equal(r.stderr, "");
    cached = { status: r.status, report: JSON.parse(r.stdout) as CheckReport };
  }
  return cached;
}
function feature(name: string) {
  const f = checkJson().report.features.find((x) => x.feature === name);
  assert.ok(f, `check --json has no feature '${name}'`);
  return f;
}

/** Runs `body`, closing what it opened; true when no step failed. */
function works(body: (keep: <T extends { close(): void }>(x: T) => T) => void): boolean {
  const opened: { close(): void }[] = [];
  try {
    body((x) => {
      opened.push(x);
      return x;
    });
    return true;
  } catch (e) {
    if (e instanceof SysError) return false;
    throw e;
  } finally {
    for (const x of opened.reverse()) x.close();
  }
}

function btfId(name: string, kind: Kind): number | undefined {
  return kernelBtf().byName(name, kind)[0];
}

test(
  "check --json: one object, a list of {feature, available, detail}, exit status = ok",
  kernelTest(),
  () => {
    const { status, report } = checkJson();
    assert.equal(typeof report.ok, "boolean");
    assert.equal(status, report.ok ? 0 : 1);
    assert.ok(report.features.length >= 15);
    for (const f of report.features) {
      assert.equal(typeof f.feature, "string");
      assert.equal(typeof f.available, "boolean");
      assert.ok(f.detail.length > 0, `${f.feature}: empty detail`);
      if (f.errno !== undefined) assert.match(f.errno, /^E[A-Z0-9]+$/);
    }
    assert.equal(report.missing.length === 0, report.ok);
  },
);

test("check agrees: bpf(), privileges and kernel BTF", kernelTest(), () => {
  assert.equal(feature("kernel BTF").available, existsSync("/sys/kernel/btf/vmlinux"));
  const loaded = works((keep) => {
    keep(progLoad(p, { type: ProgType.SOCKET_FILTER, insns: RET0, license: "GPL", name: "t_chk" }));
  });
  assert.equal(feature("bpf() syscall").available, loaded);
  const id = p.identity();
  const root = id.euid === 0 && ((id.capEff >> 21n) & 1n) === 1n;
  if (root) assert.equal(feature("privileges").available, true);
});

test("check agrees: the open syscall tracepoints, as tracefs lists them", kernelTest(), () => {
  const exists = (sys: string) =>
    ["enter", "exit"].every((d) =>
      existsSync(`/sys/kernel/tracing/events/syscalls/sys_${d}_${sys}/id`)
    );
  const f = feature("open syscall tracepoints");
  assert.equal(f.available, exists("openat"), f.detail);
  for (const sys of ["open", "openat2"]) {
    assert.equal(
      f.detail.startsWith("openat") && new RegExp(`(^|, )${sys}(,|;|$)`).test(f.detail),
      exists(sys),
      `${sys}: ${f.detail}`,
    );
  }
});

test("check agrees: bpf_loop, as /proc/kallsyms lists it", kernelTest(), () => {
  const f = feature("bpf_loop");
  assert.equal(f.available, kernelHasBpfLoop(), f.detail);
});

test("check agrees: perf event arrays", kernelTest(), () => {
  const direct = works((keep) => {
    keep(mapCreate(p, {
      type: MapType.PERF_EVENT_ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 2,
      name: "t_chk_pea",
    }));
  });
  const f = feature("perf event arrays");
  assert.equal(f.available, direct, f.detail);
});

test("check agrees: ring buffer maps", kernelTest(), () => {
  const direct = works((keep) => {
    const rb = keep(
      mapCreate(p, {
        type: MapType.RINGBUF,
        keySize: 0,
        valueSize: 0,
        maxEntries: 4096,
        name: "t_chk_rb",
      }),
    );
    const insns = encode([
      asm.stMem(op.BPF_DW, 10, -8, 0),
      ...asm.ldImm64(1, BigInt(rb.fd), op.BPF_PSEUDO_MAP_FD),
      asm.mov64Reg(2, 10),
      asm.alu64Imm(op.BPF_ADD, 2, -8),
      asm.mov64Imm(3, 8),
      asm.mov64Imm(4, 0),
      asm.call(Helper.ringbuf_output),
      asm.mov64Imm(0, 0),
      asm.exit(),
    ]);
    keep(progLoad(p, { type: ProgType.TRACEPOINT, insns, license: "GPL", name: "t_chk_rbout" }));
  });
  assert.equal(feature("ring buffer maps").available, direct);
});

test("check agrees: tracepoints and perf event links", kernelTest(), () => {
  const id = tracepointId("syscalls", "sys_enter_getpid");
  const attach = (how: "ioctl" | "link") =>
    id !== null && works((keep) => {
      const prog = keep(
        progLoad(p, { type: ProgType.TRACEPOINT, insns: RET0, license: "GPL", name: "t_chk_tp" }),
      );
      const ev = keep(tracepointEvent(p, id, "syscalls/sys_enter_getpid"));
      if (how === "ioctl") {
        ev.setBpf(prog.fd);
        ev.enable();
      } else {
        keep(linkCreate(p, prog.fd, ev.fd, AttachType.PERF_EVENT));
      }
    });
  assert.equal(feature("tracepoints").available, attach("ioctl"));
  assert.equal(feature("perf event links").available, attach("link"));
});

test("check agrees: raw tracepoints and tp_btf", kernelTest(), () => {
  const raw = works((keep) => {
    const prog = keep(
      progLoad(p, {
        type: ProgType.RAW_TRACEPOINT,
        insns: RET0,
        license: "GPL",
        name: "t_chk_raw",
      }),
    );
    keep(rawTracepointOpen(p, "sched_switch", prog.fd));
  });
  assert.equal(feature("raw tracepoints").available, raw);
  const tid = btfId("btf_trace_sched_switch", Kind.TYPEDEF);
  const tpBtf = tid !== undefined && works((keep) => {
    const prog = keep(progLoad(p, {
      type: ProgType.TRACING,
      insns: RET0,
      license: "GPL",
      name: "t_chk_tpbtf",
      expectedAttachType: AttachType.TRACE_RAW_TP,
      attachBtfId: tid,
    }));
    keep(rawTracepointOpen(p, null, prog.fd));
  });
  assert.equal(feature("tp_btf").available, tpBtf);
});

test("check agrees: fentry and fexit (whatever this kernel says)", kernelTest(), () => {
  const fn = ["do_unlinkat", "vfs_read", "do_sys_openat2"].map((n) => btfId(n, Kind.FUNC))
    .find((x) => x !== undefined);
  for (
    const [name, type] of [["fentry", AttachType.TRACE_FENTRY], [
      "fexit",
      AttachType.TRACE_FEXIT,
    ]] as const
  ) {
    let errno: string | undefined;
    const direct = fn !== undefined && works((keep) => {
      try {
        const prog = keep(progLoad(p, {
          type: ProgType.TRACING,
          insns: RET0,
          license: "GPL",
          name: `t_chk_${name}`,
          expectedAttachType: type,
          attachBtfId: fn,
        }));
        keep(rawTracepointOpen(p, null, prog.fd));
      } catch (e) {
        if (e instanceof SysError) errno = e.errnoName;
        throw e;
      }
    });
    const f = feature(name);
    assert.equal(f.available, direct, `${name}: check says ${f.detail}`);
    assert.equal(f.errno, errno);
  }
});

test("check agrees: kprobes through the perf PMU and tracefs", kernelTest(), () => {
  // Asked directly: a kprobe program attached with the perf ioctl to a kprobe perf event on
  // vfs_read (the probe itself uses a BPF link).
  const pmu = kprobePmu();
  const direct = pmu !== null && works((keep) => {
    const prog = keep(
      progLoad(p, { type: ProgType.KPROBE, insns: RET0, license: "GPL", name: "t_chk_kp" }),
    );
    keep(kprobeEvent(p, pmu.type, "vfs_read")).setBpf(prog.fd);
  });
  const f = feature("kprobes (perf PMU)");
  assert.equal(f.available, direct, f.detail);
  if (direct) assert.match(f.detail, /^attached to \S+ \(PMU type \d+\)$/);
  const tracefs = existsSync("/sys/kernel/tracing/kprobe_events") ||
    existsSync("/sys/kernel/debug/tracing/kprobe_events");
  assert.equal(feature("kprobes (tracefs)").available, tracefs);
});

test("check agrees: BPF LSM load", kernelTest(), () => {
  const fn = btfId("bpf_lsm_file_open", Kind.FUNC);
  let errno: string | undefined;
  const direct = fn !== undefined && works((keep) => {
    try {
      keep(progLoad(p, {
        type: ProgType.LSM,
        insns: RET0,
        license: "GPL",
        name: "t_chk_lsm",
        expectedAttachType: AttachType.LSM_MAC,
        attachBtfId: fn,
      }));
    } catch (e) {
      if (e instanceof SysError) errno = e.errnoName;
      throw e;
    }
  });
  const f = feature("BPF LSM");
  if (!direct) {
    assert.equal(f.available, false);
    assert.equal(f.errno, errno);
  } else {
    // Loaded: it runs only if "bpf" is an active LSM (check mounts securityfs to read the list).
    let lsms: string[] | null = null;
    try {
      lsms = readFileSync("/sys/kernel/security/lsm", "utf8").trim().split(",");
    } catch { /* unknown */ }
    assert.equal(f.available, lsms === null || lsms.includes("bpf"), f.detail);
  }
});

test("check table: one aligned line per feature, then the verdict", kernelTest(), () => {
  const r = runScript("src/main.ts", "check");
  const { report } = checkJson();
  assert.equal(r.status, report.ok ? 0 : 1);
  const lines = r.stdout.split("\n");
  assert.match(lines[0], /^kernel \S+ \((deno|bun)\)$/);
  const rows = lines.slice(1, 1 + report.features.length);
  const col = rows[0].search(/ (yes|no ) /);
  for (const [i, f] of report.features.entries()) {
    assert.ok(rows[i].startsWith(f.feature), rows[i]);
    assert.equal(rows[i].slice(col + 1, col + 4), f.available ? "yes" : "no ", rows[i]);
  }
  assert.match(r.stdout, report.ok ? /\nok: this host can run/ : /\nnot ready: the tracers need:/);
});

test("check rejects unknown options with exit status 2", () => {
  const r = runScript("src/main.ts", "check", "--bogus");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^tracer check: .*bogus/);
  assert.equal(runScript("src/main.ts", "check", "--help").status, 0);
});

test("verdict: what the tracers need, and what to do when it is missing", () => {
  const f = (feature: string, available: boolean): ProbeResult => ({
    feature,
    available,
    detail: "x",
  });
  const all = [
    "privileges",
    "kernel BTF",
    "bpf() syscall",
    "ring buffer maps",
    "perf event arrays",
    "tracepoints",
  ];
  assert.deepEqual(missingFor(all.map((n) => f(n, true))), []);
  // A perf event array alone is enough transport; fentry/kprobes are never required.
  assert.deepEqual(
    missingFor([
      ...all.map((n) => f(n, n !== "ring buffer maps")),
      f("fentry", false),
      f("kprobes (perf PMU)", false),
    ]),
    [],
  );
  const none = missingFor(all.map((n) => f(n, false)));
  assert.equal(none.length, 3);
  assert.match(none[0], /^privileges: run as root \(sudo\) or with CAP_BPF\+CAP_PERFMON$/);
  assert.match(none[1], /^kernel BTF: /);
  assert.match(none[2], /^bpf\(\): /);
  const noTp = missingFor(all.map((n) => f(n, n !== "tracepoints")));
  assert.equal(noTp.length, 1);
  assert.match(noTp[0], /mount -t tracefs tracefs \/sys\/kernel\/tracing/);
  const table = formatCheckTable({
    ok: false,
    kernel: "9.9.9",
    runtime: "bun",
    features: [f("privileges", false), f("tracepoints", true)],
    missing: ["privileges: run as root"],
  });
  assert.equal(
    table,
    "kernel 9.9.9 (bun)\nprivileges   no   x\ntracepoints  yes  x\n\nnot ready: the tracers need:\n  - privileges: run as root\n",
  );
});

test(
  "check as an unprivileged user (setpriv to nobody): not ready, exit 1, says what to do",
  kernelTest(),
  () => {
    // Only root can drop to another user here; under CI that is a failure, not a pass.
    if (process.getuid!() !== 0) {
      assert.ok(!IN_CI, "this test needs root to setpriv to nobody");
      return;
    }
    const dir = `/tmp/tracer-check-nobody-${process.pid}`;
    const [cmd, ...args] = runtimeArgv("src/main.ts", "check", "--json");
    const r = spawnSync(
      "setpriv",
      ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", cmd, ...args],
      { encoding: "utf8", env: { ...process.env, HOME: "/tmp", DENO_DIR: dir } },
    );
    spawnSync("rm", ["-rf", dir]);
    assert.equal(r.status, 1, r.stderr);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.equal(report.ok, false);
    const priv = report.features.find((x) => x.feature === "privileges")!;
    assert.equal(priv.available, false);
    assert.match(priv.detail, /^euid 65534 without CAP_BPF\+CAP_PERFMON/);
    assert.match(report.missing[0], /^privileges: run as root/);
    if (readFileSync("/proc/sys/kernel/unprivileged_bpf_disabled", "utf8").trim() !== "0") {
      const bpf = report.features.find((x) => x.feature === "bpf() syscall")!;
      assert.equal(bpf.available, false);
      assert.equal(bpf.errno, "EPERM");
      assert.match(bpf.detail, /needs root or CAP_BPF\+CAP_PERFMON/);
    }
  },
);

test(
  "the probes leave nothing behind: same fds and no bpf mappings after runProbes",
  kernelTest(),
  () => {
    const fds = () => kernelObjectFds().join(",");
    const bpfMaps = () =>
      readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => /bpf/.test(l)).length;
    const before = fds();
    const mapsBefore = bpfMaps();
    const report = runProbes(p);
    assert.equal(report.features.length, 16);
    assert.equal(fds(), before);
    assert.equal(bpfMaps(), mapsBefore);
  },
);
