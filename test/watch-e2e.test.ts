// End to end: `tracer watch` (this runtime running src/main.ts, or the compiled binary of
// TRACER_BIN) runs the exec, open and connect tracers in one process over a workload whose
// every exec, open and connect is known (test/fixtures/watch/workload.c, statically linked),
// connecting only to loopback listeners this test starts. It must report exactly those
// records, every field, in the order the kernel stamped them.
// Cost: about 20-30 s per runtime (about 20 tracer runs of ~1 s, a 1 s storm, usage errors).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer, type Server } from "node:net";
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { kernelTest, scratchDir } from "./env.ts";
import { buildStorms } from "./storms.ts";
import { getPlatform } from "../src/platform/index.ts";
import {
  assertNoLeftovers,
  backgroundTracer,
  cgroupId,
  compile,
  jsonLines,
  mntns,
  ownContext,
  procAncestors,
  ROOT,
  runTracer,
} from "./tracer-cli.ts";

const tmp = realpathSync(scratchDir("watch-e2e-"));
const WORKLOAD = join(tmp, "watch-workload");
const DIR = join(tmp, "d");
const STATUS = 5; // the workload's exit status

let built = false;
function build(): void {
  if (built) return;
  compile(join(ROOT, "test/fixtures/watch/workload.c"), WORKLOAD, ["-static", "-O1"]);
  mkdirSync(DIR, { recursive: true });
  writeFileSync(join(DIR, "a.txt"), "a\n");
  built = true;
}

/** Runs fn with TCP listeners on 127.0.0.1 and ::1 (ports chosen by the kernel). */
async function withListeners<T>(fn: (v4: number, v6: number) => T | Promise<T>): Promise<T> {
  const listen = (host: string) =>
    new Promise<Server>((res, rej) => {
      const srv = createServer((sock) => sock.destroy()).on("error", rej);
      srv.listen(0, host, () => res(srv));
    });
  const l4 = await listen("127.0.0.1");
  const l6 = await listen("::1");
  try {
    const port = (s: Server) => (s.address() as { port: number }).port;
    return await fn(port(l4), port(l6));
  } finally {
    await Promise.all([l4, l6].map((s) => new Promise((res) => s.close(res))));
  }
}

interface Step {
  pid: number;
  ret: number;
  sport: number;
  dport: number;
}

/** The workload's report (its stdout): step name -> pid, result, ports. */
function steps(stdout: string): Map<string, Step> {
  const m = new Map<string, Step>();
  for (const line of stdout.split("\n")) {
    const [tag, name, pid, ret, sport, dport] = line.split(" ");
    if (tag !== "step") continue;
    m.set(name, { pid: +pid, ret: +ret, sport: +sport, dport: +dport });
  }
  return m;
}

/** Runs `tracer watch ARGS -- WORKLOAD DIR PORT4 PORT6 [mode]` with its output in a file. */
async function traceWorkload(args: string[], mode?: string) {
  build();
  return await withListeners((v4, v6) => {
    const out = join(tmp, "out");
    const r = runTracer("watch", [
      "-o",
      out,
      ...args,
      "--",
      WORKLOAD,
      DIR,
      String(v4),
      String(v6),
      ...(mode ? [mode] : []),
    ]);
    return { ...r, steps: steps(r.stdout), output: readFileSync(out, "utf8"), v4, v6, mode };
  });
}

type Run = Awaited<ReturnType<typeof traceWorkload>>;

const ECONNREFUSED = 111;

/**
 * Every record the workload must produce, in time order, without time and time_ns (and
 * latency_us). `tracers`: the ones running; `big`: the "big" mode's records that fit (the
 * long-path open and the child's exec do not fit a 4 KiB ring).
 */
function expectedRecords(r: Run, tracers = ["exec", "open", "connect"]) {
  const s = (name: string) => {
    const step = r.steps.get(name);
    assert.ok(step, `the workload reported no step ${name}: ${r.stdout}\n${r.stderr}`);
    return step;
  };
  const pid = s("open-a").pid, child = s("child-exec").ret;
  const ids = { cgroup_id: cgroupId(), mntns_id: mntns(), ...ownContext() };
  // Above the workload: the tracer, then this test process and its ancestors (/proc now).
  const tracerUp = [{ pid: r.pid!, comm: r.runtimeComm }, ...procAncestors(process.pid)];
  const netns = Number(
    /\[(\d+)\]/.exec(
      spawnSync("readlink", ["/proc/self/ns/net"], {
        encoding: "utf8",
      }).stdout,
    )![1],
  );
  const exec = (p: number, ppid: number, pcomm: string, args: string[]) => ({
    type: "exec",
    pid: p,
    tid: p,
    ppid,
    uid: 0,
    gid: 0,
    comm: "watch-workload",
    pcomm,
    filename: WORKLOAD,
    args,
    args_truncated: false,
    ret: 0,
    error: null,
    ...ids,
    ancestors: (ppid === r.pid ? tracerUp : [{ pid: ppid, comm: pcomm }, ...tracerUp]).slice(0, 16),
  });
  const open = (
    step: string,
    p: number,
    path: string,
    flags: string,
    raw: number,
    mode: number | null,
  ) => {
    const ret = s(step).ret;
    return {
      type: "open",
      pid: p,
      tid: p,
      uid: 0,
      comm: "watch-workload",
      path,
      path_truncated: false,
      dirfd: null,
      flags,
      flags_raw: raw,
      mode,
      syscall: "openat",
      fd: ret < 0 ? null : ret,
      ret,
      error: ret === -2 ? "ENOENT" : null,
      ...ids,
    };
  };
  const connect = (step: string, family: 4 | 6, addr: string) => {
    const { sport, dport, ret } = s(step);
    const result = ret === 0 ? "ok" : ret === -ECONNREFUSED ? "ECONNREFUSED" : `errno ${ret}`;
    return {
      type: "connect",
      pid,
      tid: pid,
      uid: 0,
      comm: "watch-workload",
      family,
      saddr: addr,
      sport,
      daddr: addr,
      dport,
      result,
      error: result === "ok" ? null : result,
      ...ids,
      netns_id: netns,
    };
  };
  const all = [
    exec(
      pid,
      r.pid!,
      r.runtimeComm,
      [WORKLOAD, DIR, String(r.v4), String(r.v6)].concat(r.mode ?? []),
    ),
    open("open-a", pid, `${DIR}/a.txt`, "O_RDONLY", 0, null),
    connect("connect-ok", 4, "127.0.0.1"),
    open("open-missing", pid, `${DIR}/missing`, "O_RDONLY", 0, null),
    connect("connect-refused", 4, "127.0.0.1"),
    exec(child, pid, "watch-workload", [WORKLOAD, "child", DIR]),
    open("child-create", child, `${DIR}/b.txt`, "O_WRONLY|O_CREAT|O_TRUNC", 577, 0o640),
    connect("connect-v6", 6, "::1"),
  ];
  return all.filter((rec) => tracers.includes(rec.type));
}

/** The records of a JSON run without the fields only the clock decides. */
const stripTimes = (records: Record<string, unknown>[]) =>
  records.map(({ time: _t, time_ns: _n, latency_us: _l, ...rest }) => rest);

/** Checks the workload's own report: what the kernel did, before checking the tracer. */
function checkSteps(r: Run, big = false): void {
  assert.deepEqual(
    [...r.steps].map(([name, s]) => [name, s.ret >= 0 ? "ok" : s.ret]),
    [
      ["open-a", "ok"],
      ["connect-ok", "ok"],
      ["open-missing", -2],
      ...(big ? [["open-long", -2]] : []),
      ["connect-refused", -ECONNREFUSED],
      ["child-create", "ok"],
      ["child-exec", "ok"],
      ["connect-v6", "ok"],
    ],
    r.stderr,
  );
}

test(
  "watch --json -- WORKLOAD: exactly the workload's execs, opens and connects, in time order, every field",
  kernelTest(),
  async () => {
    const before = Date.now();
    const r = await traceWorkload(["--json"]);
    const after = Date.now();
    assert.equal(r.status, STATUS, `exit status is the workload's (stderr: ${r.stderr})`);
    checkSteps(r);
    const records = jsonLines(r.output);
    assert.deepEqual(stripTimes(records), expectedRecords(r), r.stderr);
    // Kernel time order across the three buffers; one wall-clock offset, close to now.
    for (let i = 1; i < records.length; i++) {
      assert.ok(records[i].time_ns > records[i - 1].time_ns, `record ${i} out of order`);
    }
    for (const e of records) {
      const at = Date.parse(e.time);
      assert.ok(at >= before - 20 && at <= after + 20, `${e.time} not in [${before}, ${after}]`);
    }
    for (const e of records.filter((e) => e.type === "connect")) assert.ok(e.latency_us > 0);
    // One ready line naming the three tracers; the summary counts each.
    assert.match(
      r.stderr,
      /^tracer: tracing exec, open, connect \(\d+ programs attached, connect: \w+ strategy\), running /m,
    );
    assert.match(
      r.stderr,
      /^tracer: 8 events, 0 lost \(exec: 2 events, 0 lost; open: 3 events, 0 lost; connect: 3 events, 0 lost\)$/m,
    );
  },
);

test("watch --buffer perf: the same exact records, in time order", kernelTest(), async () => {
  const r = await traceWorkload(["--json", "--buffer", "perf"]);
  assert.equal(r.status, STATUS, r.stderr);
  checkSteps(r);
  assert.deepEqual(stripTimes(jsonLines(r.output)), expectedRecords(r), r.stderr);
  assert.match(r.stderr, /^tracer: tracing exec, open, connect \(.*, perf buffer\), running /m);
});

test(
  "watch (table) -- WORKLOAD: TYPE, PID, COMM and each tracer's DETAIL",
  kernelTest(),
  async () => {
    const r = await traceWorkload(["-U"]);
    assert.equal(r.status, STATUS, r.stderr);
    checkSteps(r);
    const lines = r.output.trimEnd().split("\n");
    assert.equal(lines[0], "   UID TYPE        PID COMM             DETAIL");
    const s = (name: string) => r.steps.get(name)!;
    const pid = s("open-a").pid, child = s("child-exec").ret;
    const row = (type: string, p: number, detail: string) =>
      `${"0".padStart(6)} ${type.padEnd(7)} ${String(p).padStart(7)} ${
        "watch-workload".padEnd(16)
      } ${detail}`;
    const conn = (
      step: string,
      addr: (a: string, port: number) => string,
      host: string,
      result: string,
    ) =>
      row(
        "connect",
        pid,
        `${addr(host, s(step).sport)} -> ${addr(host, s(step).dport)} ${result} `,
      );
    const v4 = (a: string, port: number) => `${a}:${port}`;
    const v6 = (a: string, port: number) => `[${a}]:${port}`;
    const expected = [
      row("exec", pid, `${WORKLOAD} ${DIR} ${r.v4} ${r.v6}`),
      row("open", pid, `O_RDONLY ${DIR}/a.txt`),
      conn("connect-ok", v4, "127.0.0.1", "ok"),
      row("open", pid, `O_RDONLY ${DIR}/missing (ENOENT)`),
      conn("connect-refused", v4, "127.0.0.1", "ECONNREFUSED"),
      row("exec", child, `${WORKLOAD} child ${DIR}`),
      row("open", child, `O_WRONLY|O_CREAT|O_TRUNC ${DIR}/b.txt`),
      conn("connect-v6", v6, "::1", "ok"),
    ];
    assert.equal(lines.length - 1, expected.length, r.output);
    expected.forEach((want, i) => {
      const line = lines[i + 1];
      // A connect's detail ends in its latency.
      if (want.endsWith(" ")) {
        assert.ok(line.startsWith(want), `${line}\n${want}`);
        assert.match(line.slice(want.length), /^\d+\.\d{3}ms$/);
      } else {
        assert.equal(line, want);
      }
    });
  },
);

test(
  "watch --ring-bytes 4096: records too big for the ring are counted as lost, per tracer",
  kernelTest(),
  async () => {
    const r = await traceWorkload(["--json", "--ring-bytes", "4096"], "big");
    assert.equal(r.status, STATUS, r.stderr);
    checkSteps(r, true);
    const records = jsonLines(r.output);
    // The child's exec (a 6000-byte argument) and the 4090-byte path's open did not fit.
    const expected = expectedRecords(r).filter((e) =>
      !(e.type === "exec" && e.pid === r.steps.get("child-exec")!.ret)
    );
    assert.deepEqual(stripTimes(records.filter((e) => e.type !== "lost")), expected, r.stderr);
    const lost = records.filter((e) => e.type === "lost");
    assert.deepEqual(
      lost.map((e) => [e.tracer, e.lost, e.lost_total]).sort(),
      [["exec", 1, 1], ["open", 1, 1]],
    );
    assert.match(
      r.stderr,
      /^tracer: 7 events, 2 lost \(exec: 1 events, 1 lost; open: 3 events, 1 lost; connect: 3 events, 0 lost\)$/m,
    );
  },
);

test(
  "watch filters: -p, -u, -n, -c and --tracers apply to every tracer",
  kernelTest(),
  async () => {
    let last = "";
    const types = async (args: string[]) => {
      const r = await traceWorkload(["--json", ...args]);
      assert.equal(r.status, STATUS, r.stderr);
      last = `tracer watch ${args.join(" ")}:\n${r.stderr}${r.output}`;
      return { r, records: jsonLines(r.output) };
    };
    for (const args of [["-p", "1"], ["-u", "65534"], ["-n", "^nomatch"]]) {
      assert.deepEqual((await types(args)).records, [], last);
    }
    const named = await types(["-n", "^watch-w"]);
    assert.deepEqual(stripTimes(named.records), expectedRecords(named.r), last);
    const some = await types(["--tracers", "connect,exec"]);
    assert.deepEqual(
      stripTimes(some.records),
      expectedRecords(some.r, ["exec", "connect"]),
      last,
    );
    assert.match(some.r.stderr, /^tracer: tracing connect, exec \(/m);
    assert.match(
      some.r.stderr,
      /^tracer: 5 events, 0 lost \(connect: 3 events, 0 lost; exec: 2 events, 0 lost\)$/m,
    );
    // -c counts the merged stream: the first three records in time order.
    const counted = await types(["-c", "3"]);
    assert.deepEqual(counted.records.map((e) => e.type), ["exec", "open", "connect"], last);
  },
);

test(
  "watch -p PID (no CMD): exactly that process's opens and connects, not its child's exec",
  kernelTest(),
  async () => {
    build();
    await withListeners(async (v4, v6) => {
      const w = spawn(WORKLOAD, [DIR, String(v4), String(v6), "wait"], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      let out = "";
      w.stdout!.on("data", (d) => out += d);
      const done = new Promise((res) => w.on("exit", res));
      const t = backgroundTracer("watch", ["--json", "-p", String(w.pid)]);
      try {
        await t.ready;
        w.stdin!.end("x");
        assert.equal(await done, STATUS);
        await new Promise((res) => setTimeout(res, 300));
      } finally {
        process.kill(t.child.pid!, "SIGINT");
      }
      assert.equal(await t.exited, 0, t.err());
      const s = steps(out);
      const records = jsonLines(t.out());
      assert.deepEqual(
        records.map((
          e,
        ) => [e.type, e.pid, e.type === "open" ? e.ret : e.type === "connect" ? e.sport : 0]),
        [
          ["open", w.pid, s.get("open-a")!.ret],
          ["connect", w.pid, s.get("connect-ok")!.sport],
          ["open", w.pid, -2],
          ["connect", w.pid, s.get("connect-refused")!.sport],
          ["connect", w.pid, s.get("connect-v6")!.sport],
        ],
        t.err(),
      );
    });
  },
);

test(
  "watch: a tracer the kernel refuses (connect --attach fentry here) is said in one line and left out",
  kernelTest(),
  async () => {
    build();
    // Ask the kernel first: does `tracer connect` attach with fentry here?
    const probe = runTracer("connect", ["--attach", "fentry", "-d", "0.1"]);
    const r = await traceWorkload(["--json", "--attach", "fentry"]);
    assert.equal(r.status, STATUS, r.stderr);
    checkSteps(r);
    if (probe.status === 0) {
      assert.deepEqual(stripTimes(jsonLines(r.output)), expectedRecords(r), r.stderr);
      assert.match(r.stderr, /, connect: fentry strategy\)/);
      return;
    }
    assert.equal(probe.status, 1, probe.stderr);
    assert.deepEqual(
      stripTimes(jsonLines(r.output)),
      expectedRecords(r, ["exec", "open"]),
      r.stderr,
    );
    const refusals = r.stderr.split("\n").filter((l) => l.includes("connect"));
    assert.equal(refusals.length, 2, r.stderr); // the refusal, and the summary naming it
    assert.match(refusals[0], /^tracer: connect: not traced: .*EPERM/);
    assert.match(r.stderr, /^tracer: tracing exec, open \(/m);
    assert.match(r.stderr, /; connect: not traced\)$/m);
    // With no other tracer: nothing can run, exit 1.
    const alone = runTracer("watch", ["--tracers", "connect", "--attach", "fentry", "-d", "0.1"]);
    assert.equal(alone.status, 1, alone.stderr);
    assert.match(alone.stderr, /^tracer watch: none of connect could attach on this kernel$/m);
  },
);

test(
  "watch --ring-bytes 4096 over an exec storm and a connect storm at once: delivered + lost = issued per tracer, in time order",
  kernelTest(),
  () => {
    const dir = scratchDir("watch-storm-");
    buildStorms(dir);
    const out = join(dir, "out");
    // Both storms at once for 1 s, as children of one shell: exec /bin/true with a 1500-byte
    // argument (two records fill the 4 KiB ring) and loopback connects.
    const script = `"${dir}/storm" 0 /bin/true 1 2 1500 & "${dir}/connect-storm" 0 1 & wait`;
    const r = runTracer("watch", [
      "--json",
      "-o",
      out,
      "--tracers",
      "exec,connect",
      "--ring-bytes",
      "4096",
      "--",
      "bash",
      "-c",
      script,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n").map((l) => l.split(" "));
    const execOk = Number(lines.find((l) => l.length === 2)![1]);
    const connectCalls = Number(lines.find((l) => l.length === 4)![3]);
    const records = jsonLines(readFileSync(out, "utf8"));
    const summary =
      /^tracer: (\d+) events, (\d+) lost \(exec: (\d+) events, (\d+) lost[^;]*; connect: (\d+) events, (\d+) lost/m
        .exec(r.stderr);
    assert.ok(summary, r.stderr);
    const [, , , execPrinted, execLost, connPrinted, connLost] = summary.map(Number);
    const of = (type: string) => records.filter((e) => e.type === type);
    const inBand = (tracer: string) =>
      of("lost").filter((e) => e.tracer === tracer).reduce((n, e) => n + e.lost, 0);
    const what = `exec: ${execOk} ok, connect: ${connectCalls} calls; ${r.stderr}`;
    // Every exec (the storm's, and bash, storm and connect-storm themselves) and every connect
    // call: printed or counted lost, each by its own tracer, in-band and in the summary alike.
    assert.equal(of("exec").length, execPrinted, what);
    assert.equal(of("connect").length, connPrinted, what);
    assert.equal(execPrinted + execLost, execOk + 3, what);
    assert.equal(connPrinted + connLost, connectCalls, what);
    assert.equal(inBand("exec"), execLost, what);
    assert.equal(inBand("connect"), connLost, what);
    assert.ok(execLost > 0 && execPrinted > 0 && connPrinted > 0, what);
    // One stream in kernel-time order throughout.
    const stamped = records.filter((e) => e.type !== "lost");
    for (let i = 1; i < stamped.length; i++) {
      assert.ok(stamped[i].time_ns >= stamped[i - 1].time_ns, `record ${i} out of order`);
    }
  },
);

test("watch usage errors exit 2 with one line; --help exits 0", () => {
  for (
    const [args, msg] of [
      [["--tracers", ""], /--tracers has an empty name/],
      [
        ["--tracers", "exec,files"],
        /--tracers: no tracer 'files' \(choose from exec, open, connect\)/,
      ],
      [["--tracers", "open,open"], /--tracers names 'open' twice/],
      [["--hooks", "kprobe"], /--hooks is tp_btf or tracepoint/],
      [["--attach", "uprobe"], /--attach is fentry or kprobe or tracepoint/],
      [["-p", "0"], /--pid must be between/],
      [["--path", "/tmp"], /Unknown option '--path'/],
      [["stray"], /unexpected argument 'stray'/],
    ] as const
  ) {
    const r = runTracer("watch", [...args]);
    assert.equal(r.status, 2, `${args}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  const help = runTracer("watch", ["--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: tracer watch /);
});

test(
  "watch leaves no program, link or map in the kernel after SIGINT, SIGTERM, -c, -d, a closed pipe, perf buffer",
  kernelTest(),
  async () => {
    await assertNoLeftovers(await getPlatform(), "watch", () => {
      spawnSync("/bin/true");
    });
  },
);
