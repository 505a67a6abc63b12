// End to end: `tracer exec` (this runtime running src/main.ts) traces a workload whose
// every exec is known (test/fixtures/exec/workload.c), and must report exactly those.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { kernelTest, scratchDir } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import { probeTpBtf } from "../src/kernel/probes.ts";

const platform = await getPlatform();
import {
  assertNoLeftovers,
  b64,
  backgroundTracer,
  cgroupId,
  compile,
  kernelHasBpfLoop,
  mntns,
  ownContext,
  procAncestors,
  ROOT,
  runTracer,
  tracerArgv,
  tracerEnv,
} from "./tracer-cli.ts";
import { commandUser } from "../src/tracers/session-command.ts";

const tracer = (args: string[], timeout?: number, env?: Record<string, string>) =>
  runTracer("exec", args, timeout, env);

/**
 * Whether this kernel lets a tp_btf program attach: asked by loading one and attaching it to
 * sched_switch (bpftool's "program_type tracing" verdict probes fentry, which a kernel may
 * refuse while it takes tp_btf, as this host does).
 */
function kernelTakesTpBtf(): boolean {
  return probeTpBtf(platform).available;
}
const background = (args: string[]) => backgroundTracer("exec", args);

const dir = scratchDir("exec-e2e-");
const WORKLOAD = join(dir, "exec-workload");
const MANIFEST = join(dir, "manifest");
const NOEXEC = join(dir, "noexec");

let built = false;
function build(): void {
  if (built) return;
  compile(join(ROOT, "test/fixtures/exec/workload.c"), WORKLOAD);
  writeFileSync(NOEXEC, "#!/bin/sh\n");
  chmodSync(NOEXEC, 0o644);
  built = true;
}

function manifest(): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of readFileSync(MANIFEST, "utf8").trim().split("\n")) {
    const [name, pid] = line.split(" ");
    m.set(name, Number(pid));
  }
  return m;
}

const LONG_NAME = "/dev/fd/5/" + ("d".repeat(199) + "/").repeat(20) + "l".repeat(90);

/** Runs the workload under `tracer exec -x --json ...extra` and checks every event exactly. */
function exactWorkloadEvents(extra: string[], env?: Record<string, string>): void {
  build();
  const out = join(dir, "out.jsonl");
  const before = Date.now();
  const r = tracer(
    ["-x", "-v", "--json", "-o", out, ...extra, "--", WORKLOAD, MANIFEST, NOEXEC],
    undefined,
    env,
  );
  const after = Date.now();
  assert.equal(r.status, 7, `exit status is the workload's (stderr: ${r.stderr})`);
  // The hooks that ran: tp_btf where the kernel takes it (asked directly) unless tracepoints
  // were asked for (--hooks tracepoint, or --btf); the syscall tracepoints of failed execs.
  const tpBtf = !extra.includes("--hooks") && !extra.includes("--btf") && kernelTakesTpBtf();
  const attached = [...r.stderr.matchAll(/^tracer: attached (.*)$/gm)].map((m) => m[1]).sort();
  // Failed execs' argv is read with bpf_loop where the kernel has it (asked directly), else (or
  // when the test switch says so) in a bounded loop, and -v says which.
  assert.equal(
    /^tracer: fallback: failed execs' argv read in a bounded loop/m.test(r.stderr),
    env?.TRACER_NO_BPF_LOOP === "1" || !kernelHasBpfLoop(),
    r.stderr,
  );
  // Records are stamped with bpf_ktime_get_boot_ns, or (test switch) the monotonic clock plus
  // the boot clock's lead: the times checked below are right either way.
  assert.equal(
    /^tracer: fallback: times from bpf_ktime_get_ns/m.test(r.stderr),
    env?.TRACER_NO_BOOT_NS === "1",
    r.stderr,
  );
  assert.deepEqual(
    attached,
    [
      ...(tpBtf
        ? ["tp_btf sched_process_exec", "tp_btf sched_process_exit", "tp_btf sched_process_fork"]
        : [
          "raw_tp sched_process_exit",
          "raw_tp sched_process_fork",
          "tracepoint sched/sched_process_exec",
        ]),
      "tracepoint syscalls/sys_enter_execve",
      "tracepoint syscalls/sys_enter_execveat",
      "tracepoint syscalls/sys_exit_execve",
      "tracepoint syscalls/sys_exit_execveat",
      // New cgroups announced by the kernel (container context).
      "tracepoint cgroup/cgroup_mkdir",
    ].sort(),
    r.stderr,
  );
  const events = readFileSync(out, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
  const pids = manifest();
  const w = events[0].pid;
  const uid = process.getuid!();
  const gid = process.getgid!();
  // Above the tracer: this test process and its ancestors, as /proc has them now.
  const tracerUp = [{ pid: r.pid!, comm: r.runtimeComm }, ...procAncestors(process.pid)];
  const common = (pid: number, ppid: number) => ({
    type: "exec",
    pid,
    tid: pid,
    ppid,
    uid,
    gid,
    cgroup_id: cgroupId(),
    mntns_id: mntns(),
    ...ownContext(),
    ancestors: (ppid === w ? [{ pid: w, comm: "exec-workload" }, ...tracerUp] : tracerUp)
      .slice(0, 16),
  });
  const ok = (step: string, args: string[], extra: Record<string, unknown> = {}) => ({
    ...common(pids.get(step)!, w),
    comm: "true",
    pcomm: "exec-workload",
    filename: "/bin/true",
    args,
    args_truncated: false,
    ret: 0,
    error: null,
    ...extra,
  });
  const failed = (
    step: string,
    filename: string,
    args: string[],
    ret: number,
    extra: Record<string, unknown> = {},
  ) => ({
    ...common(pids.get(step)!, w),
    comm: "exec-workload",
    pcomm: "exec-workload",
    filename,
    args,
    args_truncated: false,
    ret,
    error: ret === -2 ? "ENOENT" : "EACCES",
    ...extra,
  });
  const expected = [
    {
      ...common(w, r.pid!),
      comm: "exec-workload",
      pcomm: r.runtimeComm,
      filename: WORKLOAD,
      args: [WORKLOAD, MANIFEST, NOEXEC],
      args_truncated: false,
      ret: 0,
      error: null,
    },
    ok("plain", ["true", "plain"]),
    ok("quotes", ["true", "hello world", 'it\'s "quoted"', "", "back\\slash"]),
    ok("bytes", ["true", "héllo → 日本", "\\xff\\xfe bad", "\x1b[31mred\n"], {
      args_b64: [
        b64("true"),
        b64("héllo → 日本"),
        b64(new Uint8Array([0xff, 0xfe, 0x20, 0x62, 0x61, 0x64])),
        b64("\x1b[31mred\n"),
      ],
    }),
    // Since Linux 5.18 an empty argv becomes [""].
    ok("noargs", [""]),
    ok("many", Array.from({ length: 64 }, (_, i) => `a${i}`), { args_truncated: true }),
    // 8192 bytes of argv kept: "true\0" and 8187 of the 8192 x.
    ok("huge", ["true", "x".repeat(8187)], { args_truncated: true }),
    failed("enoent", "/nonexistent/prog", ["prog", "arg1"], -2),
    failed("eacces", NOEXEC, ["noexec"], -13),
    // A failed exec's argv in pages the child never touched cannot be read without
    // faulting (tracepoint programs cannot fault): reported, not silently empty.
    failed("eacces-unmapped", NOEXEC, [], -13, { args_fault: true }),
    ok("execveat", ["true", "via-execveat"], { filename: "/dev/fd/4" }),
    failed("execveat-enoent", "/nonexistent/at", ["gone"], -2),
    {
      ...ok("badname", ["x"]),
      comm: "\\xff\\xfe-true",
      comm_b64: b64(new Uint8Array([0xff, 0xfe, ...new TextEncoder().encode("-true")])),
      filename: `${dir}/\\xff\\xfe-true`,
      filename_b64: b64(
        new Uint8Array([
          ...new TextEncoder().encode(`${dir}/`),
          0xff,
          0xfe,
          ...new TextEncoder().encode("-true"),
        ]),
      ),
    },
    {
      ...failed("badname-enoent", "/nonexistent/\\xff", ["y"], -2),
      filename_b64: b64(new Uint8Array([...new TextEncoder().encode("/nonexistent/"), 0xff])),
    },
    // execveat(dirfd, 4090-byte path): the kernel's name "/dev/fd/5/..." is cut at 4095 bytes.
    ok("longname", ["long"], {
      comm: "l".repeat(15),
      filename: LONG_NAME.slice(0, 4095),
      filename_truncated: true,
    }),
  ];
  const strip = events.map(({ time: _t, time_ns: _n, ...rest }) => rest);
  assert.deepEqual(strip, expected);

  // Times: boot clock increasing, one wall-clock offset for all, close to now.
  let prev = 0;
  const offsets = new Set<bigint>();
  for (const e of events) {
    assert.ok(e.time_ns > prev);
    prev = e.time_ns;
    const m = /^(.*)\.(\d{9})Z$/.exec(e.time)!;
    const wallNs = BigInt(Date.parse(m[1] + "Z")) * 1_000_000n + BigInt(m[2]);
    offsets.add(wallNs - BigInt(e.time_ns));
    // The boot-to-wall offset is measured to well under 20 ms (a /proc/uptime tick).
    const at = Date.parse(e.time);
    assert.ok(at >= before - 20 && at <= after + 20, `${e.time} not in [${before}, ${after}]`);
  }
  assert.equal(offsets.size, 1);
}

test("exec -x --json -- WORKLOAD: exactly the workload's execs, every field", kernelTest(), () => {
  exactWorkloadEvents([]);
});

test(
  "exec without bpf_ktime_get_boot_ns (TRACER_NO_BOOT_NS=1): the same events, times right",
  kernelTest(),
  () => {
    exactWorkloadEvents([], tracerEnv({ TRACER_NO_BOOT_NS: "1" }));
  },
);

test(
  "exec -x without bpf_loop (TRACER_NO_BPF_LOOP=1): argv of failed execs in a bounded loop",
  kernelTest(),
  () => {
    exactWorkloadEvents([], tracerEnv({ TRACER_NO_BPF_LOOP: "1" }));
  },
);

test(
  "exec --hooks tracepoint (no kernel BTF needed to attach): the same events",
  kernelTest(),
  () => {
    exactWorkloadEvents(["--hooks", "tracepoint"]);
  },
);

test(
  "exec --btf FILE: CO-RE against that file, tracepoint hooks; a bad file is one clear error",
  kernelTest(),
  () => {
    const copy = join(dir, "vmlinux.btf");
    writeFileSync(copy, readFileSync("/sys/kernel/btf/vmlinux"));
    exactWorkloadEvents(["--btf", copy]);
    const bad = tracer(["--btf", join(dir, "nope.btf"), "--", "/bin/true"]);
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, /^tracer exec: .*nope\.btf/m);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  },
);

test(
  "exec (table, successes only) -- WORKLOAD: execsnoop lines, escaped and quoted",
  kernelTest(),
  () => {
    build();
    const r = tracer(["--max-args", "4", "--", WORKLOAD, MANIFEST, NOEXEC]);
    assert.equal(r.status, 7, r.stderr);
    const pids = manifest();
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "PCOMM                PID    PPID RET ARGS");
    const w = Number(lines[1].split(/ +/)[1]);
    const row = (step: string, args: string) =>
      `${"true".padEnd(16)} ${String(pids.get(step)).padStart(7)} ${
        String(w).padStart(7)
      }   0 ${args}`;
    assert.deepEqual(lines.slice(2), [
      row("plain", "true plain"),
      row("quotes", 'true "hello world" "it\'s \\"quoted\\"" "" ...'),
      row("bytes", 'true "héllo → 日本" "\\xff\\xfe bad" \\x1b[31mred\\n'),
      row("noargs", '""'),
      row("many", "a0 a1 a2 a3 ..."),
      row("huge", `true ${"x".repeat(8187)} ...`),
      row("execveat", "true via-execveat"),
      `${"\\xff\\xfe-true".padEnd(16)} ${String(pids.get("badname")).padStart(7)} ${
        String(w).padStart(7)
      }   0 x`,
      `${"l".repeat(15).padEnd(16)} ${String(pids.get("longname")).padStart(7)} ${
        String(w).padStart(7)
      }   0 long`,
      "",
    ]);
  },
);

test("exec filters: --failed-only, --uid (both ways), -c, -n", kernelTest(), () => {
  build();
  const failedOnly = tracer(["--failed-only", "--json", "--", WORKLOAD, MANIFEST, NOEXEC]);
  assert.equal(failedOnly.status, 7, failedOnly.stderr);
  const f = failedOnly.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(f.map((e) => [e.filename, e.error]), [
    ["/nonexistent/prog", "ENOENT"],
    [NOEXEC, "EACCES"],
    [NOEXEC, "EACCES"],
    ["/nonexistent/at", "ENOENT"],
    ["/nonexistent/\\xff", "ENOENT"],
  ]);
  const otherUid = tracer(["-x", "--uid", "65534", "--json", "--", WORKLOAD, MANIFEST, NOEXEC]);
  assert.equal(otherUid.status, 7, otherUid.stderr);
  assert.equal(otherUid.stdout, "");
  // --uid keeps exactly the exec done as that user (setpriv's own exec is root's).
  const nobody = tracer([
    "--uid",
    "65534",
    "--json",
    "--",
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "/bin/true",
    "as-nobody",
  ]);
  assert.equal(nobody.status, 0, nobody.stderr);
  const nb = nobody.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(nb.map((e) => [e.uid, e.gid, e.comm, e.args]), [
    [65534, 65534, "true", ["/bin/true", "as-nobody"]],
  ]);
  const count = tracer(["-c", "2", "--json", "--", WORKLOAD, MANIFEST, NOEXEC]);
  assert.equal(count.status, 7, count.stderr);
  const c = count.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(c.map((e) => e.comm), ["exec-workload", "true"]);
  const named = tracer(["-x", "-n", "^exec-w", "--json", "--", WORKLOAD, MANIFEST, NOEXEC]);
  const n = named.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(n.map((e) => e.ret), [0, -2, -13, -13, -2, -2]);
});

test(
  "exec --ring-bytes 8192: the 8 KiB-argv event cannot fit and is counted as lost",
  kernelTest(),
  () => {
    build();
    // 8 KiB: every other record fits alone (the 4 KiB file name too); when the workload's
    // execs outrun the reader, more are lost, and counted.
    const r = tracer(["-x", "--json", "--ring-bytes", "8192", "--", WORKLOAD, MANIFEST, NOEXEC]);
    assert.equal(r.status, 7, r.stderr);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const pids = manifest();
    const huge = pids.get("huge");
    const execs = events.filter((e) => e.type === "exec");
    assert.ok(!execs.some((e) => e.pid === huge));
    const lost = events.filter((e) => e.type === "lost");
    const lostTotal = lost.reduce((n, e) => n + e.lost, 0);
    // Every one of the workload's 15 execs is printed or counted lost, the huge one lost.
    assert.equal(execs.length + lostTotal, 15);
    assert.ok(lostTotal >= 1);
    assert.equal(lost[lost.length - 1].lost_total, lostTotal);
    // The exit summary on stderr says it too.
    assert.match(
      r.stderr,
      new RegExp(`\ntracer: ${execs.length} events, ${lostTotal} lost(, [^\n]*)?\n`),
    );
    const lostAt = Date.parse(lost[0].time);
    assert.ok(
      lostAt >= Date.parse(execs[0].time) - 1,
      "lost record stamped when seen, not at start",
    );
  },
);

/** The exec-storm workload (scripts/bench/storm.c), compiled once; returns its path. */
let stormBuilt = "";
function buildStorm(): string {
  if (stormBuilt) return stormBuilt;
  const storm = join(dir, "storm");
  const cc = spawnSync("cc", ["-O2", "-o", storm, join(ROOT, "scripts/bench/storm.c")], {
    encoding: "utf8",
  });
  assert.equal(cc.status, 0, cc.stderr);
  stormBuilt = storm;
  return storm;
}

test("exec -- STORM: 3000 execs in a row, every one captured, nothing lost", kernelTest(), () => {
  const storm = buildStorm();
  const out = join(dir, "storm.jsonl");
  const r = tracer(["--json", "-o", out, "--", storm, "3000", "/bin/true"], 120_000);
  assert.equal(r.status, 0, `status ${r.status} signal ${r.signal}: ${r.stderr.slice(0, 2000)}`);
  assert.match(r.stdout, /^[\d.]+ 3000\n$/); // the storm's own report
  const events = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(events.filter((e) => e.type === "lost").length, 0);
  const storms = events.filter((e) => e.args[1] === "storm-arg");
  assert.equal(storms.length, 3000);
  assert.equal(new Set(storms.map((e) => e.pid)).size, 3000);
  assert.ok(storms.every((e) => e.filename === "/bin/true" && e.ppid === events[0].pid));
});

test(
  "exec --buffer perf (the pre-5.8 fallback, forced): the same exact events, in time order",
  kernelTest(),
  () => {
    exactWorkloadEvents(["--buffer", "perf"]);
  },
);

test(
  "exec chooses the ring buffer exactly when the kernel has one (bpftool's verdict)",
  kernelTest(),
  () => {
    const probe = spawnSync("bpftool", ["feature", "probe", "kernel"], { encoding: "utf8" });
    assert.equal(probe.status, 0, probe.stderr);
    const verdict = /^eBPF map_type ringbuf is (available|NOT available)$/m.exec(probe.stdout);
    assert.ok(verdict, "bpftool printed no ringbuf verdict");
    const r = tracer(["--", "/bin/true", "x"]);
    assert.equal(r.status, 0, r.stderr);
    const perf = /^tracer: tracing exec \(\d+ programs attached, perf buffer\)/m.test(r.stderr);
    assert.equal(perf, verdict[1] === "NOT available", r.stderr);
    assert.match(r.stdout, /\/bin\/true x\n$/);
  },
);

test(
  "exec --buffer perf: a record larger than a CPU's buffer is counted lost, in-band and at exit",
  kernelTest(),
  () => {
    // 6000 bytes of argv (printf is a shell builtin: no other exec) cannot fit a 4 KiB buffer.
    const script = `x=$(printf '%6000s' ''); /bin/true "$x"; /bin/true small`;
    const r = tracer([
      "--buffer",
      "perf",
      "--ring-bytes",
      "4096",
      "--json",
      "--",
      "/bin/sh",
      "-c",
      script,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^tracer: tracing exec \(\d+ programs attached, perf buffer\)/);
    assert.match(r.stderr, /^tracer: 2 events, 1 lost$/m);
    const records = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(
      records.filter((e) => e.type === "exec").map((e) => e.args),
      [["/bin/sh", "-c", script], ["/bin/true", "small"]],
    );
    // Reported when seen: before or after the sh record, which may already be out by then.
    assert.deepEqual(
      records.filter((e) => e.type === "lost").map((e) => [e.lost, e.lost_total]),
      [[1, 1]],
    );
  },
);

test(
  "exec --buffer perf -- STORM: 3000 execs, every one printed or counted lost",
  kernelTest(),
  () => {
    const storm = buildStorm();
    const out = join(dir, "storm-perf.jsonl");
    const r = tracer(["--buffer", "perf", "--json", "-o", out, "--", storm, "3000", "/bin/true"]);
    assert.equal(r.status, 0, `status ${r.status} signal ${r.signal}: ${r.stderr.slice(0, 2000)}`);
    const events = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const lost = events.filter((e) => e.type === "lost").reduce((n, e) => n + e.lost, 0);
    const storms = events.filter((e) => e.type === "exec" && e.args[1] === "storm-arg");
    assert.equal(new Set(storms.map((e) => e.pid)).size, storms.length);
    assert.equal(storms.length + lost, 3000, r.stderr);
    assert.match(r.stderr, new RegExp(`^tracer: ${storms.length + 1} events, ${lost} lost$`, "m"));
  },
);

test("exec -- MISSING-CMD exits 127 and reports the failed exec", kernelTest(), () => {
  const r = tracer(["-x", "--json", "--", "/nonexistent/cmd", "a"]);
  assert.equal(r.status, 127, r.stderr);
  assert.match(r.stderr, /cannot run \/nonexistent\/cmd: ENOENT/);
  const events = r.stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
  assert.ok(
    events.some((e) => e.filename === "/nonexistent/cmd" && e.error === "ENOENT"),
    r.stdout,
  );
});

test(
  "exec without CMD: --ppid filter, Ctrl-C stops it (status 0) after printing",
  kernelTest(),
  async () => {
    const t = background(["--ppid", String(process.pid), "--json"]);
    await t.ready;
    const echo = spawnSync("/bin/echo", ["seen", "by --ppid"], { encoding: "utf8" });
    assert.equal(echo.status, 0);
    process.kill(t.child.pid!, "SIGINT"); // not child.kill(): Deno's polyfill then reports the signal, not the exit status
    assert.equal(await t.exited, 0, t.err());
    const events = t.out().trim().split("\n").map((l) => JSON.parse(l));
    const mine = events.filter((e) => e.pid === echo.pid);
    assert.equal(mine.length, 1, t.out());
    assert.deepEqual(mine[0].args, ["/bin/echo", "seen", "by --ppid"]);
    assert.ok(events.every((e) => e.ppid === process.pid), "only children of this process");
  },
);

test("exec -d 1 stops by itself after about a second", kernelTest(), async () => {
  const t = background(["-d", "1"]);
  await t.ready;
  const t0 = performance.now();
  assert.equal(await t.exited, 0, t.err());
  const secs = (performance.now() - t0) / 1000;
  assert.ok(secs > 0.9 && secs < 5, `ran ${secs} s after ready`);
  assert.match(t.out(), /^PCOMM +PID +PPID RET ARGS\n/);
});

test("exec as an unprivileged user: one clear line, exit 1", kernelTest(), () => {
  const argv = [process.execPath, ...tracerArgv("exec", [])];
  const r = spawnSync(
    "setpriv",
    ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", ...argv],
    { encoding: "utf8", cwd: ROOT, env: { ...process.env, DENO_DIR: join(dir, "deno-dir") } },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.equal(
    r.stderr,
    "tracer exec: needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs; " +
      "this process lacks CAP_BPF and CAP_PERFMON: run it with sudo\n",
  );
});

test("exec usage errors exit 2 with one line", () => {
  for (
    const [args, msg] of [
      [["--max-args", "0"], /--max-args must be between 1 and 128/],
      [["-n", "("], /--name: bad regular expression/],
      [["stray"], /unexpected argument 'stray'/],
      [["--"], /'--' needs a command/],
      [["-x", "--failed-only"], /choose one/],
      [["-d", "soon"], /--duration expects a positive number/],
      [["--container", "a/b"], /--container expects a container id/],
      [["--cgroup", "/no/such/cgroup"], /^tracer exec: --cgroup: no cgroup \/no\/such\/cgroup in /],
    ] as const
  ) {
    const r = tracer([...args]);
    assert.equal(r.status, 2, `${args}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
});

test("exec --timings: the start-up phases, in order, after the ready line", kernelTest(), () => {
  const r = tracer(["--timings", "--json", "--", "/bin/true"]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split("\n");
  const ready = lines.findIndex((l) => l.startsWith("tracer: tracing exec"));
  const timing = lines.findIndex((l) => l.startsWith("tracer: start-up: "));
  assert.ok(ready >= 0 && timing === ready + 1, r.stderr);
  const phases = [...lines[timing].matchAll(/([a-zA-Z][a-zA-Z +()-]*?) (\d+\.\d) ms/g)]
    .map((m) => [m[1], Number(m[2])] as const);
  assert.deepEqual(phases.map(([name]) => name), [
    "runtime start",
    "object parse",
    "object BTF + maps",
    "kernel BTF",
    "CO-RE + relocations",
    "verifier (program loads)",
    "ring buffer",
    "attach",
    "total",
  ]);
  const sum = phases.slice(0, -1).reduce((s, [, ms]) => s + ms, 0);
  assert.ok(Math.abs(sum - phases.at(-1)![1]) < 0.5, lines[timing]);
});

test(
  "exec leaves no program, link or map in the kernel after SIGINT, SIGTERM, -c, -d, a closed pipe, and with the perf buffer",
  kernelTest(),
  async () => {
    await assertNoLeftovers(await getPlatform(), "exec", () => spawnSync("/bin/true"), ["-x"]);
  },
);

test(
  "exec -o into a missing directory fails before tracing starts: one line, exit 1",
  kernelTest(),
  () => {
    const r = tracer(["-o", "/nonexistent/dir/events.json", "--", "/bin/true"]);
    assert.equal(r.status, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /tracing exec/);
    assert.match(
      r.stderr,
      /^tracer exec: cannot open output file \/nonexistent\/dir\/events\.json: ENOENT/,
    );
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  },
);

test("exec -- CMD under sudo runs CMD as the user who ran sudo, not as root", kernelTest(), () => {
  const r = runTracer(
    "exec",
    ["--json", "--", "/usr/bin/id", "-u"],
    60_000,
    tracerEnv({ SUDO_UID: "65534", SUDO_GID: "65534" }),
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.ok(lines.includes("65534"), r.stdout); // id -u's own output
  const rec = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  assert.deepEqual(rec.map((e) => [e.filename, e.uid, e.gid]), [["/usr/bin/id", 65534, 65534]]);
});

test("commandUser: SUDO_UID/SUDO_GID only when root; root itself and bad values ignored", () => {
  assert.deepEqual(commandUser(0, { SUDO_UID: "1000", SUDO_GID: "1001" }), {
    uid: 1000,
    gid: 1001,
  });
  assert.equal(commandUser(1000, { SUDO_UID: "1000", SUDO_GID: "1000" }), null);
  assert.equal(commandUser(0, {}), null);
  assert.equal(commandUser(0, { SUDO_UID: "0", SUDO_GID: "0" }), null);
  assert.equal(commandUser(0, { SUDO_UID: "x", SUDO_GID: "1" }), null);
});
