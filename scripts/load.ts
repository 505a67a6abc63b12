// Load test of the three tracers: each runs for minutes against its storm with a small event
// buffer; every event the storm issued must be delivered or counted lost, exactly, and the
// tracer's RSS is sampled every second and must stay flat after warm-up.
//
//   sudo deno run -A scripts/load.ts [--seconds 180] [--only exec,open,connect]
//                                    [--ring-bytes 4096] [--buffer ring|perf] [--warmup 20]
//                                    [--tracer ./tracer]
//
// The tracer is src/main.ts on the runtime running this script (deno or bun), or the binary
// given by --tracer. The storms, how the tracer runs against them and how its records are
// counted are in test/storms.ts (shared with test/load.test.ts). Per tracer, the check:
// delivered + lost = issued, exactly (lost: the exit summary, which must equal the sum of the
// in-band "lost" records), no record of another process, exit status 0, and, when something
// was lost, at least one live "cannot keep up" line on stderr. RSS (VmRSS of the tracer's
// process) is sampled every second; after --warmup seconds: the first sample, the median, the
// maximum and the least-squares growth (MiB per minute). Prints one Markdown table; exits 1
// when a check failed.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  buildStorms,
  runStorm,
  STORM_KINDS,
  type StormKind,
  stormProblems,
} from "../test/storms.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: "string", default: "180" },
    warmup: { type: "string" },
    only: { type: "string", default: STORM_KINDS.join(",") },
    "ring-bytes": { type: "string", default: "4096" },
    buffer: { type: "string", default: "ring" },
    tracer: { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
/** Warm-up: 20 s, or a third of a short run. */
const WARMUP = values.warmup !== undefined ? Number(values.warmup) : Math.min(20, SECONDS / 3);
const KINDS = values.only!.split(",") as StormKind[];
const BUFFER = values.buffer as "ring" | "perf";
if (!(SECONDS > 0) || !(WARMUP >= 0)) throw new Error("--seconds and --warmup: numbers");
if (!KINDS.every((k) => STORM_KINDS.includes(k)) || !["ring", "perf"].includes(BUFFER)) {
  throw new Error(`--only: some of ${STORM_KINDS.join(",")}; --buffer: ring or perf`);
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

const dir = mkdtempSync(join(tmpdir(), "tracer-load-"));
let failed = false;
const rows: string[] = [];
try {
  buildStorms(dir);
  const runtime = values.tracer ?? (process.versions.bun !== undefined ? "bun" : "deno");
  console.error(
    `load: ${SECONDS} s per tracer, ${BUFFER} buffer of ${values["ring-bytes"]} bytes, ` +
      `tracer: ${runtime}, warm-up ${WARMUP.toFixed(0)} s`,
  );
  for (const kind of KINDS) {
    const r = await runStorm(kind, {
      dir,
      seconds: SECONDS,
      ringBytes: Number(values["ring-bytes"]),
      buffer: BUFFER,
      bin: values.tracer,
      rssEveryMs: 1000,
    });
    const problems = stormProblems(r);
    if (problems.length) {
      failed = true;
      console.error(`load: ${kind}: ${problems.join("; ")}\n${r.stderr.slice(-3000)}`);
    }
    const after = r.rss.filter((s) => s.t >= WARMUP);
    const kibs = after.map((s) => s.kib);
    const mib = (k: number) => (k / 1024).toFixed(1);
    const growth = slope(after.map((s) => s.t / 60), kibs) / 1024;
    const pct = (n: number) => (100 * n / r.issued).toFixed(1) + "%";
    rows.push(
      `| ${kind} | ${r.seconds.toFixed(0)} s | ${r.issued.toLocaleString("en")} | ` +
        `${r.delivered.toLocaleString("en")} (${pct(r.delivered)}) | ` +
        `${r.lost.toLocaleString("en")} (${pct(r.lost)}) | ` +
        `${r.delivered + r.lost === r.issued ? "yes" : "**no**"} | ${r.warnings} | ` +
        `${r.rss.length ? mib(r.rss[0].kib) : "-"} MiB | ` +
        (kibs.length
          ? `${mib(kibs[0])} / ${mib(median(kibs))} / ${mib(Math.max(...kibs))} MiB | ` +
            `${growth >= 0 ? "+" : ""}${growth.toFixed(2)} MiB/min |`
          : "- | - |"),
    );
    console.error(`load: ${rows[rows.length - 1]}`);
    // The RSS curve, a sample every 30 s (MiB), to see a plateau or a climb.
    const curve = r.rss.filter((_, i) => i % 30 === 0).map((s) => mib(s.kib));
    console.error(`load: ${kind} RSS every 30 s: ${curve.join(" ")} MiB`);
  }
  console.log(
    "| tracer | duration | issued | delivered | lost (reported) | delivered + lost = issued " +
      "| live warnings | RSS at 1 s | RSS after warm-up: first / median / max | RSS growth |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const row of rows) console.log(row);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
