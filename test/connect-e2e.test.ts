// End to end: `tracer connect` (this runtime running src/main.ts) traces a workload whose
// every connect is known (test/fixtures/connect/workload.c), on loopback and inside a network
// namespace this test makes, and must report exactly those records, every field. Traffic goes
// only to 127.0.0.0/8, ::1 and addresses inside that namespace.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { kernelTest, scratchDir } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import {
  assertNoLeftovers,
  backgroundTracer,
  cgroupId,
  compile,
  ownContext,
  ROOT,
  runTracer as runCommand,
  tracerCommandLine,
  tracerEnv,
} from "./tracer-cli.ts";
const dir = scratchDir("connect-e2e-");
const WORKLOAD = join(dir, "conn-workload");
const MANIFEST = join(dir, "manifest");
const NETNS = `tracer-connect-${process.pid}`;
const NETNS_PATH = `/var/run/netns/${NETNS}`;

function sh(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { encoding: "utf8", input });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
}

let built = false;
/** Compiles the workload (once). */
function setup(): void {
  if (built) return;
  compile(join(ROOT, "test/fixtures/connect/workload.c"), WORKLOAD);
  built = true;
}

/** Runs fn with the test's network namespace made, and removed afterwards. */
function inNetns<T>(fn: () => T): T {
  removeNetns();
  sh("ip", ["netns", "add", NETNS]);
  try {
    sh("ip", ["-n", NETNS, "link", "set", "lo", "up"]);
    sh("ip", ["netns", "exec", NETNS, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=1"]);
    sh("ip", ["-n", NETNS, "route", "add", "unreachable", "10.251.0.0/16"]);
    sh("ip", ["-n", NETNS, "route", "add", "prohibit", "10.252.0.0/16"]);
    // SYNs to port 9 are dropped on their way in: the connect times out.
    sh(
      "ip",
      ["netns", "exec", NETNS, "nft", "-f", "-"],
      "table inet tracer_test {\n  chain input {\n    type filter hook input priority 0;\n" +
        "    tcp dport 9 tcp flags syn drop\n  }\n}\n",
    );
    return fn();
  } finally {
    removeNetns();
  }
}

function removeNetns(): void {
  if (existsSync(NETNS_PATH)) sh("ip", ["netns", "del", NETNS]);
}

/** Kills the workload's child that keeps a connect pending (its pid is in the manifest). */
function killPending(): void {
  const pending = manifest().get("pending");
  if (!pending) return;
  try {
    process.kill(pending.tid, "SIGKILL");
  } catch { /* gone */ }
}

/** Runs `tracer connect ARGS` (this runtime, or the compiled binary of TRACER_BIN). */
function runTracer(args: string[], timeout = 60_000, env: Record<string, string> = {}) {
  return runCommand("connect", args, timeout, tracerEnv(env));
}

const background = (args: string[]) => backgroundTracer("connect", args);

/**
 * Runs `tracer connect ARGS -- WORKLOAD`, then kills the workload's pending child. `quick`:
 * without the timeout step.
 */
function traceWorkload(args: string[], quick = false, env: Record<string, string> = {}) {
  setup();
  return inNetns(() => {
    rmSync(MANIFEST, { force: true });
    const r = runTracer(
      [
        ...args,
        "--",
        WORKLOAD,
        MANIFEST,
        NETNS_PATH,
        ...(quick ? ["quick"] : []),
      ],
      60_000,
      env,
    );
    killPending();
    // The namespace's inode, for netns_id, while it exists.
    return { ...r, steps: manifest(), testNs: statSync(NETNS_PATH).ino };
  });
}

interface Step {
  tid: number;
  sport: number;
  dport: number;
  result: string;
}

function manifest(): Map<string, Step> {
  const m = new Map<string, Step>();
  if (!existsSync(MANIFEST)) return m;
  for (const line of readFileSync(MANIFEST, "utf8").trim().split("\n")) {
    const [name, tid, sport, dport, result] = line.split(" ");
    m.set(name, { tid: Number(tid), sport: Number(sport), dport: Number(dport), result });
  }
  return m;
}

const nsInode = (link: string) => Number(/\[(\d+)\]/.exec(readlinkSync(link))![1]);

/** Every record the workload must produce, in order, without time, time_ns and latency_us. */
function expectedRecords(steps: Map<string, Step>, testNs: number): Record<string, unknown>[] {
  const s = (name: string) => {
    const step = steps.get(name);
    assert.ok(step, `manifest has no step ${name}`);
    return step;
  };
  const pid = s("v4-ok").tid;
  const hostNs = nsInode("/proc/self/ns/net");
  const rec = (
    name: string,
    family: 4 | 6,
    saddr: string,
    daddr: string,
    netns: number,
    over: Record<string, unknown> = {},
  ) => {
    const step = s(name);
    const result = step.result;
    return {
      type: "connect",
      pid: name === "pending" ? step.tid : pid,
      tid: step.tid,
      uid: process.getuid!(),
      comm: "conn-workload",
      family,
      saddr,
      sport: step.sport,
      daddr,
      dport: step.dport,
      result,
      error: result === "ok" || result === "pending" ? null : result,
      cgroup_id: cgroupId(),
      mntns_id: nsInode("/proc/self/ns/mnt"),
      netns_id: netns,
      ...ownContext(),
      ...over,
    };
  };
  const lo = "127.0.0.1";
  const mapped = "::ffff:127.0.0.1";
  return [
    rec("v4-ok", 4, lo, lo, hostNs),
    rec("v6-ok", 6, "::1", "::1", hostNs),
    rec("v4-refused", 4, lo, lo, hostNs),
    rec("v4-mapped", 6, mapped, mapped, hostNs),
    rec("nonblocking", 4, lo, lo, hostNs),
    rec("reuse-first", 4, lo, lo, hostNs),
    rec("reuse-taken", 4, lo, lo, hostNs),
    // Failed before any SYN: no source address or port was chosen.
    rec("unreachable", 4, "0.0.0.0", "10.251.0.1", testNs),
    rec("prohibited", 4, "0.0.0.0", "10.252.0.1", testNs),
    rec("no-route", 4, "0.0.0.0", "10.253.0.1", testNs),
    rec("timeout", 4, lo, lo, testNs),
    rec("pending", 4, lo, lo, testNs),
  ];
}

/** Checks the workload's manifest says what the kernel did (before checking the tracer). */
function checkManifest(steps: Map<string, Step>): void {
  assert.deepEqual([...steps].map(([name, s]) => [name, s.result]), [
    ["v4-ok", "ok"],
    ["v6-ok", "ok"],
    ["v4-refused", "ECONNREFUSED"],
    ["v4-mapped", "ok"],
    ["nonblocking", "ok"],
    ["reuse-first", "ok"],
    ["reuse-taken", "EADDRNOTAVAIL"],
    ["unreachable", "EHOSTUNREACH"],
    ["prohibited", "EACCES"],
    ["no-route", "ENETUNREACH"],
    ["timeout", "ETIMEDOUT"],
    ["pending", "pending"],
  ]);
}

const parse = (stdout: string) =>
  stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));

/** Runs the workload under `tracer connect --json ...extra`; checks every record exactly. */
function exactWorkloadRecords(extra: string[]): string {
  const before = Date.now();
  const r = traceWorkload(["--json", ...extra]);
  const after = Date.now();
  assert.equal(r.status, 0, `exit status is the workload's (stderr: ${r.stderr})`);
  checkManifest(r.steps);
  const records = parse(r.stdout);
  const strip = records.map(({ time: _t, time_ns: _n, latency_us: _l, ...rest }) => rest);
  assert.deepEqual(strip, expectedRecords(r.steps, r.testNs), r.stderr);
  // Latency: positive; a loopback connect well under a second; the timeout's is the
  // kernel's 1 s + 2 s of SYN retries; the pending one ran from its call to the stop.
  const lat = new Map(records.map((e, i) => [[...r.steps.keys()][i], e.latency_us]));
  for (const [name, us] of lat) assert.ok(us > 0, `${name}: latency ${us}`);
  for (const name of ["v4-ok", "v6-ok", "v4-refused", "v4-mapped", "nonblocking"]) {
    assert.ok(lat.get(name) < 1e6, `${name}: latency ${lat.get(name)} µs`);
  }
  assert.ok(lat.get("timeout") > 2.5e6 && lat.get("timeout") < 10e6, `${lat.get("timeout")}`);
  // Times: boot clock non-decreasing, one wall-clock offset for all, close to now.
  let prev = 0;
  for (const e of records) {
    assert.ok(e.time_ns >= prev);
    prev = e.time_ns;
    const at = Date.parse(e.time);
    assert.ok(at >= before - 20 && at <= after + 20, `${e.time} not in [${before}, ${after}]`);
  }
  return r.stderr;
}

test(
  "connect --json -- WORKLOAD: exactly the workload's connects and outcomes, every field",
  kernelTest(),
  () => {
    const stderr = exactWorkloadRecords([]);
    // The strategy chosen is named; each one refused before it is one warning line.
    const ready = /^tracer: tracing connect \(\d+ programs attached, (\w+) strategy\), running /m
      .exec(stderr);
    assert.ok(ready, stderr);
    const order = ["fentry", "kprobe", "tracepoint"];
    const refused = stderr.split("\n").filter((l) => / strategy refused \(/.test(l));
    assert.equal(refused.length, order.indexOf(ready[1]), stderr);
    refused.forEach((l, i) => assert.match(l, new RegExp(`^tracer: ${order[i]} strategy refused`)));
  },
);

for (const strategy of ["tracepoint", "kprobe", "fentry"]) {
  test(
    `connect --attach ${strategy}: the same exact records, or one clear refusal`,
    kernelTest(),
    () => {
      setup();
      const probe = runTracer(["--attach", strategy, "-d", "0.1"]);
      if (strategy === "tracepoint") assert.equal(probe.status, 0, probe.stderr);
      if (probe.status !== 0) {
        // Refused by this kernel (here: no kprobes, fentry locked down): one line naming the
        // step and the reason, exit 1, no stack trace.
        assert.equal(probe.status, 1, probe.stderr);
        assert.equal(probe.stderr.trim().split("\n").length, 1, probe.stderr);
        assert.match(probe.stderr, /^tracer connect: /);
        return;
      }
      assert.match(probe.stderr, new RegExp(`, ${strategy} strategy\\)`));
      const stderr = exactWorkloadRecords(["--attach", strategy]);
      assert.doesNotMatch(stderr, / strategy refused /);
    },
  );
}

test(
  "tracer check names the strategy connect runs with here: the ready line's",
  kernelTest(),
  () => {
    const bin = process.env.TRACER_BIN;
    const bun = process.versions.bun !== undefined;
    const check = bin ? spawnSync(bin, ["check", "--json"], { encoding: "utf8" }) : spawnSync(
      process.execPath,
      bun
        ? [join(ROOT, "src/main.ts"), "check", "--json"]
        : ["run", "-A", join(ROOT, "src/main.ts"), "check", "--json"],
      { encoding: "utf8", cwd: ROOT },
    );
    assert.equal(check.status, 0, check.stderr);
    const feature = JSON.parse(check.stdout).features.find((f: { feature: string }) =>
      f.feature === "tracer connect"
    );
    assert.ok(feature?.available, check.stdout);
    const run = runTracer(["-d", "0.1"]);
    assert.equal(run.status, 0, run.stderr);
    const ready = /, (\w+) strategy\)/.exec(run.stderr);
    assert.ok(ready, run.stderr);
    assert.match(feature.detail, new RegExp(`^${ready[1]} strategy`));
  },
);

test(
  "connect --btf FILE: CO-RE against that file, tracepoint strategy, the same exact records",
  kernelTest(),
  () => {
    const copy = join(dir, "vmlinux.btf");
    writeFileSync(copy, readFileSync("/sys/kernel/btf/vmlinux"));
    const stderr = exactWorkloadRecords(["--btf", copy]);
    assert.match(stderr, /, tracepoint strategy\)/);
    assert.doesNotMatch(stderr, / strategy refused /);
  },
);

test("connect --buffer perf: the same exact records", kernelTest(), () => {
  exactWorkloadRecords(["--buffer", "perf"]);
});

test("connect (table) -- WORKLOAD: one aligned line per connect", kernelTest(), () => {
  const r = traceWorkload(["-U"]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(
    lines[0],
    "   UID     PID COMM             IP SADDR            SPORT DADDR            DPORT RESULT         LAT(ms)",
  );
  const rows = lines.slice(1).map((l) => l.trim().split(/ +/));
  const steps = [...r.steps.values()];
  assert.equal(rows.length, steps.length, r.stdout);
  rows.forEach((cells, i) => {
    assert.equal(cells.length, 10, lines[i + 1]);
    assert.deepEqual(
      [cells[0], cells[2], cells[5], cells[7], cells[8]],
      ["0", "conn-workload", String(steps[i].sport), String(steps[i].dport), steps[i].result],
    );
    assert.match(cells[9], /^\d+\.\d{3}$/);
  });
});

test(
  "connect filters: -x, -P, -4, -6, --min-latency, -n, -u, -p, -L, -c",
  kernelTest(),
  async () => {
    let last = ""; // the last run's stderr, manifest and records, for failure messages
    const results = (args: string[], quick = true, env: Record<string, string> = {}) => {
      const r = traceWorkload(["--json", ...args], quick, env);
      assert.equal(r.status, 0, r.stderr);
      last = `tracer connect ${args.join(" ")}:\n${r.stderr}manifest: ${
        JSON.stringify([...r.steps])
      }\n${r.stdout}`;
      return parse(r.stdout).map((e) => `${e.dport}:${e.result}`);
    };
    const failed = results(["-x"], false);
    assert.deepEqual(failed.map((s) => s.split(":")[1]), [
      "ECONNREFUSED",
      "EADDRNOTAVAIL",
      "EHOSTUNREACH",
      "EACCES",
      "ENETUNREACH",
      "ETIMEDOUT",
    ], last);
    assert.deepEqual(
      results(["-P", "9,81"], false),
      ["81:EACCES", "9:ETIMEDOUT", "9:pending"],
      last,
    );
    assert.deepEqual(results(["-6"]).map((s) => s.split(":")[1]), ["ok", "ok"]);
    assert.equal(results(["-4"]).length, 9);
    assert.deepEqual(results(["--min-latency", "2000"], false), ["9:ETIMEDOUT"], last);
    assert.deepEqual(results(["-n", "^nomatch"]), []);
    assert.equal(results(["-n", "^conn-work"]).length, 11);
    assert.deepEqual(results(["-u", "65534"]), []);
    assert.deepEqual(results(["-p", "1"]), []);
    assert.deepEqual(results(["-L", "1,2"]), []);
    // -L: the refused step's client binds a port this test chose (free a moment ago).
    const lport = await new Promise<number>((res) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => res(port));
      });
    });
    const lp = results(["-L", `1,${lport}`], true, { CONN_LPORT: String(lport) });
    assert.equal(lp.length, 1, lp.join(" "));
    assert.match(lp[0], /^\d+:ECONNREFUSED$/);
    assert.deepEqual(results(["-c", "2"]).map((s) => s.split(":")[1]), ["ok", "ok"]);
  },
);

/** One loopback connect from a child process (python-free: bash's /dev/tcp). */
function loopbackConnect(port: number): number {
  const r = spawnSync("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`], { encoding: "utf8" });
  return r.pid!;
}

test(
  "connect without CMD: another process's connect is seen; Ctrl-C stops it (status 0) after printing",
  kernelTest(),
  async () => {
    const t = background(["--json"]);
    await t.ready;
    // Port 1 on loopback: nothing listens there (refused).
    const pid = loopbackConnect(1);
    await new Promise((res) => setTimeout(res, 300));
    process.kill(t.child.pid!, "SIGINT");
    assert.equal(await t.exited, 0, t.err());
    const mine = parse(t.out()).filter((e) => e.pid === pid);
    assert.deepEqual(mine.map((e) => [e.comm, e.daddr, e.dport, e.result]), [
      ["bash", "127.0.0.1", 1, "ECONNREFUSED"],
    ]);
  },
);

test("connect -d 1 stops by itself after about a second", kernelTest(), async () => {
  const t = background(["-d", "1"]);
  await t.ready;
  const t0 = performance.now();
  assert.equal(await t.exited, 0, t.err());
  const secs = (performance.now() - t0) / 1000;
  assert.ok(secs > 0.9 && secs < 5, `ran ${secs} s after ready`);
  assert.match(t.out(), /^ +PID COMM +IP SADDR +SPORT DADDR +DPORT RESULT +LAT\(ms\)\n/);
});

test("connect usage errors exit 2 with one line", () => {
  for (
    const [args, msg] of [
      [["--attach", "uprobe"], /--attach is fentry or kprobe or tracepoint/],
      [["-P", "0"], /--port must be between 1 and 65535/],
      [["-P", "1,2,3,4,5,6,7,8,9"], /--port takes at most 8 ports/],
      [["-L", "x"], /--lport expects a number/],
      [["-4", "-6"], /choose one/],
      [["--min-latency", "soon"], /--min-latency expects milliseconds/],
      [["-p", "0"], /--pid must be between/],
      [["stray"], /unexpected argument 'stray'/],
    ] as const
  ) {
    const r = runTracer([...args]);
    assert.equal(r.status, 2, `${args}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
});

test(
  "connect leaves no program, link or map in the kernel after SIGINT, SIGTERM, -c, -d, a closed pipe, perf buffer",
  kernelTest(),
  async () => {
    await assertNoLeftovers(await getPlatform(), "connect", () => loopbackConnect(1), ["-x"]);
  },
);

test("connect | head -1: exits 0 quietly when its output closes", kernelTest(), () => {
  setup();
  const [cmd, argv] = tracerCommandLine("connect", ["--", WORKLOAD, MANIFEST, NETNS_PATH, "quick"]);
  const tracer = [cmd, ...argv].map((a) => `'${a}'`).join(" ");
  const r = inNetns(() => {
    rmSync(MANIFEST, { force: true });
    const r = spawnSync("bash", ["-c", `set -o pipefail; ${tracer} | head -1`], {
      encoding: "utf8",
      cwd: ROOT,
    });
    // The workload runs on after the tracer's exit: wait for its pending child and kill it.
    for (let i = 0; i < 100 && !manifest().has("pending"); i++) spawnSync("sleep", ["0.05"]);
    killPending();
    return r;
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ +PID COMM/);
  assert.equal(r.stdout.split("\n").length, 2);
  assert.doesNotMatch(r.stderr, /error|Error|EPIPE/);
});

test("connect test cleanup: the test's network namespace is gone", () => {
  assert.ok(!existsSync(NETNS_PATH));
});
