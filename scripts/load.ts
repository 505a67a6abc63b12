// Load test of the three tracers: each runs for minutes against its storm with a small event
// buffer, and every event the storm issued must be delivered or counted lost, exactly; the
// tracer's RSS is sampled every second and must stay flat after warm-up.
//
//   sudo deno run -A scripts/load.ts [--seconds 180] [--only exec,open,connect]
//                                    [--ring-bytes 4096] [--buffer ring|perf] [--warmup 20]
//                                    [--tracer ./tracer]
//
// The tracer is src/main.ts on the runtime running this script (deno or bun), or the binary
// given by --tracer. Per tracer, `tracer KIND --json -o FIFO --ring-bytes N [filter] -- STORM`
// runs the storm (compiled from scripts/bench/ into a temporary directory) for --seconds; the
// tracer follows only the storm's process tree (in the kernel), exits when the storm does,
// and this script reads its records from the FIFO as they come:
//   exec     scripts/bench/storm.c: 2 workers fork+exec /bin/true with a 1500-byte argument
//            (records ~1.6 KiB: two fit a 4 KiB ring); issued = the storm's successful execs
//            + 1, the storm's own exec by the tracer (`-- CMD`), which is traced too.
//   open     scripts/bench/openstorm.c: 2 workers open+close one file (--path, in the kernel).
//   connect  scripts/bench/connect-storm.c: loopback connect, accept, close; issued = the
//            connect() calls it made.
// Delivered = records of the storm (exec: argument "storm-arg", or the storm itself; open: the
// storm's path; connect: the storm's comm and listener port); any other record is "foreign"
// and fails the run. Lost = the tracer's exit summary ("tracer: N events, M lost"), which must
// equal the sum of its in-band "lost" records. The check: delivered + lost = issued, exactly,
// no foreign record, exit status 0, and, when something was lost, at least one live
// "cannot keep up" line on stderr. RSS (VmRSS of the tracer's process) is sampled every second;
// after --warmup seconds: the first sample, the median, the maximum and the least-squares
// growth (MiB per minute). Prints one Markdown table; exits 1 when a check failed.

import { spawn, spawnSync } from "node:child_process";
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: "string", default: "180" },
    warmup: { type: "string" },
    only: { type: "string", default: "exec,open,connect" },
    "ring-bytes": { type: "string", default: "4096" },
    buffer: { type: "string", default: "ring" },
    tracer: { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
/** Warm-up: 20 s, or a third of a short run. */
const WARMUP = values.warmup !== undefined ? Number(values.warmup) : Math.min(20, SECONDS / 3);
const KINDS = values.only!.split(",");
if (!(SECONDS > 0) || !(WARMUP >= 0)) throw new Error("--seconds and --warmup: numbers");

/** A record of the tracer's output (JSON lines). */
type Rec = Record<string, unknown>;

interface Storm {
  /** The storm's argv after `--` (files made in `dir`). */
  argv(dir: string): string[];
  /** Extra tracer options (in-kernel filters). */
  options(dir: string): string[];
  /** Events issued, from the storm's own output line. */
  issued(line: string): number;
  /** Whether a record is one of the storm's (given what `key` it has). */
  mine(r: Rec, dir: string): boolean;
  /**
   * Connect: the storm's records are those with the key its output line names (the listener's
   * port), known only at the end; records are counted by key meanwhile.
   */
  key?: { of(r: Rec): string; fromLine(line: string): string };
}

const EXEC_PAD = 1500;

const storms: Record<string, Storm> = {
  exec: {
    argv: (dir) => [join(dir, "storm"), "0", "/bin/true", String(SECONDS), "2", String(EXEC_PAD)],
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
    argv: (dir) => [join(dir, "openstorm"), "0", "2", join(dir, "target"), String(SECONDS)],
    options: (dir) => ["--path", join(dir, "target")],
    issued: (line) => Number(line.split(" ")[1]), // "SECONDS ISSUED"
    mine: (r, dir) => r.type === "open" && r.path === join(dir, "target") && r.comm === "openstorm",
  },
  connect: {
    argv: (dir) => [join(dir, "connect-storm"), "0", String(SECONDS)],
    options: () => [],
    issued: (line) => Number(line.split(" ")[3]), // "SECONDS OK PORT CALLS"
    mine: (r) => r.type === "connect" && r.comm === "connect-storm" && r.daddr === "127.0.0.1",
    key: { of: (r) => String(r.dport), fromLine: (line) => line.split(" ")[2] },
  },
};

/** The program and argv that run `tracer KIND ARGS`. */
function tracerCommand(kind: string, args: string[]): [string, string[]] {
  if (values.tracer) return [values.tracer, [kind, ...args]];
  const bun = process.versions.bun !== undefined;
  const main = join(ROOT, "src/main.ts");
  return [process.execPath, bun ? [main, kind, ...args] : ["run", "-A", main, kind, ...args]];
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n, my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : 0;
}

interface Result {
  kind: string;
  seconds: number;
  issued: number;
  delivered: number;
  lost: number;
  inBandLost: number;
  foreign: number;
  warnings: number;
  status: number | null;
  rss: { t: number; kib: number }[];
  stderr: string;
}

async function runOne(kind: string, dir: string): Promise<Result> {
  const storm = storms[kind];
  if (!storm) throw new Error(`--only: no storm for ${kind} (exec, open, connect)`);
  const fifo = join(dir, `${kind}.fifo`);
  const mk = spawnSync("mkfifo", [fifo]);
  if (mk.status !== 0) throw new Error(`mkfifo ${fifo} failed`);
  const [cmd, argv] = tracerCommand(kind, [
    "--json",
    "-o",
    fifo,
    "--ring-bytes",
    values["ring-bytes"]!,
    "--buffer",
    values.buffer!,
    ...storm.options(dir),
    "--",
    ...storm.argv(dir),
  ]);
  const t0 = performance.now();
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stdout!.on("data", (d) => stdout += d);
  child.stderr!.on("data", (d) => stderr += d);
  const exited = new Promise<number | null>((res) => child.on("close", (code) => res(code)));

  // Records are classified as they arrive (by key: see Storm.key).
  let foreign = 0, inBandLost = 0;
  const byKey = new Map<string, number>();
  const firstForeign: string[] = [];
  const classify = (line: string) => {
    const r = JSON.parse(line) as Rec;
    if (r.type === "lost") inBandLost += r.lost as number;
    else if (storm.mine(r, dir)) {
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
      for (const l of lines) {
        if (l) classify(l);
      }
    });
    reader.on("end", () => res());
    reader.on("error", rej);
  });

  const rss: { t: number; kib: number }[] = [];
  const sampler = setInterval(() => {
    const kib = rssKiB(child.pid!);
    if (kib !== null) rss.push({ t: (performance.now() - t0) / 1000, kib });
  }, 1000);
  const status = await exited;
  clearInterval(sampler);
  await read;
  if (rest) classify(rest);
  const seconds = (performance.now() - t0) / 1000;
  const stormLine = stdout.trim().split("\n").pop() ?? "";
  const key = storm.key?.fromLine(stormLine) ?? "";
  const delivered = byKey.get(key) ?? 0;
  for (const [k, n] of byKey) {
    if (k !== key) foreign += n;
  }
  const summary = /^tracer: (\d+) events, (\d+) lost/m.exec(stderr);
  if (firstForeign.length) stderr += `foreign records:\n${firstForeign.join("\n")}\n`;
  return {
    kind,
    seconds,
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

const dir = mkdtempSync(join(tmpdir(), "tracer-load-"));
let failed = false;
const rows: string[] = [];
try {
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
  const runtime = values.tracer ?? (process.versions.bun !== undefined ? "bun" : "deno");
  console.error(
    `load: ${SECONDS} s per tracer, ${values.buffer} buffer of ${values["ring-bytes"]} bytes, ` +
      `tracer: ${runtime}, warm-up ${WARMUP.toFixed(0)} s`,
  );
  for (const kind of KINDS) {
    const r = await runOne(kind, dir);
    const after = r.rss.filter((s) => s.t >= WARMUP);
    const mib = (k: number) => (k / 1024).toFixed(1);
    const kibs = after.map((s) => s.kib);
    const growth = slope(after.map((s) => s.t / 60), kibs) / 1024;
    const exact = r.delivered + r.lost === r.issued;
    const problems: string[] = [];
    if (r.status !== 0) problems.push(`exit status ${r.status}`);
    if (!exact) problems.push(`delivered + lost = ${r.delivered + r.lost} != issued ${r.issued}`);
    if (r.foreign) problems.push(`${r.foreign} foreign records`);
    if (r.inBandLost !== r.lost) problems.push(`in-band lost ${r.inBandLost} != summary`);
    if (r.lost > 0 && r.warnings === 0) problems.push("losses but no live warning");
    if (!Number.isFinite(r.issued) || r.issued <= 0) problems.push("the storm issued nothing");
    if (problems.length) {
      failed = true;
      console.error(`load: ${kind}: ${problems.join("; ")}\n${r.stderr.slice(-3000)}`);
    }
    const pct = (n: number) => (100 * n / r.issued).toFixed(1) + "%";
    rows.push(
      `| ${kind} | ${r.seconds.toFixed(0)} s | ${r.issued.toLocaleString("en")} | ` +
        `${r.delivered.toLocaleString("en")} (${pct(r.delivered)}) | ` +
        `${r.lost.toLocaleString("en")} (${pct(r.lost)}) | ${exact ? "yes" : "**no**"} | ` +
        `${r.warnings} | ` +
        (kibs.length
          ? `${mib(kibs[0])} / ${mib(median(kibs))} / ${mib(Math.max(...kibs))} MiB | ` +
            `${growth >= 0 ? "+" : ""}${growth.toFixed(2)} MiB/min |`
          : "- | - |"),
    );
    console.error(`load: ${rows[rows.length - 1]}`);
  }
  console.log(
    "| tracer | duration | issued | delivered | lost (reported) | delivered + lost = issued " +
      "| live warnings | RSS after warm-up: first / median / max | RSS growth |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const row of rows) console.log(row);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
