// The compiled tracer on other kernels, under qemu (scripts/vmtest.sh): Debian 11's 5.10
// generic and cloud kernels (no bpf_loop: the bounded-loop programs), Debian 12's 6.1 generic,
// 6.1 PREEMPT_RT and 6.12 kernels, whose task_struct layouts differ from each other and from
// the host's, and which (unlike this host) have kprobes and fentry. Each kernel's rows of the
// matrix (section, pass/fail, how it attached, buffer, fallbacks) are printed on stdout: the
// README's "Supported kernels" table. Every guest also loads each program of 12 libbpf-tools
// objects alone with libbpf (a static harness) and with `tracer run --load-only` (section
// runparity): the same outcome per program, totals per kernel printed. Run by scripts/test.sh as
//   deno test -A test/vm/kernels.vmtest.ts
// Needs root (qemu, apt-get download on first use); fails under CI=true when it cannot run.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { kernelTest } from "../env.ts";
import { expectedOpenRecords, steps } from "../open-workload.ts";
import { readFileSync } from "node:fs";
import { targetExecutable } from "../../scripts/bun-targets.ts";
import { errnoName } from "../../src/errors.ts";

/** Debian's kernel packages under test, as package-name patterns (newest match wins). */
const KERNELS = {
  "5.10": "^linux-image-5\\.10\\.0-[0-9]+-amd64-unsigned$",
  "5.10-cloud": "^linux-image-5\\.10\\.0-[0-9]+-cloud-amd64-unsigned$",
  "6.1": "^linux-image-6\\.1\\.0-[0-9]+-amd64-unsigned$",
  "6.1-rt": "^linux-image-6\\.1\\.0-[0-9]+-rt-amd64-unsigned$",
  "6.12": "^linux-image-6\\.12\\.[0-9]+\\+deb12-amd64-unsigned$",
};
type KernelName = keyof typeof KERNELS;

/** The newest package of this kernel that downloads, fetched (scripts/fetch-kernels.sh). */
const newestKernels = new Map<KernelName, string>();
function newestKernel(kernel: KernelName): string {
  const known = newestKernels.get(kernel);
  if (known) return known;
  const r = spawnSync("bash", ["scripts/fetch-kernels.sh", "--newest", KERNELS[kernel]], {
    encoding: "utf8",
  });
  const name = r.stdout.trim();
  assert.ok(name, `no Debian ${kernel} kernel package: ${r.stderr}`);
  newestKernels.set(kernel, name);
  return name;
}

/** The guest did not boot or did not finish: the one failure a retry may absorb. */
class GuestRunError extends Error {}

type Sections = Map<string, { out: string; exit: number }>;

/**
 * Guests run two at a time: a guest under software emulation keeps about one of the host's
 * cores busy (its programs are mostly single-threaded), so two halve the qemu part of CI.
 */
const MAX_GUESTS = 2;
let guestsRunning = 0;
/** Runs waiting for slots, first come first served. */
const guestsWaiting: { slots: number; go: () => void }[] = [];

function startWaitingGuests(): void {
  while (guestsWaiting.length && guestsRunning + guestsWaiting[0].slots <= MAX_GUESTS) {
    const next = guestsWaiting.shift()!;
    guestsRunning += next.slots;
    next.go();
  }
}

/**
 * Runs `run` once `slots` of the MAX_GUESTS are free, in the order asked. The PREEMPT_RT guest
 * takes both: beside another guest its kernel once stalled in `tracer check` for the whole 600 s.
 */
async function inGuestSlot<T>(slots: number, run: () => Promise<T>): Promise<T> {
  await new Promise<void>((go) => {
    guestsWaiting.push({ slots, go });
    startWaitingGuests();
  });
  try {
    return await run();
  } finally {
    guestsRunning -= slots;
    startWaitingGuests();
  }
}

/** scripts/vmtest.sh's status and output. */
function vmtest(
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn("bash", ["scripts/vmtest.sh", ...args, "test/vm/guest.sh"]);
    let stdout = "", stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => stdout += d);
    child.stderr.setEncoding("utf8").on("data", (d: string) => stderr += d);
    child.on("error", fail);
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}

/** Guest runs started, by their vmtest.sh arguments: each test awaits its own. */
const guestRuns = new Map<string, Promise<Sections>>();

/**
 * Boots the kernel with test/vm/guest.sh; resolves to each section's output and exit status.
 * `args`: more scripts/vmtest.sh options (--arch, --cpu, --sections ...). A run already started
 * for the same arguments (by startGuests) is shared, unless `again` (a retry).
 */
function runGuest(pkg: string, args: string[] = [], again = false): Promise<Sections> {
  const key = JSON.stringify([pkg, args]);
  const started = guestRuns.get(key);
  if (started && !again) return started;
  const slots = pkg.includes("-rt-") ? MAX_GUESTS : 1;
  const run = inGuestSlot(slots, () => vmtest(["--kernel", pkg, ...args])).then((r) => {
    if (r.status !== 0) {
      // vmtest.sh's own words (e.g. "the guest did not finish") first: logs show the head.
      throw new GuestRunError(`vmtest on ${pkg} failed: ${r.stderr}\n${r.stdout}`);
    }
    const sections: Sections = new Map();
    for (const m of r.stdout.matchAll(/^=== (\w+)\n([\s\S]*?)^=== \1 exit=(\d+)$/gm)) {
      sections.set(m[1], { out: m[2], exit: Number(m[3]) });
    }
    return sections;
  });
  run.catch(() => {}); // awaited by its test; not an unhandled rejection meanwhile
  guestRuns.set(key, run);
  return run;
}

interface Feature {
  feature: string;
  available: boolean;
  detail: string;
}

/** One row of the kernel matrix: a guest section, how it attached, and whether it passed. */
interface MatrixRow {
  kernel: string;
  section: string;
  pass: boolean;
  attach: string;
  buffer: string;
  fallbacks: string[];
}

/** Every row of every kernel checked in this run, printed by the last test. */
const matrix: MatrixRow[] = [];

/** How a section's tracer attached and sent its events, from its ready, -v and warning lines. */
function howItRan(out: string): Pick<MatrixRow, "attach" | "buffer" | "fallbacks"> {
  const ready = out.match(
    /^tracer: tracing \w+ \((\d+) programs attached(?:, (\w+) strategy)?(, perf buffer)?\)/m,
  );
  const kinds = [...new Set([...out.matchAll(/^tracer: attached (\S+) /gm)].map((m) => m[1]))];
  const fallbacks = [
    ...[...out.matchAll(/^tracer: (\S+ (?:hooks|strategy)) refused .*; using (\S+ \S+)$/gm)]
      .map((m) => `${m[1]} refused, ${m[2]}`),
    ...[...out.matchAll(/^tracer: fallback: (.*)$/gm)].map((m) => m[1]),
  ];
  return {
    attach: ready?.[2] ? `${ready[2]} strategy` : kinds.length ? kinds.sort().join("+") : "-",
    buffer: !ready ? "-" : ready[3] ? "perf buffer" : "ring buffer",
    fallbacks,
  };
}

/**
 * What a kernel's guest runs besides every tracer: `links`, the fentry/fexit/kprobe/kretprobe
 * link tests (test/link-vmtest-guest.ts); `baseline`, qemu's Nehalem CPU (no AVX2) with the
 * regular build beside the baseline one, and exec without CO-RE (which must fail).
 */
interface GuestExtras {
  links?: boolean;
  baseline?: boolean;
  /**
   * Without the loader-parity section (runparity): the PREEMPT_RT guest, the slowest under
   * emulation, ran past its 600 s with it (twice in one CI run); its loads are 6.1's.
   */
  noParity?: boolean;
  /**
   * All vCPUs on one host thread (vmtest.sh --tcg-single): 6.12 oopsed twice in four CI runs on
   * an int3 its text patching had already removed, with a thread per vCPU (passed on the retry).
   */
  tcgSingle?: boolean;
}

/** The kernel's package and the vmtest.sh options its guest runs with. */
function kernelGuest(kernel: KernelName, extras: GuestExtras): [string, string[]] {
  const sections = [
    "all",
    ...extras.noParity ? [] : ["runparity"],
    ...extras.links ? ["links"] : [],
  ];
  const args = [
    ...extras.noParity ? [] : ["--parity"],
    ...extras.links ? ["--links"] : [],
    ...extras.tcgSingle ? ["--tcg-single"] : [],
  ];
  if (extras.baseline) {
    sections.push("exec_nocore", "regular", "avx2");
    args.push("--cpu", "Nehalem", "--with-regular");
  }
  return [newestKernel(kernel), [...args, "--sections", sections.join(" ")]];
}

/**
 * The guest's kernel messages at warning level or worse: a kernel WARN, BUG or oops while the
 * tracers loaded and ran fails the run (other warning-level messages, such as the trace clock
 * notice, are shown with failures only). Returns `why`: a section's output with those messages.
 */
function kernelWarnings(s: Sections): (section: { out: string }) => string {
  const warnings = s.get("dmesg")?.out ?? "(no dmesg section)\n";
  assert.doesNotMatch(
    warnings,
    /WARNING:|BUG:|Oops|general protection fault|Internal error/,
    warnings,
  );
  return (section) => `${section.out}--- kernel warnings:\n${warnings}`;
}

/**
 * The guest's `tracer check --json` report, which must say ok on a kernel named as `kernel`
 * says; returns its features by name.
 */
function checkReport(
  check: { out: string; exit: number },
  kernel: RegExp,
  why: (s: { out: string }) => string,
): Map<string, Feature> {
  assert.equal(check.exit, 0, why(check));
  const report = JSON.parse(check.out.trim().split("\n").find((l) => l.startsWith("{"))!);
  assert.equal(report.ok, true);
  assert.match(report.kernel, kernel);
  return new Map((report.features as Feature[]).map((f) => [f.feature, f]));
}

/** Each of these features is available in the check report. */
function assertAvailable(features: Map<string, Feature>, names: string[], pkg: string): void {
  for (const f of names) {
    assert.equal(features.get(f)?.available, true, `${pkg}: ${f} should be available`);
  }
}

async function checkKernel(kernel: KernelName, extras: GuestExtras = {}, again = false) {
  const [pkg, args] = kernelGuest(kernel, extras);
  const s = await runGuest(pkg, args, again);
  const why = kernelWarnings(s);
  const jsonLines = (section: { out: string }) => jsonRecords(section, why);
  const sectionOf = (name: string) => {
    const section = s.get(name);
    assert.ok(section, `no ${name} section in the guest output`);
    return section;
  };
  // Each part checks one section; a failure is recorded (the matrix shows every section) and
  // the kernel's test fails at the end with all of them.
  const failures: string[] = [];
  const part = (name: string, check: (section: { out: string; exit: number }) => void) => {
    let pass = true;
    try {
      check(sectionOf(name));
    } catch (e) {
      pass = false;
      failures.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    matrix.push({ kernel, section: name, pass, ...howItRan(s.get(name)?.out ?? "") });
  };

  // tracer check: Debian's kernels are built with kprobes, ftrace trampolines and BTF. bpf_loop
  // (5.17+) is asked of the guest's kallsyms, which the tracer does not read.
  const features = checkReport(
    sectionOf("check"),
    /^6\.1\.0-\d+-(rt-)?amd64$|^6\.12\.\d+\+deb12-amd64$|^5\.10\.0-\d+-(cloud-)?amd64$/,
    why,
  );
  const available = (f: string) => features.get(f)?.available;
  const bpfLoop = Number(sectionOf("kallsyms").out.trim()) > 0;
  part("check", () => {
    assertAvailable(features, [
      "kernel BTF",
      "bpf() syscall",
      "ring buffer maps",
      "tracepoints",
      "raw tracepoints",
      "tp_btf",
      "fentry",
      "fexit",
      "kprobes (perf PMU)",
      "kprobes (tracefs)",
    ], pkg);
    assert.equal(available("bpf_loop"), bpfLoop, `${pkg}: bpf_loop, kallsyms says ${bpfLoop}`);
  });
  // The hooks: tp_btf where check found it works, the tracepoint fallback otherwise.
  const hooks = (section: { out: string }) =>
    [...section.out.matchAll(/^tracer: attached (\S+) (\S+)$/gm)]
      .filter((m) => m[2].startsWith("sched"))
      .map((m) => `${m[1]} ${m[2]}`).sort();
  // Kernels without bpf_loop read a failed exec's argv, and walk -F's path, in a bounded loop.
  const loopFallback = (section: { out: string }, what: RegExp) =>
    assert.equal(
      new RegExp(`^tracer: fallback: ${what.source}`, "m").test(section.out),
      !bpfLoop,
      `bounded loop fallback iff no bpf_loop (${bpfLoop})\n${why(section)}`,
    );

  // tracer exec -x --json -- sh -c '...': exactly the three execs, with exact fields.
  part("exec", (exec) => {
    const events = checkExecRecords(
      exec,
      jsonLines(exec),
      why(exec),
      guestCgroup(s.get("cgroups")).ino,
    );
    assert.deepEqual(
      hooks(exec),
      available("tp_btf")
        ? ["tp_btf sched_process_exec", "tp_btf sched_process_exit", "tp_btf sched_process_fork"]
        : [
          "raw_tp sched_process_exit",
          "raw_tp sched_process_fork",
          "tracepoint sched/sched_process_exec",
        ],
      why(exec),
    );
    assert.doesNotMatch(exec.out, / hooks refused /, why(exec));
    // The guest's first tracer start relocates against its kernel's BTF and fills the cache.
    assert.match(
      exec.out,
      /^tracer: CO-RE: \d+ relocations against the kernel's BTF, saved to \/run\/tracer\/exec-[0-9a-f]{32}\.json$/m,
      why(exec),
    );
    loopFallback(exec, /failed execs' argv read in a bounded loop/);
    for (const e of events) {
      assert.equal(e.args_truncated, false);
      assert.ok(e.time_ns > 0 && e.mntns_id > 0 && e.cgroup_id > 0, JSON.stringify(e));
    }
  });

  // The same with plain tracepoint + raw_tp hooks (for kernels without tp_btf).
  part("exec_tp", (tp) => {
    assert.equal(tp.exit, 0, why(tp));
    assert.deepEqual(
      hooks(tp),
      [
        "raw_tp sched_process_exit",
        "raw_tp sched_process_fork",
        "tracepoint sched/sched_process_exec",
      ],
      why(tp),
    );
    assert.deepEqual(
      jsonLines(tp).map((e) => [e.comm, e.filename, e.args, e.ret, e.pcomm]),
      [["true", "/bin/true", ["/bin/true", "x"], 0, "tracer"]],
    );
  });

  // tracer connect: chosen automatically (fentry: these kernels have BPF trampolines), and
  // each strategy forced; the same exact records every time. check names the same strategy.
  part("connect_auto", (section) => {
    const connectFeature = features.get("tracer connect");
    assert.match(connectFeature?.detail ?? "", /^fentry strategy$/, JSON.stringify(connectFeature));
    checkConnect(section, "connect_auto", "fentry", why);
  });
  for (const strategy of ["fentry", "kprobe", "tracepoint"]) {
    part(`connect_${strategy}`, (section) => {
      checkConnect(section, `connect_${strategy}`, strategy, why);
    });
  }

  // The perf buffer (the pre-5.8 fallback), forced: the same events, failed exec included.
  part("exec_perf", (perf) => {
    assert.equal(perf.exit, 127, why(perf));
    assert.match(perf.out, /^tracer: tracing exec \(\d+ programs attached, perf buffer\)/m);
    // A later start on that boot: CO-RE from the cache, and still the exact records.
    assert.match(
      perf.out,
      /^tracer: CO-RE: from the cache \/run\/tracer\/exec-[0-9a-f]{32}\.json$/m,
      why(perf),
    );
    loopFallback(perf, /failed execs' argv read in a bounded loop/);
    assert.deepEqual(
      byTimeWithPerf(perf, jsonLines(perf)).map((e) => [e.comm, e.filename, e.args, e.ret]),
      [
        ["sh", "/bin/sh", ["/bin/sh", "-c", "/bin/true perf; /nonexistent/y"], 0],
        ["true", "/bin/true", ["/bin/true", "perf"], 0],
        ["sh", "/nonexistent/y", ["/nonexistent/y"], -2],
      ],
    );
  });

  // Kernel BTF hidden: without --btf one clear error; with --btf FILE exact records.
  part("exec_nobtf", (nobtf) => {
    assert.equal(nobtf.exit, 1, why(nobtf));
    assert.match(
      nobtf.out,
      /^tracer exec: this kernel has no BTF at \/sys\/kernel\/btf\/vmlinux: give one with --btf FILE/m,
    );
  });
  part("exec_btf", (withBtf) => {
    assert.equal(withBtf.exit, 0, why(withBtf));
    assert.deepEqual(
      jsonLines(withBtf).map((e) => [e.comm, e.filename, e.args, e.ret, e.pcomm]),
      [["true", "/bin/true", ["/bin/true", "btf"], 0, "tracer"]],
      why(withBtf),
    );
  });

  // tracer open -- WORKLOAD: every open exactly, with -F (full paths against the guest's
  // readlink), and through the perf buffer with raw_tp fork following.
  for (
    const [name, full, ready] of [
      ["open", true, /^tracer: tracing open \(\d+ programs attached\), running/m],
      ["open_perf", false, /^tracer: tracing open \(\d+ programs attached, perf buffer\)/m],
    ] as const
  ) {
    part(name, (section) => {
      assert.doesNotMatch(section.out, / hooks refused /, why(section));
      if (full) loopFallback(section, /-F walks the path in a bounded loop/);
      checkOpen(section, name, full, ready, true, why);
    });
  }
  // fentry, fexit, kprobe/kretprobe (PMU and kprobe_events) attach and fire.
  if (extras.links) {
    part("links", (links) => {
      assert.equal(links.exit, 0, why(links));
      assert.doesNotMatch(links.out, /^FAIL/m, why(links));
    });
  }
  // Loader parity: each program of the listed libbpf-tools objects loaded alone by libbpf and
  // by `tracer run --load-only`, the same outcome (loaded, or the same errno) on this kernel.
  if (!extras.noParity) {
    part("runparity", (section) => {
      assert.equal(section.exit, 0, why(section));
      parity.push({ kernel, ...checkParity(section.out, why(section)) });
    });
  }
  if (extras.baseline) {
    // The guest's CPU has no AVX2 (grep -c finds no line: prints 0, exits 1).
    part("avx2", (avx2) => assert.deepEqual([avx2.out.trim(), avx2.exit], ["0", 1], why(avx2)));
    part("exec_nocore", () => checkNoCore(s, why));
    part("regular", (regular) => checkRegular(regular, why));
  }
  printMatrix(matrix.filter((r) => r.kernel === kernel));
  printParity(parity.filter((r) => r.kernel === kernel));
  assert.deepEqual(failures, [], `${pkg}:\n${failures.join("\n\n")}`);
}

/** A kernel's loader-parity totals (the guest's runparity section). */
interface ParityRow {
  kernel: string;
  objects: number;
  programs: number;
  libbpf: number;
  tracer: number;
  /** Seconds of guest time: libbpf's loads, the tracer's (start-up included). */
  seconds: { libbpf: number; tracer: number };
}

/** Every kernel's parity totals in this run. */
const parity: ParityRow[] = [];

/**
 * The runparity section (test/vm/guest.sh parity): for each object, the harness's
 * "HARNESS: prog NAME errno N" lines and `tracer run --load-only`'s "NAME loaded ..." /
 * "NAME FAILED ERRNO ..." lines name the same programs in the same order with the same outcome,
 * the tracer's status is 0 exactly when every program loaded, and every listed object is there.
 */
function checkParity(out: string, why: string): Omit<ParityRow, "kernel"> {
  const listed = Number(/^objects (\d+)$/m.exec(out)?.[1]);
  assert.ok(listed > 0, `no object list in the guest\n${why}`);
  const row = { objects: 0, programs: 0, libbpf: 0, tracer: 0, seconds: { libbpf: 0, tracer: 0 } };
  const problems: string[] = [];
  const blocks = out.matchAll(
    /^--- (\S+)\n([\s\S]*?)^--- \1 exit=(\d+) uptime ([\d.]+) ([\d.]+) ([\d.]+)$/gm,
  );
  for (const [, object, body, exit, t0, t1, t2] of blocks) {
    row.objects++;
    row.seconds.libbpf += Number(t1) - Number(t0);
    row.seconds.tracer += Number(t2) - Number(t1);
    const lib: [string, string][] = [];
    const ours: [string, string][] = [];
    for (const l of body.split("\n")) {
      let m: RegExpExecArray | null;
      if ((m = /^HARNESS: prog (\S+) errno (\d+)$/.exec(l))) {
        lib.push([m[1], m[2] === "0" ? "loaded" : errnoName(Number(m[2])).replace(" ", "")]);
      } else if (l.startsWith("HARNESS: prog") || /^HARNESS: (open|bad)/.test(l)) {
        problems.push(`${object}: harness: ${l}`);
      } else if ((m = /^(\S+)\s+(?:(loaded)|FAILED\s+(\S+))\s/.exec(l))) {
        ours.push([m[1], m[2] ?? m[3]]);
      }
    }
    assert.ok(lib.length > 0, `${object}: libbpf loaded no program\n${why}`);
    assert.deepEqual(ours.map((p) => p[0]), lib.map((p) => p[0]), `${object}: programs\n${why}`);
    lib.forEach(([name, want], i) => {
      if (ours[i][1] !== want) {
        problems.push(`${object} ${name}: libbpf ${want}, tracer ${ours[i][1]}`);
      }
    });
    const loaded = (x: [string, string][]) => x.filter((p) => p[1] === "loaded").length;
    assert.equal(Number(exit), loaded(ours) === ours.length ? 0 : 1, `${object}: exit\n${why}`);
    row.programs += lib.length;
    row.libbpf += loaded(lib);
    row.tracer += loaded(ours);
  }
  assert.equal(row.objects, listed, `objects in the guest's output\n${why}`);
  assert.deepEqual(problems, [], `outcomes differ from libbpf:\n${problems.join("\n")}`);
  return row;
}

/** The parity totals per kernel, aligned, on stdout. */
function printParity(rows: ParityRow[]): void {
  const head = [
    "kernel",
    "objects",
    "programs",
    "loaded by libbpf",
    "by tracer",
    "guest s (libbpf/tracer)",
  ];
  const cells = rows.map((r) => [
    r.kernel,
    String(r.objects),
    String(r.programs),
    String(r.libbpf),
    String(r.tracer),
    `${r.seconds.libbpf.toFixed(1)} / ${r.seconds.tracer.toFixed(1)}`,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(width[i])).join("  ").trimEnd();
  console.log(
    ["vmtest loader parity (tracer run --load-only vs libbpf):", line(head), ...cells.map(line)]
      .join("\n"),
  );
}

/** The matrix rows as an aligned table on stdout (the README's "Supported kernels" table). */
function printMatrix(rows: MatrixRow[]): void {
  const cells = rows.map((r) => [
    r.kernel,
    r.section,
    r.pass ? "pass" : "FAIL",
    r.attach,
    r.buffer,
    r.fallbacks.join("; ") || "-",
  ]);
  const head = ["kernel", "section", "result", "attach", "buffer", "fallbacks"];
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(width[i])).join("  ").trimEnd();
  console.log(["vmtest matrix:", line(head), ...cells.map(line)].join("\n"));
}

/**
 * The container the guest runs its sections in (test/vm/guest.sh: a cgroup named as Docker's
 * cgroupfs driver names a container's, in the v1 memory or pids hierarchy beside cgroup v2).
 */
const GUEST_CONTAINER = "0123456789abcdef".repeat(4);

/**
 * The JSON lines of a guest section's output. Every exec, open and connect record carries the
 * guest's container context (checked here, then left out: the callers check the rest).
 */
// deno-lint-ignore no-explicit-any
function jsonRecords(section: { out: string }, why: (s: { out: string }) => string): any[] {
  return section.out.split("\n").filter((l) => l.startsWith("{")).map((l) => {
    let rec;
    try {
      rec = JSON.parse(l);
    } catch (e) {
      throw new Error(`${(e as Error).message} in line ${l}\n${why(section)}`);
    }
    if (rec.type === "lost") return rec;
    const { cgroup, container_id, pod_uid, ...rest } = rec;
    assert.deepEqual(
      { cgroup, container_id, pod_uid },
      { cgroup: `/docker/${GUEST_CONTAINER}`, container_id: GUEST_CONTAINER, pod_uid: null },
      `${l}\n${why(section)}`,
    );
    return rest;
  });
}

/**
 * A perf-buffer section's records in time order. The tracer merges the CPUs' buffers in time
 * order within a 20 ms window; under software emulation on a loaded host a guest vCPU can be
 * descheduled between stamping a record and committing it for longer than that (seen: a record
 * of 5.10's open_perf printed 170 ms late), so these records are compared by their stamps.
 */
// deno-lint-ignore no-explicit-any
function byTimeWithPerf(section: { out: string }, records: any[]): any[] {
  if (!/perf buffer\)/.test(section.out)) return records;
  return records.slice().sort((a, b) => a.time_ns - b.time_ns);
}

/**
 * The guest's "cgroups" section: the v1 controller whose hierarchy the container cgroup is in,
 * and that cgroup's directory inode (every record's cgroup_id).
 */
function guestCgroup(section: { out: string } | undefined): { controller: string; ino: number } {
  const m = /^controller (\w+) ino (\d+)$/m.exec(section?.out ?? "");
  assert.ok(m, `no cgroup set up in the guest: ${section?.out}`);
  return { controller: m[1], ino: Number(m[2]) };
}

/**
 * An open section of the guest (test/vm/guest.sh open, open_perf): every open of the workload
 * exactly (`full`: with -F), `x86`: the x86-64 open() step and flag values, else arm64's.
 */
function checkOpen(
  section: { out: string; exit: number } | undefined,
  name: string,
  full: boolean,
  ready: RegExp,
  x86: boolean,
  why: (s: { out: string }) => string,
) {
  assert.ok(section, `no ${name} section in the guest output`);
  assert.equal(section.exit, 7, why(section));
  assert.match(section.out, ready, why(section));
  const records = byTimeWithPerf(section, jsonRecords(section, why));
  for (const e of records) assert.ok(e.cgroup_id > 0 && e.mntns_id > 0, JSON.stringify(e));
  assert.deepEqual(
    records.map(({ time: _t, time_ns: _n, cgroup_id: _c, mntns_id: _m, ...rest }) => rest),
    expectedOpenRecords(steps(section.out), "/tmp/owd", full, x86),
    why(section),
  );
}

/**
 * The exec section of the guest (test/vm/guest.sh exec): `sh -c '/bin/true hello "a b";
 * /nonexistent/x arg; exit 3'` under `tracer exec -x --json` gives exactly its three execs, with
 * exact fields. Returns the records.
 */
function checkExecRecords(
  exec: { exit: number },
  // deno-lint-ignore no-explicit-any
  events: any[],
  why: string,
  cgroupIno: number,
  // deno-lint-ignore no-explicit-any
): any[] {
  assert.equal(exec.exit, 3, why);
  assert.equal(events.length, 3, why);
  for (const e of events) assert.equal(e.cgroup_id, cgroupIno, why);
  const [sh, tru, fail] = events;
  // Ancestors from the kernel: the parent first, up to init.
  assert.deepEqual(sh.ancestors[0], { pid: sh.ppid, comm: "tracer" }, why);
  assert.deepEqual(tru.ancestors, [{ pid: sh.pid, comm: "sh" }, ...sh.ancestors], why);
  assert.deepEqual(fail.ancestors, tru.ancestors, why);
  assert.equal(sh.ancestors.at(-1).pid, 1, why);
  assert.deepEqual(
    [sh.type, sh.comm, sh.filename, sh.args, sh.ret, sh.error, sh.pcomm],
    [
      "exec",
      "sh",
      "/bin/sh",
      ["/bin/sh", "-c", `/bin/true hello "a b"; /nonexistent/x arg; exit 3`],
      0,
      null,
      "tracer",
    ],
  );
  assert.equal(sh.pid, sh.tid);
  assert.deepEqual(
    [tru.comm, tru.filename, tru.args, tru.ret, tru.error, tru.ppid, tru.pcomm, tru.uid],
    ["true", "/bin/true", ["/bin/true", "hello", "a b"], 0, null, sh.pid, "sh", 0],
  );
  assert.deepEqual(
    [fail.filename, fail.args, fail.ret, fail.error, fail.ppid, fail.comm],
    ["/nonexistent/x", ["/nonexistent/x", "arg"], -2, "ENOENT", sh.pid, "sh"],
  );
  return events;
}

/**
 * A connect section of the guest (test/vm/guest.sh conn): the tracer's JSON records must be
 * exactly the workload's connects (its "M " manifest lines), attached with `strategy` after
 * the automatic choice refused `refused` (in order; none by default).
 */
function checkConnect(
  section: { out: string; exit: number } | undefined,
  name: string,
  strategy: string,
  why: (s: { out: string }) => string,
  refused: string[] = [],
) {
  assert.ok(section, `no ${name} section in the guest output`);
  assert.equal(section.exit, 0, why(section));
  assert.match(
    section.out,
    new RegExp(`^tracer: tracing connect \\(\\d+ programs attached, ${strategy} strategy\\)`, "m"),
    why(section),
  );
  // The strategies refused before `strategy` (automatic choice), in order.
  assert.deepEqual(
    [...section.out.matchAll(/^tracer: (\S+) strategy refused /gm)].map((m) => m[1]),
    refused,
    why(section),
  );
  const lines = section.out.split("\n");
  const steps = lines.filter((l) => l.startsWith("M ")).map((l) => l.slice(2).split(" "));
  assert.deepEqual(steps.map((m) => [m[0], m[4]]), [
    ["v4-ok", "ok"],
    ["v6-ok", "ok"],
    ["v4-refused", "ECONNREFUSED"],
    ["v4-mapped", "ok"],
    ["nonblocking", "ok"],
    ["reuse-first", "ok"],
    ["reuse-taken", "EADDRNOTAVAIL"],
    ["no-route", "ENETUNREACH"],
  ], why(section));
  const records = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  const lo = "127.0.0.1", mapped = "::ffff:127.0.0.1";
  const addrs: Record<string, [number, string, string]> = {
    "v4-ok": [4, lo, lo],
    "v6-ok": [6, "::1", "::1"],
    "v4-refused": [4, lo, lo],
    "v4-mapped": [6, mapped, mapped],
    "nonblocking": [4, lo, lo],
    "reuse-first": [4, lo, lo],
    "reuse-taken": [4, lo, lo],
    "no-route": [4, "0.0.0.0", "10.253.0.1"],
  };
  const tid = Number(steps[0][1]);
  assert.deepEqual(
    records.map((e) => [
      e.type,
      e.pid,
      e.tid,
      e.uid,
      e.comm,
      e.family,
      e.saddr,
      e.sport,
      e.daddr,
      e.dport,
      e.result,
      e.error,
    ]),
    steps.map(([step, t, sport, dport, result]) => [
      "connect",
      tid,
      Number(t),
      0,
      "conn-workload",
      ...addrs[step].slice(0, 2),
      Number(sport),
      addrs[step][2],
      Number(dport),
      result,
      result === "ok" ? null : result,
    ]),
    why(section),
  );
  for (const e of records) {
    assert.ok(e.latency_us > 0 && e.latency_us < 1e6, JSON.stringify(e));
    assert.ok(e.netns_id > 0 && e.mntns_id > 0 && e.cgroup_id > 0, JSON.stringify(e));
  }
}

/**
 * Runs one guest check; if the guest did not boot or finish (GuestRunError, e.g. qemu under
 * software emulation on a loaded 2-core host), prints the failure on stderr and runs it once
 * more. A wrong record, count or status is a failure at once: never retried.
 */
async function withOneRetry(what: string, check: (again: boolean) => Promise<void>) {
  try {
    await check(false);
  } catch (e) {
    if (!(e instanceof GuestRunError)) throw e;
    console.error(
      `vmtest: ${what}: FIRST ATTEMPT FAILED, retrying once; the failure was:\n` +
        (e instanceof Error ? e.message : String(e)),
    );
    await check(true);
  }
}

/** The x86-64 kernels' guests, in test order. */
const X86_GUESTS: [KernelName, GuestExtras][] = [
  ["5.10", {}],
  ["5.10-cloud", {}],
  ["6.1", { links: true, baseline: true }],
  ["6.1-rt", { links: true, noParity: true }],
  ["6.12", { links: true, tcgSingle: true }],
];

/** Every guest queued at the first test (two run at a time); each test awaits its own. */
let guestsStarted = false;
function startGuests(): void {
  if (guestsStarted) return;
  guestsStarted = true;
  for (const [kernel, extras] of X86_GUESTS) runGuest(...kernelGuest(kernel, extras));
  runGuest(...arm64Guest());
}

test("vmtest: every tracer on Debian 11's 5.10 generic under qemu", kernelTest(), async () => {
  startGuests();
  await withOneRetry("5.10", (again) => checkKernel("5.10", {}, again));
});

test("vmtest: every tracer on Debian 11's 5.10 cloud under qemu", kernelTest(), async () => {
  startGuests();
  await withOneRetry("5.10-cloud", (again) => checkKernel("5.10-cloud", {}, again));
});

test(
  "vmtest: every tracer, the links, and the baseline binary on a CPU without AVX2 (qemu Nehalem), on Debian 6.1 generic",
  kernelTest(),
  async () => {
    startGuests();
    await withOneRetry("6.1", (again) => checkKernel("6.1", X86_GUESTS[2][1], again));
  },
);

test(
  "vmtest: every tracer and the links on Debian 6.1 PREEMPT_RT under qemu",
  kernelTest(),
  async () => {
    startGuests();
    await withOneRetry("6.1-rt", (again) => checkKernel("6.1-rt", X86_GUESTS[3][1], again));
  },
);

test("vmtest: every tracer and the links on Debian 6.12 under qemu", kernelTest(), async () => {
  startGuests();
  await withOneRetry("6.12", (again) => checkKernel("6.12", X86_GUESTS[4][1], again));
});

// ---- CPUs and architectures (issue 11) ----

/** Debian 12's newest arm64 cloud kernel package: scripts/fetch-arm64.sh's choice. */
function newestArm64Kernel(): string {
  const r = spawnSync("bash", ["scripts/fetch-arm64.sh"], { encoding: "utf8" });
  if (r.status !== 0) throw new GuestRunError(`scripts/fetch-arm64.sh failed:\n${r.stderr}`);
  return `linux-image-${r.stdout.split("\n")[0].split("/").pop()}-unsigned`;
}

/**
 * The arm64 guest (qemu-system-aarch64, software emulation: slow, so only what issue 11 asks):
 * tracer-arm64's check, the exact exec, open and connect workloads, and exec once more with
 * CO-RE relocation switched off (TRACER_NO_CORE=1), which must fail the same assertions.
 */
/** The arm64 kernel's package and its guest's vmtest.sh options. */
let arm64Package: string | undefined;
function arm64Guest(): [string, string[]] {
  arm64Package ??= newestArm64Kernel();
  return [arm64Package, [
    "--arch",
    "arm64",
    "--parity",
    "--sections",
    "cgroups check exec exec_nocore open connect_auto runparity",
  ]];
}

async function checkArm64(again: boolean) {
  const [pkg, args] = arm64Guest();
  const s = await runGuest(pkg, args, again);
  const why = kernelWarnings(s);
  const check = s.get("check");
  assert.ok(check, "no check section in the guest output");
  const features = checkReport(check, /^6\.1\.0-\d+-cloud-arm64$/, why);
  assertAvailable(features, [
    "kernel BTF",
    "bpf() syscall",
    "ring buffer maps",
    "tracepoints",
    "raw tracepoints",
    "tp_btf",
    "kprobes (perf PMU)",
  ], pkg);
  // arm64 has no open(2): tracer open goes without its tracepoint.
  assert.match(features.get("open syscall tracepoints")?.detail ?? "", /open not on this kernel/);
  // Debian's arm64 6.1 has no BPF trampolines: connect falls back to kprobes (the arm64
  // pt_regs flavour) and says why; check and the automatic choice agree.
  assert.equal(features.get("fentry")?.available, false, JSON.stringify(features.get("fentry")));
  assert.match(
    features.get("tracer connect")?.detail ?? "",
    /^kprobe strategy \(refused: fentry: \w+\)$/,
  );
  checkConnect(s.get("connect_auto"), "connect_auto", "kprobe", why, ["fentry"]);

  const exec = s.get("exec");
  assert.ok(exec, "no exec section in the guest output");
  checkExecRecords(exec, jsonRecords(exec, why), why(exec), guestCgroup(s.get("cgroups")).ino);
  assert.match(exec.out, /^tracer: attached tp_btf sched_process_exec$/m, why(exec));

  checkNoCore(s, why);

  checkOpen(
    s.get("open"),
    "open",
    true,
    /^tracer: tracing open \(\d+ programs attached\), running/m,
    false,
    why,
  );

  // Loader parity with libbpf (arm64's libbpf.a, linked statically), as on the x86-64 guests.
  const runparity = s.get("runparity");
  assert.ok(runparity, "no runparity section in the guest output");
  assert.equal(runparity.exit, 0, why(runparity));
  parity.push({ kernel: "6.1 arm64", ...checkParity(runparity.out, why(runparity)) });
  printParity(parity.filter((r) => r.kernel === "6.1 arm64"));
}

/**
 * The test that can fail: the guest's exec once more without CO-RE relocation
 * (TRACER_NO_CORE=1, section exec_nocore) gives wrong records (or none), and the same
 * assertions that pass with relocation reject them.
 */
function checkNoCore(
  s: Map<string, { out: string; exit: number }>,
  why: (s: { out: string }) => string,
) {
  const nocore = s.get("exec_nocore");
  assert.ok(nocore, "no exec_nocore section in the guest output");
  assert.match(nocore.out, /^tracer: tracing exec /m, why(nocore));
  assert.throws(
    () =>
      checkExecRecords(
        nocore,
        jsonRecords(nocore, why),
        why(nocore),
        guestCgroup(s.get("cgroups")).ino,
      ),
    assert.AssertionError,
    `exec passed with TRACER_NO_CORE=1:\n${nocore.out}`,
  );
}

/**
 * The regular x86-64 build on the baseline guest's CPU (qemu's Nehalem model: SSE4.2, no AVX;
 * every x86-64 guest runs the baseline build): it runs there exactly when its Bun base
 * executable is the baseline one (so with Bun 1.4.5, whose two npm packages hold the same
 * binary); otherwise it must die of SIGILL (status 132).
 */
function checkRegular(regular: { out: string; exit: number }, why: (s: { out: string }) => string) {
  const base = (target: string) => readFileSync(targetExecutable(target));
  const same = base("bun-linux-x64").equals(base("bun-linux-x64-baseline"));
  assert.equal(regular.exit, same ? 0 : 132, why(regular));
}

test(
  "vmtest: tracer-arm64 on Debian 6.1 arm64 under qemu-system-aarch64",
  kernelTest(),
  async () => {
    startGuests();
    await withOneRetry("6.1 arm64", checkArm64);
  },
);
