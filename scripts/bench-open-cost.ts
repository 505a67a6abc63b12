// Where the time of one traced open goes (not part of the test suite). Run as root:
//   node_modules/.bin/deno run -A scripts/bench-open-cost.ts [--opens 500000]
//   node_modules/.bin/bun scripts/bench-open-cost.ts [--opens 500000]
//
// The open tracer is started in this process (src/tracers/run.ts, ring buffer, --path set to
// the storm's file so only its opens are recorded) and scripts/bench/openstorm.c opens and
// closes one file N times with one worker. Measured:
//   kernel   the tracer's BPF programs, per open: run_time_ns / run_cnt of each program while
//            kernel.bpf_stats_enabled is 1 (the sysctl is restored afterwards);
//   slowdown the storm traced against untraced;
//   drain    the live ring buffer drain with a handler that copies each record aside (timed
//            inside drain(), so waiting is not counted), per record;
//   decode   replaying the copied records: BTF-driven decode alone; decode + table row;
//            decode + JSON line (records not kept, as in a session), per record;
//   write    writing the formatted table to a file, per record.

import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { getPlatform } from "../src/platform/index.ts";
import { startTracer } from "../src/tracers/run.ts";
import { openDecoder, openTracer } from "../src/tracers/open.ts";
import { eventLayout } from "../src/tracers/layout.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { embeddedObject } from "../src/tracers/embedded.ts";
import { openFormatter } from "../src/tracers/open-format.ts";
import { ContextResolver } from "../src/tracers/context.ts";
import { CgroupPaths, hostHierarchy } from "../src/kernel/cgroupfs.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { opens: { type: "string", default: "500000" } },
});
const N = Number(values.opens);
const ROOT = resolve(import.meta.dirname ?? ".", "..");
const dir = mkdtempSync(join(tmpdir(), "bench-open-cost-"));
const storm = join(dir, "openstorm");
const target = join(dir, "target");
writeFileSync(target, "");
const cc = spawnSync("cc", ["-O2", "-o", storm, join(ROOT, "scripts/bench/openstorm.c")], {
  encoding: "utf8",
});
if (cc.status !== 0) throw new Error(cc.stderr);

/** Runs the storm; resolves to its seconds, as it reports them. */
function runStorm(): Promise<number> {
  return new Promise((res, rej) => {
    const child = spawn(storm, [String(N), "1", target], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (d) => out += d);
    child.on("exit", (code) => code === 0 ? res(Number(out.split(" ")[0])) : rej(new Error(out)));
  });
}

const STATS = "/proc/sys/kernel/bpf_stats_enabled";
const statsBefore = readFileSync(STATS, "utf8").trim();
const untraced = await runStorm();
const p = await getPlatform();

/** One measurement: the storm traced, then the records replayed; `context`: with it. */
async function measure(context: ContextResolver | undefined) {
  // Every sample copied aside as it is drained: one buffer, each sample's offset and length.
  let raw = new Uint8Array(64 << 20);
  let used = 0;
  const samples: number[] = [];
  const keep = (v: DataView, off: number, len: number) => {
    if (used + len > raw.length) {
      const bigger = new Uint8Array(raw.length * 2);
      bigger.set(raw.subarray(0, used));
      raw = bigger;
    }
    raw.set(new Uint8Array(v.buffer, v.byteOffset + off, len), used);
    samples.push(used, len);
    used += len;
    return null;
  };
  const desc = openTracer({ pathPrefix: new TextEncoder().encode(target) });
  const t = startTracer(p, { ...desc, decoder: () => keep }, { context });
  writeFileSync(STATS, "1");
  let drainMs = 0;
  let traced = 0;
  try {
    const done = runStorm().then((s) => traced = s);
    let finished = false;
    done.finally(() => finished = true);
    while (!finished) {
      const t0 = performance.now();
      t.drain(() => {});
      drainMs += performance.now() - t0;
      await new Promise((r) => setTimeout(r, 2));
    }
    await done;
    const t0 = performance.now();
    t.drain(() => {});
    drainMs += performance.now() - t0;
  } finally {
    writeFileSync(STATS, statsBefore);
  }
  // The storm's programs (others, such as sys_enter_open, ran only for the host's other opens).
  const programs = t.programStats().filter((s) => s.runCnt >= BigInt(N / 2));
  const lost = t.stats()[0];
  t.close();
  const count = samples.length / 2;

  // Replays: the real decoder over the copied samples, records dropped after use.
  const spec = loadObjectSpec(embeddedObject("open"), "open");
  const decode = openDecoder(eventLayout(spec.btf, "open_event"));
  const view = new DataView(raw.buffer);
  const clock = { wallOffsetNs: 0n, startBootNs: 0n };
  const table = openFormatter(clock);
  const json = openFormatter({ ...clock, json: true });
  const replay = (
    each: (text: string) => void,
    format?: (r: NonNullable<ReturnType<typeof decode>>) => string,
  ) => {
    const t0 = performance.now();
    let batch = "";
    for (let i = 0; i < samples.length; i += 2) {
      const r = decode(view, samples[i], samples[i + 1])!;
      // What the runner does with each record: its cgroup's context (a cached lookup).
      if (context) r.context = context.of(r.cgroupId);
      if (format) batch += format(r);
      if (batch.length > 65536) {
        each(batch);
        batch = "";
      }
    }
    each(batch);
    return performance.now() - t0;
  };
  const decodeMs = replay(() => {});
  const tableMs = replay(() => {}, (r) => table.record(r!));
  const jsonMs = replay(() => {}, (r) => json.record(r!));
  const fd = openSync(join(dir, "out.txt"), "w");
  let bytes = 0;
  const encoder = new TextEncoder();
  const tableWriteMs = replay((text) => {
    const b = encoder.encode(text);
    bytes += b.length;
    for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
  }, (r) => table.record(r!));
  closeSync(fd);

  return { programs, lost, count, traced, drainMs, decodeMs, tableMs, jsonMs, tableWriteMs, bytes };
}

const host = hostHierarchy();
const runs = [
  { name: "no context", m: await measure(undefined) },
  {
    name: `container context (${host?.controller ?? "v2"} hierarchy)`,
    m: await measure(
      host ? new ContextResolver(new CgroupPaths(host), host) : undefined,
    ),
  },
];
const per = (ms: number, count: number) => `${(ms * 1e6 / Math.max(1, count)).toFixed(0)} ns`;
console.log(
  `runtime: ${p.runtime}; ${N} opens of one file, one worker; storm ${
    untraced.toFixed(3)
  } s untraced`,
);
for (const { name, m } of runs) {
  console.log(
    `${name}: ${m.count} records delivered, ${m.lost} lost; storm ${
      m.traced.toFixed(3)
    } s traced ` +
      `(${(m.traced / untraced).toFixed(2)}x)`,
  );
}
console.log(`| where | ${runs.map((r) => r.name).join(" | ")} |`);
console.log(`| --- | ${runs.map(() => "---").join(" | ")} |`);
for (const s of runs[0].m.programs) {
  const cells = runs.map(({ m }) => {
    const q = m.programs.find((x) => x.name === s.name);
    return q ? `${Number(q.runTimeNs / q.runCnt)} ns` : "-";
  });
  console.log(`| kernel: ${s.name} | ${cells.join(" | ")} |`);
}
const row = (what: string, f: (m: (typeof runs)[0]["m"]) => number) =>
  console.log(`| ${what} | ${runs.map(({ m }) => per(f(m), m.count)).join(" | ")} |`);
row("ring drain (+ copying the record aside)", (m) => m.drainMs);
row("decode (+ context lookup)", (m) => m.decodeMs);
row("decode + table row", (m) => m.tableMs);
row("decode + JSON line", (m) => m.jsonMs);
row(
  `decode + table row + write (${(runs[0].m.bytes / runs[0].m.count).toFixed(0)} B/record)`,
  (m) => m.tableWriteMs,
);
