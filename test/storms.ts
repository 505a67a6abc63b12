// The load storms of the three tracers, shared by scripts/load.ts (minutes) and
// test/load.test.ts (seconds, in CI): each tracer runs `KIND --json -o FIFO --ring-bytes N
// [filter] -- STORM` against its storm (compiled from scripts/bench/), follows only the storm's
// process tree (in the kernel) and exits when the storm does; its records are read from the
// FIFO as they come and sorted into the storm's (delivered), in-band lost reports, and any
// other record (foreign). The storm says how many events it issued.
//   exec     scripts/bench/storm.c: 2 workers fork+exec /bin/true with a 1500-byte argument
//            (records ~1.6 KiB: two fit a 4 KiB ring); issued = the storm's successful execs
//            + 1, the storm's own exec (`-- CMD` traces the command itself too).
//   open     scripts/bench/openstorm.c: 2 workers open+close one file (--path, in the kernel).
//   connect  scripts/bench/connect-storm.c: loopback connect, accept, close, one after the
//            other; issued = the connect() calls it made.

import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  constants,
  createReadStream,
  openSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { ROOT, tracerCommandLine, tracerEnv } from "./tracer-cli.ts";

export const STORM_KINDS = ["exec", "open", "connect"] as const;
export type StormKind = typeof STORM_KINDS[number];

/** A record of the tracer's output (JSON lines). */
type Rec = Record<string, unknown>;

interface Storm {
  /** The storm's argv after `--` (programs built in `dir` by buildStorms). */
  argv(dir: string, seconds: number): string[];
  /** Extra tracer options (in-kernel filters). */
  options(dir: string): string[];
  /** Events issued, from the storm's own output line. */
  issued(line: string): number;
  /** Whether a record is one of the storm's (given the key it has, see `key`). */
  mine(r: Rec, dir: string): boolean;
  /**
   * Connect: the storm's records are those with the key its output line names (the listener's
   * port), known only at the end; records are counted by key meanwhile.
   */
  key?: { of(r: Rec): string; fromLine(line: string): string };
}

/** Bytes of the exec storm's extra argument. */
const EXEC_PAD = 1500;

const storms: Record<StormKind, Storm> = {
  exec: {
    argv: (dir, s) => [join(dir, "storm"), "0", "/bin/true", String(s), "2", String(EXEC_PAD)],
    options: () => [],
    // "SECONDS OK": the successful execs, + 1 for the storm's own exec.
    issued: (line) => Number(line.split(" ")[1]) + 1,
    mine: (r, dir) =>
      r.type === "exec" &&
      ((r.filename === "/bin/true" && (r.args as string[])[1] === "storm-arg" &&
        (r.args as string[])[2]?.length === EXEC_PAD) ||
        r.filename === join(dir, "storm")),
  },
  open: {
    argv: (dir, s) => [join(dir, "openstorm"), "0", "2", join(dir, "target"), String(s)],
    options: (dir) => ["--path", join(dir, "target")],
    issued: (line) => Number(line.split(" ")[1]), // "SECONDS ISSUED"
    mine: (r, dir) => r.type === "open" && r.path === join(dir, "target") && r.comm === "openstorm",
  },
  connect: {
    argv: (dir, s) => [join(dir, "connect-storm"), "0", String(s)],
    options: () => [],
    issued: (line) => Number(line.split(" ")[3]), // "SECONDS OK PORT CALLS"
    mine: (r) => r.type === "connect" && r.comm === "connect-storm" && r.daddr === "127.0.0.1",
    key: { of: (r) => String(r.dport), fromLine: (line) => line.split(" ")[2] },
  },
};

/** Compiles the three storms into `dir` and makes the open storm's file. */
export function buildStorms(dir: string): void {
  for (
    const [src, out] of [
      ["scripts/bench/storm.c", "storm"],
      ["scripts/bench/openstorm.c", "openstorm"],
      ["scripts/bench/connect-storm.c", "connect-storm"],
    ]
  ) {
    const cc = spawnSync("cc", ["-O2", "-Wall", "-o", join(dir, out), join(ROOT, src)], {
      encoding: "utf8",
    });
    if (cc.status !== 0) throw new Error(`cc ${src}: ${cc.stderr}`);
  }
  writeFileSync(join(dir, "target"), "load\n");
}

export interface StormOptions {
  /** Where buildStorms put the storms; the FIFO is made there too. */
  dir: string;
  seconds: number;
  ringBytes: number;
  buffer: "ring" | "perf";
  /** A tracer binary; default: this runtime on src/main.ts (or TRACER_BIN). */
  bin?: string;
  /** Sample the tracer's RSS this often (ms); 0: never. */
  rssEveryMs?: number;
}

export interface StormRun {
  kind: StormKind;
  /** Wall time of the tracer's run, s. */
  seconds: number;
  issued: number;
  delivered: number;
  /** The exit summary's lost count. */
  lost: number;
  /** The sum of the in-band "lost" records. */
  inBandLost: number;
  /** Records not of the storm. */
  foreign: number;
  /** Live "cannot keep up" lines on stderr. */
  warnings: number;
  status: number | null;
  /** VmRSS samples: seconds since start, KiB. */
  rss: { t: number; kib: number }[];
  stderr: string;
}

/** VmRSS of process `pid` in KiB, or null once it is gone. */
function rssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Runs one tracer against its storm to the end. */
export async function runStorm(kind: StormKind, o: StormOptions): Promise<StormRun> {
  const storm = storms[kind];
  const fifo = join(o.dir, `${kind}-${Date.now()}.fifo`);
  const mk = spawnSync("mkfifo", [fifo], { encoding: "utf8" });
  if (mk.status !== 0) throw new Error(`mkfifo ${fifo}: ${mk.stderr}`);
  const args = [
    "--json",
    "-o",
    fifo,
    "--ring-bytes",
    String(o.ringBytes),
    "--buffer",
    o.buffer,
    ...storm.options(o.dir),
    "--",
    ...storm.argv(o.dir, o.seconds),
  ];
  const [cmd, argv] = o.bin ? [o.bin, [kind, ...args]] : tracerCommandLine(kind, args);
  const t0 = performance.now();
  // tracerEnv: without sudo's SUDO_UID, so the storm runs as this user (it reads files here).
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: tracerEnv(),
  });
  let stdout = "", stderr = "";
  child.stdout!.on("data", (d) => stdout += d);
  child.stderr!.on("data", (d) => stderr += d);
  const exited = new Promise<number | null>((res) => child.on("close", (code) => res(code)));

  let foreign = 0, inBandLost = 0;
  const byKey = new Map<string, number>();
  const firstForeign: string[] = [];
  const classify = (line: string) => {
    const r = JSON.parse(line) as Rec;
    if (r.type === "lost") inBandLost += r.lost as number;
    else if (storm.mine(r, o.dir)) {
      const k = storm.key?.of(r) ?? "";
      byKey.set(k, (byKey.get(k) ?? 0) + 1);
    } else if (foreign++ < 3) firstForeign.push(line.slice(0, 300));
  };
  let rest = "";
  const reader = createReadStream(fifo, { encoding: "utf8", highWaterMark: 1 << 20 });
  const read = new Promise<void>((res, rej) => {
    reader.on("data", (chunk) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const l of lines) if (l) classify(l);
    });
    reader.on("end", () => res());
    reader.on("error", rej);
  });
  // A tracer that failed before opening the FIFO would leave the reader waiting in open():
  // it is then opened (and closed) here, an end of file.
  let opened = false;
  reader.on("open", () => opened = true);
  child.on("close", () => {
    if (!opened) closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  });

  const rss: { t: number; kib: number }[] = [];
  const sampler = o.rssEveryMs
    ? setInterval(() => {
      const kib = rssKiB(child.pid!);
      if (kib !== null) rss.push({ t: (performance.now() - t0) / 1000, kib });
    }, o.rssEveryMs)
    : undefined;
  const status = await exited;
  clearInterval(sampler);
  await read;
  if (rest) classify(rest);
  const stormLine = stdout.trim().split("\n").pop() ?? "";
  const key = storm.key?.fromLine(stormLine) ?? "";
  const delivered = byKey.get(key) ?? 0;
  for (const [k, n] of byKey) if (k !== key) foreign += n;
  const summary = /^tracer: (\d+) events, (\d+) lost/m.exec(stderr);
  if (firstForeign.length) stderr += `foreign records:\n${firstForeign.join("\n")}\n`;
  return {
    kind,
    seconds: (performance.now() - t0) / 1000,
    issued: storm.issued(stormLine),
    delivered,
    lost: summary ? Number(summary[2]) : NaN,
    inBandLost,
    foreign,
    warnings: (stderr.match(/^tracer: cannot keep up: /gm) ?? []).length,
    status,
    rss,
    stderr,
  };
}

/** What is wrong with a run: empty when every event was delivered or counted lost. */
export function stormProblems(r: StormRun): string[] {
  const problems: string[] = [];
  if (r.status !== 0) problems.push(`exit status ${r.status}`);
  if (!(r.issued > 0)) problems.push("the storm issued nothing");
  if (r.delivered + r.lost !== r.issued) {
    problems.push(
      `delivered ${r.delivered} + lost ${r.lost} = ${r.delivered + r.lost} != issued ${r.issued}`,
    );
  }
  if (r.foreign) problems.push(`${r.foreign} records not of the storm`);
  if (r.inBandLost !== r.lost) problems.push(`in-band lost ${r.inBandLost} != summary ${r.lost}`);
  if (r.lost > 0 && r.warnings === 0) problems.push("events lost but no live warning");
  return problems;
}
