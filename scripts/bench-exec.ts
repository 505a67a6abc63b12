// Side-by-side benchmark of `tracer exec` against its peers, in one run on one machine:
// startup (launch to ready), exec-storm capture and slowdown, peak RSS.
//
//   deno run -A scripts/bench-exec.ts [--runs 10] [--storm 20000] [--tracer ./tracer]
//                                     [--perf] [--peer NAME=COMMAND]... [--only A,B]
//
// --perf adds `tracer exec --buffer perf` (the perf-buffer fallback) as "tracer-perf".
//
// Peers by default: libbpf-tools execsnoop (/usr/sbin/execsnoop, Debian's libbpf-tools) and
// bpftrace (Debian 0.17), when installed. `--peer name='cmd args'` adds another tracer binary
// (its ready signal is its first output line). Needs root. Medians and ratios to `tracer` are
// printed as a Markdown table.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { median, rssKb, startUntilReady } from "./bench/launch.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    runs: { type: "string", default: "10" },
    storm: { type: "string", default: "20000" },
    tracer: { type: "string", default: "./tracer" },
    peer: { type: "string", multiple: true, default: [] },
    perf: { type: "boolean", default: false },
    only: { type: "string" },
  },
});
const RUNS = Number(values.runs);
const STORM = Number(values.storm);

interface Peer {
  name: string;
  argv: string[];
  /** A line that says the probes are attached. */
  ready: RegExp;
  /** Counts captured storm events in the output. */
  count: (output: string) => number;
  /** The storm run's command, when it differs (no line buffering needed there). */
  stormArgv?: string[];
  /** Lost events the tool itself reported, if it reports them. */
  lost?: (output: string) => number;
}

// A storm exec shows as a line naming /bin/true (argv or file name; execsnoop reads argv at
// execve entry and often prints it empty, so the arguments cannot be relied on), excluding the
// storm driver's own command line.
const stormLines = (out: string) =>
  out.split("\n").filter((l) => l.includes("/bin/true") && !/storm \d/.test(l)).length;

/** libbpf-tools and bpftrace print "Lost N events ..." per loss (per CPU). */
const sumLost = (out: string) => {
  let n = 0;
  for (const m of out.matchAll(/Lost (\d+) events/g)) n += Number(m[1]);
  return n;
};

const peers: Peer[] = [{
  name: "tracer",
  argv: [values.tracer!, "exec"],
  ready: /^tracer: tracing/m,
  count: stormLines,
  lost: (out) => {
    let n = 0;
    for (const m of out.matchAll(/lost (\d+) events?/g)) n = Math.max(n, Number(m[1]));
    return n;
  },
}];
if (values.perf) {
  peers.push({ ...peers[0], name: "tracer-perf", argv: [...peers[0].argv, "--buffer", "perf"] });
}
if (existsSync("/usr/sbin/execsnoop")) {
  peers.push({
    name: "execsnoop",
    // Line-buffered only to see its header (the ready signal) through the pipe.
    argv: ["stdbuf", "-oL", "/usr/sbin/execsnoop"],
    stormArgv: ["/usr/sbin/execsnoop"],
    ready: /^PCOMM/m,
    count: stormLines,
    lost: sumLost,
  });
}
if (existsSync("/usr/bin/bpftrace")) {
  peers.push({
    name: "bpftrace",
    argv: [
      "/usr/bin/bpftrace",
      "-e",
      'BEGIN { printf("ready\\n"); } tracepoint:sched:sched_process_exec { printf("%s\\n", str(args->filename)); }',
    ],
    ready: /^ready$/m,
    count: stormLines,
    lost: sumLost,
  });
}
for (const p of values.peer!) {
  const eq = p.indexOf("=");
  peers.push({
    name: p.slice(0, eq),
    argv: p.slice(eq + 1).split(" "),
    ready: /./,
    count: stormLines,
  });
}

if (values.only) {
  const keep = values.only.split(",");
  peers.splice(0, peers.length, ...peers.filter((p) => keep.includes(p.name)));
}

/** Starts a tracer; resolves once its ready line appears, with the time it took. */
const start = (peer: Peer) => startUntilReady(peer.name, peer.argv, peer.ready);

const work = mkdtempSync("/tmp/bench-exec-");
const storm = `${work}/storm`;
const cc = spawnSync("gcc", ["-O2", "-o", storm, "scripts/bench/storm.c"], { stdio: "inherit" });
if (cc.status !== 0) throw new Error("cannot build scripts/bench/storm.c");
spawnSync("mount", ["-t", "tracefs", "tracefs", "/sys/kernel/tracing"], { stdio: "ignore" });

function runStorm(): { secs: number; ok: number } {
  const r = spawnSync(storm, [String(STORM), "/bin/true"], { encoding: "utf8" });
  const [secs, ok] = r.stdout.trim().split(" ");
  return { secs: Number(secs), ok: Number(ok) };
}

const rows: string[] = [];
const results: Record<
  string,
  { startup: number; rss: number; stormSecs: number; captured: number; lost: number }
> = {};
const base = runStorm();
console.error(`untraced storm: ${STORM} execs in ${base.secs.toFixed(2)} s`);
for (const peer of peers) {
  const times: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { ms, run } = await start(peer);
    times.push(ms);
    rss.push(rssKb(run.pid, "VmRSS"));
    await run.stop();
  }
  // The storm run writes to files, as an operator capturing a trace would: a pipe into this
  // benchmark would measure how fast the benchmark reads, not the tracer. Readiness: the tool
  // gets three times its median start-up time, and at least a second.
  const outFile = `${work}/${peer.name}.out`;
  const errFile = `${work}/${peer.name}.err`;
  const argv = peer.stormArgv ?? peer.argv;
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ["ignore", openSync(outFile, "w"), openSync(errFile, "w")],
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  await new Promise((r) => setTimeout(r, Math.max(1000, 3 * median(times))));
  const s = runStorm();
  await new Promise((r) => setTimeout(r, 2000));
  const peak = rssKb(child.pid!, "VmHWM");
  process.kill(child.pid!, "SIGINT");
  await exited;
  const out = readFileSync(outFile, "utf8") + readFileSync(errFile, "utf8");
  results[peer.name] = {
    startup: median(times),
    rss: median(rss) / 1024,
    stormSecs: s.secs,
    captured: peer.count(out),
    lost: peer.lost ? peer.lost(out) : NaN,
  };
  results[peer.name].rss = Math.max(results[peer.name].rss, peak / 1024);
  console.error(`${peer.name}: startup median ${median(times).toFixed(1)} ms over ${RUNS} runs`);
}

const t = results["tracer"] ?? Object.values(results)[0];
rows.push(
  "| tool | launch→ready (median ms) | ×tracer | storm time (s) | slowdown vs untraced | captured / " +
    STORM + " | reported lost | peak RSS (MB) |",
  "|---|---|---|---|---|---|---|---|",
);
for (const [name, r] of Object.entries(results)) {
  rows.push(
    `| ${name} | ${r.startup.toFixed(1)} | ${(r.startup / t.startup).toFixed(2)} | ${
      r.stormSecs.toFixed(2)
    } | ${(r.stormSecs / base.secs).toFixed(2)}× | ${r.captured} | ${
      Number.isNaN(r.lost) ? "not reported" : r.lost
    } | ${r.rss.toFixed(1)} |`,
  );
}
console.log(`untraced: ${STORM} fork+exec of /bin/true in ${base.secs.toFixed(2)} s\n`);
console.log(rows.join("\n"));
