// Side-by-side benchmark of `tracer open` against its peers on an open storm: how many of the
// storm's opens each tool delivers, how many it says it lost, how many vanish without a word,
// and how much it slows the storm down.
//
//   deno run -A scripts/bench-open.ts [--opens 1000000] [--workers 1,2] [--rounds 1]
//                                     [--tracer ./tracer] [--only A,B] [--peer NAME=COMMAND]...
//
// Tools by default: `tracer open` ("tracer"), `tracer open --buffer perf` ("tracer-perf") and
// bpftrace (Debian 0.17, a script printing one line per open/openat exit), when installed.
// `--peer name='cmd args'` adds another tool; a peer whose command is libbpf-tools' opensnoop
// (e.g. `--peer opensnoop=/work/peers/bcc/libbpf-tools/opensnoop`, built from bcc's sources:
// Debian's 0.26 opensnoop exits silently on new kernels) is recognised by its header line.
//
// For each tool, worker count and round: scripts/bench/openstorm.c (compiled once) runs
// untraced, then the tool starts with stdout and stderr going to files (a pipe into this
// benchmark would measure how fast the benchmark reads, not the tool), the storm runs again on a
// path unique to the run while the tool traces it, the tool drains (until no new line naming
// that path has appeared for 1 s, at most 60 s) and is stopped with SIGINT. Delivered = output
// lines naming that path; reported lost = what the tool said it lost ("tracer: N events, M lost"
// at exit; "Lost N events" lines from libbpf-tools and bpftrace; 0 from a tool that never says);
// unaccounted = issued - delivered - reported lost: the silent loss. A tool's loss count covers
// every open it dropped, the host's other opens too, so on a busy host unaccounted can dip below
// 0. With --rounds > 1 each column is its own median over the rounds (they need not add up). A
// tool that fails to start gets a "failed" row with the first line of its stderr. `--tracer` may
// carry arguments (`--tracer 'deno run -A src/main.ts'`).
// Needs root; prints a Markdown table.

import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    opens: { type: "string", default: "1000000" },
    workers: { type: "string", default: "1,2" },
    rounds: { type: "string", default: "1" },
    tracer: { type: "string", default: "./tracer" },
    peer: { type: "string", multiple: true, default: [] },
    only: { type: "string" },
  },
});
const OPENS = Number(values.opens);
const WORKERS = values.workers!.split(",").map(Number);
const ROUNDS = Number(values.rounds);
if (!(OPENS > 0) || !(ROUNDS > 0) || !WORKERS.every((w) => w > 0 && Number.isInteger(w))) {
  throw new Error("--opens, --rounds and --workers must be positive numbers");
}

/** Seconds to wait for a tool's ready signal, then for it to exit after SIGINT. */
const READY_TIMEOUT_S = 30;
const EXIT_TIMEOUT_S = 30;
/** The tool has drained once no storm event has shown for this long (at most DRAIN_MAX_S). */
const DRAIN_QUIET_MS = 1000;
const DRAIN_MAX_S = 60;

interface Tool {
  name: string;
  argv: string[];
  /** Says the probes are attached: a match in the tool's stdout or stderr. */
  ready: { stream: "stdout" | "stderr"; re: RegExp };
  /**
   * Fully-buffered stdout (a C tool writing to a file) shows nothing until some kilobytes of
   * events have been printed. A primed tool is fed opens of a canary file until the canary shows
   * in its output (as well as its ready signal): proof that events flow.
   */
  prime: boolean;
  /** Lost events the tool itself reported; undefined when it printed no count at all. */
  lost: (stdout: { lostSum: number }, stderr: string) => number | undefined;
}

/** libbpf-tools and bpftrace print "Lost N events ..." per loss (per CPU). */
const sumLost = (text: string) => {
  let n = 0;
  for (const m of text.matchAll(/Lost (\d+) events/g)) n += Number(m[1]);
  return n;
};
const peerLost = (out: { lostSum: number }, err: string) => out.lostSum + sumLost(err);

const tools: Tool[] = [{
  name: "tracer",
  argv: [...values.tracer!.split(" ").filter((a) => a), "open"],
  ready: { stream: "stderr", re: /^tracer: tracing open/m },
  prime: false,
  // The exit summary: "tracer: N events, M lost ...".
  lost: (_out, err) => {
    const all = [...err.matchAll(/^tracer: (\d+) events?, (\d+) lost/gm)];
    return all.length ? Number(all[all.length - 1][2]) : undefined;
  },
}];
tools.push({ ...tools[0], name: "tracer-perf", argv: [...tools[0].argv, "--buffer", "perf"] });
if (existsSync("/usr/bin/bpftrace")) {
  // The file name is read at entry (keyed by thread) and printed at exit with the result, as
  // opensnoop does. glibc's open() is openat on x86_64; open is there for completeness.
  const script = [
    "tracepoint:syscalls:sys_enter_open,tracepoint:syscalls:sys_enter_openat",
    "{ @file[tid] = args->filename; }",
    "tracepoint:syscalls:sys_exit_open,tracepoint:syscalls:sys_exit_openat /@file[tid]/",
    '{ printf("%d %s %d %s\\n", pid, comm, args->ret, str(@file[tid])); delete(@file[tid]); }',
    "END { clear(@file); }",
  ].join("\n");
  tools.push({
    name: "bpftrace",
    argv: ["/usr/bin/bpftrace", "-e", script],
    ready: { stream: "stdout", re: /^Attaching \d+ probes/m },
    prime: false,
    lost: peerLost,
  });
}
for (const p of values.peer!) {
  const eq = p.indexOf("=");
  if (eq <= 0) throw new Error(`--peer wants NAME=COMMAND, got ${p}`);
  const argv = p.slice(eq + 1).split(" ").filter((a) => a);
  const opensnoop = /(^|\/)opensnoop$/.test(argv[0]);
  tools.push({
    name: p.slice(0, eq),
    argv,
    // libbpf-tools opensnoop prints its header ("PID    COMM  FD ERR PATH") to stdout after
    // attaching; any other peer is ready once it prints anything.
    ready: { stream: "stdout", re: opensnoop ? /^PID\s/m : /\S/ },
    prime: true,
    lost: peerLost,
  });
}
if (values.only) {
  const keep = values.only.split(",");
  tools.splice(0, tools.length, ...tools.filter((t) => keep.includes(t.name)));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * Reads a growing output file incrementally (each byte once): lines naming `needle`, and the sum
 * of "Lost N events" lines.
 */
class OutputScanner {
  count = 0;
  lostSum = 0;
  #offset = 0;
  #rest = "";
  #dec = new TextDecoder();
  #buf = new Uint8Array(1 << 20);
  constructor(readonly path: string, readonly needle: string) {}

  /** Reads what has been appended since the last call; `final` also takes an unfinished line. */
  poll(final = false): this {
    const fd = openSync(this.path, "r");
    try {
      for (;;) {
        const n = readSync(fd, this.#buf, 0, this.#buf.length, this.#offset);
        if (n <= 0) break;
        this.#offset += n;
        const lines = (this.#rest + this.#dec.decode(this.#buf.subarray(0, n), { stream: true }))
          .split("\n");
        this.#rest = lines.pop()!;
        lines.forEach((l) => this.#line(l));
      }
    } finally {
      closeSync(fd);
    }
    if (final) {
      this.#line(this.#rest + this.#dec.decode());
      this.#rest = "";
    }
    return this;
  }

  #line(l: string) {
    if (l.includes(this.needle)) this.count++;
    else if (l.includes("Lost ")) this.lostSum += sumLost(l);
  }
}

/** The first line of a failed tool's stderr worth showing (bpftrace's RLIMIT notice is not). */
function firstLine(err: string, out: string): string {
  const lines = (err + "\n" + out).split("\n").map((l) => l.trim());
  return lines.find((l) => l && !/RLIMIT_MEMLOCK/.test(l)) ?? "(no output)";
}

const work = mkdtempSync("/tmp/bench-open-");
const openstorm = `${work}/openstorm`;
const cc = spawnSync("cc", ["-O2", "-Wall", "-o", openstorm, "scripts/bench/openstorm.c"], {
  stdio: "inherit",
});
if (cc.status !== 0) throw new Error("cannot build scripts/bench/openstorm.c");
spawnSync("mount", ["-t", "tracefs", "tracefs", "/sys/kernel/tracing"], { stdio: "ignore" });

function runStorm(opens: number, workers: number, path: string): { secs: number; issued: number } {
  const r = spawnSync(openstorm, [String(opens), String(workers), path], { encoding: "utf8" });
  const [secs, issued] = (r.stdout ?? "").trim().split(" ").map(Number);
  if (r.status !== 0 || !(secs > 0)) {
    throw new Error(`openstorm ${opens} ${workers} ${path} failed: ${r.stderr || r.error}`);
  }
  return { secs, issued };
}

interface Round {
  issued: number;
  delivered: number;
  /** undefined: the tool printed no loss count (counted as 0 lost). */
  lost: number | undefined;
  baseSecs: number;
  stormSecs: number;
  drainSecs: number;
}

/** One traced storm. Throws an Error whose message is the row's failure text. */
async function round(tool: Tool, workers: number): Promise<Round> {
  const dir = mkdtempSync("/tmp/openstorm-");
  const target = `${dir}/target-file`;
  const canary = `${dir}/canary`;
  writeFileSync(target, "openstorm\n");
  writeFileSync(canary, "canary\n");
  const outFile = `${work}/${tool.name}-${workers}.out`;
  const errFile = `${work}/${tool.name}-${workers}.err`;
  try {
    const base = runStorm(OPENS, workers, target);

    const outFd = openSync(outFile, "w");
    const errFd = openSync(errFile, "w");
    const child = spawn(tool.argv[0], tool.argv.slice(1), { stdio: ["ignore", outFd, errFd] });
    closeSync(outFd);
    closeSync(errFd);
    let exitCode: number | string | null | undefined;
    let spawnError: Error | undefined;
    const exited = new Promise<void>((resolve) => {
      child.on("exit", (code, signal) => {
        exitCode = code ?? signal;
        resolve();
      });
      child.on("error", (e) => {
        spawnError = e;
        exitCode = "spawn error";
        resolve();
      });
    });
    const fail = (why: string) =>
      new Error(
        `failed: ${spawnError ? spawnError.message : why}: ${
          firstLine(readText(errFile), readText(outFile).slice(0, 4096))
        }`,
      );

    // Ready: the tool's signal (and, when primed, the canary) appears in its output.
    const t0 = performance.now();
    for (;;) {
      if (exitCode !== undefined) throw fail(`exited (${exitCode}) before ready`);
      const text = readText(tool.ready.stream === "stdout" ? outFile : errFile);
      if (tool.ready.re.test(text) && (!tool.prime || readText(outFile).includes(canary))) break;
      if (performance.now() - t0 > READY_TIMEOUT_S * 1000) {
        child.kill("SIGKILL");
        await exited;
        throw fail(`not ready after ${READY_TIMEOUT_S} s`);
      }
      if (tool.prime) runStorm(256, 1, canary);
      await sleep(tool.prime ? 100 : 20);
    }

    const s = runStorm(OPENS, workers, target);

    // Drain: until no new line naming the storm's path has appeared for DRAIN_QUIET_MS (at most
    // DRAIN_MAX_S). Not "until the file stops growing": the tool also prints every other open on
    // the host, which on a busy host never stops.
    const scan = new OutputScanner(outFile, target);
    const d0 = performance.now();
    let quietSince = performance.now();
    let seen = scan.poll().count;
    while (performance.now() - quietSince < DRAIN_QUIET_MS && exitCode === undefined) {
      if (performance.now() - d0 > DRAIN_MAX_S * 1000) break;
      await sleep(100);
      if (scan.poll().count !== seen) {
        seen = scan.count;
        quietSince = performance.now();
      }
    }
    const drainSecs = (performance.now() - d0 - DRAIN_QUIET_MS) / 1000;
    if (exitCode !== undefined) throw fail(`exited (${exitCode}) during the storm`);

    child.kill("SIGINT");
    const killer = setTimeout(() => child.kill("SIGKILL"), EXIT_TIMEOUT_S * 1000);
    await exited;
    clearTimeout(killer);

    scan.poll(true);
    return {
      issued: s.issued,
      delivered: scan.count,
      lost: tool.lost(scan, readText(errFile)),
      baseSecs: base.secs,
      stormSecs: s.secs,
      drainSecs: Math.max(0, drainSecs),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outFile, { force: true });
    rmSync(errFile, { force: true });
  }
}

const rows: string[] = [
  "| tool | workers | issued | delivered | reported lost | unaccounted | delivered events/s | " +
  "untraced (s) | traced (s) | slowdown | drain (s) |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
];
for (const tool of tools) {
  for (const workers of WORKERS) {
    const rounds: Round[] = [];
    let failure: string | undefined;
    for (let i = 0; i < ROUNDS && !failure; i++) {
      try {
        rounds.push(await round(tool, workers));
      } catch (e) {
        failure = (e as Error).message;
        if (!failure.startsWith("failed")) throw e;
      }
    }
    if (failure) {
      console.error(`${tool.name}, ${workers} worker(s): ${failure}`);
      rows.push(`| ${tool.name} | ${workers} | ${failure.replaceAll("|", "\\|")} |`);
      continue;
    }
    const m = (f: (r: Round) => number) => median(rounds.map(f));
    const issued = m((r) => r.issued);
    const delivered = m((r) => r.delivered);
    const reported = rounds.some((r) => r.lost !== undefined);
    const lost = m((r) => r.lost ?? 0);
    const unaccounted = m((r) => r.issued - r.delivered - (r.lost ?? 0));
    const pct = (n: number) => `${((100 * n) / issued).toFixed(1)}%`;
    rows.push(
      `| ${tool.name} | ${workers} | ${issued} | ${delivered} (${pct(delivered)}) | ${
        reported ? `${lost} (${pct(lost)})` : "0 (no count printed)"
      } | ${unaccounted} (${pct(unaccounted)}) | ${
        Math.round(m((r) => r.delivered / r.stormSecs))
      } | ${m((r) => r.baseSecs).toFixed(3)} | ${m((r) => r.stormSecs).toFixed(3)} | ${
        m((r) => r.stormSecs / r.baseSecs).toFixed(2)
      }× | ${m((r) => r.drainSecs).toFixed(1)} |`,
    );
    console.error(
      `${tool.name}, ${workers} worker(s): ${delivered}/${issued} delivered (${ROUNDS} rounds)`,
    );
  }
}
rmSync(work, { recursive: true, force: true });

console.log(
  `open storm: ${OPENS} open+close of one file per run, ${ROUNDS} round(s)` +
    `${
      ROUNDS > 1 ? " (medians)" : ""
    }, on ${(readText("/proc/sys/kernel/osrelease").trim() || "?")}\n`,
);
console.log(rows.join("\n"));
