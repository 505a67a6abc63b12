// Start-up and memory of the compiled tracer against the C tools, side by side in one run:
// launch → ready of `tracer exec|open|connect` and of the peers given, interleaved start by
// start (so the machine's noise falls on all alike), medians per round, several rounds; the
// runtime's own floor (`tracer --version`: launch → first line, nothing of ours loaded); the
// per-phase times (`--timings`); and peak RSS during an exec storm, with what it consists of.
//
//   sudo deno run -A scripts/bench-startup.ts --tracer ./tracer [--tracer old=/tmp/old/tracer]
//     --peer exec=execsnoop='PATH/execsnoop' --peer open=opensnoop='PATH/opensnoop'
//     --peer connect=tcpstates='PATH/tcpstates' [--runs 11] [--rounds 3] [--storm 5000]
//     [--kinds exec,open,connect] [--no-rss] [--no-phases]   (--kinds "": the floors only)
//
// A peer's ready signal is its first output line. C tools buffer stdout in a pipe, so each
// peer runs under `stdbuf -oL`; what stdbuf itself costs is measured in the same run
// (`stdbuf -oL /bin/echo` against `/bin/echo`) and taken off the peer's figure.
// Several --tracer binaries (name=path) compare builds (before/after) in the same run. A binary
// with the per-boot CO-RE cache (/run/tracer) is measured twice: with its cache, and with
// --no-cache (the first start of a boot).

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { median, rssKb, type RssParts, rssParts, startUntilReady } from "./bench/launch.ts";
import { COMPILE_OPTIONS } from "./bun-targets.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    tracer: { type: "string", multiple: true, default: [] },
    peer: { type: "string", multiple: true, default: [] },
    runs: { type: "string", default: "11" },
    rounds: { type: "string", default: "3" },
    storm: { type: "string", default: "5000" },
    kinds: { type: "string", default: "exec,open,connect" },
    "no-rss": { type: "boolean", default: false },
    "no-phases": { type: "boolean", default: false },
  },
});
const RUNS = Number(values.runs);
const ROUNDS = Number(values.rounds);
const STORM = Number(values.storm);
const KINDS = values.kinds!.split(",").filter(Boolean);

interface Tool {
  name: string;
  kind: string;
  argv: string[];
  ready: RegExp;
  /** Runs under stdbuf: its figure is corrected by stdbuf's own cost. */
  stdbuf: boolean;
}

const given = (values.tracer!.length ? values.tracer! : ["./tracer"]).map((t, i) => {
  const eq = t.indexOf("=");
  return eq > 0
    ? { name: t.slice(0, eq), path: t.slice(eq + 1), extra: [] as string[] }
    : { name: i === 0 ? "tracer" : `tracer${i + 1}`, path: t, extra: [] as string[] };
});
// A binary with the per-boot CO-RE cache runs twice per start: as is (the cache filled by its
// earlier starts: every start of a boot but the first) and with --no-cache (the first start of
// a boot, which also writes the cache; a write costs ~0.2 ms more than --no-cache).
const hasCache = (path: string) =>
  spawnSync(path, ["exec", "--help"], { encoding: "utf8" }).stdout.includes("--no-cache");
const tracers = given.flatMap((t) =>
  hasCache(t.path) ? [t, { ...t, name: `${t.name}, first start`, extra: ["--no-cache"] }] : [t]
);
const peers = values.peer!.map((p) => {
  const m = /^([a-z]+)=([^=]+)=(.+)$/.exec(p);
  if (!m) throw new Error(`--peer KIND=NAME=COMMAND, not '${p}'`);
  return { kind: m[1], name: m[2], argv: m[3].split(" ") };
});

const tools: Tool[] = [];
for (const kind of KINDS) {
  for (const t of tracers) {
    tools.push({
      name: t.name,
      kind,
      argv: [t.path, kind, ...t.extra],
      ready: /^tracer: tracing/m,
      stdbuf: false,
    });
  }
  for (const p of peers.filter((x) => x.kind === kind)) {
    tools.push({
      name: p.name,
      kind,
      argv: ["stdbuf", "-oL", ...p.argv],
      ready: /./,
      stdbuf: true,
    });
  }
}
// Floors: the runtime alone (our binary printing its version: no object, no kernel work), and
// stdbuf's own cost.
const floors: Tool[] = [
  ...given.map((t) => ({
    name: `${t.name} --version`,
    kind: "floor",
    argv: [t.path, "--version"],
    ready: /./,
    stdbuf: false,
  })),
  { name: "/bin/echo", kind: "floor", argv: ["/bin/echo", "x"], ready: /./, stdbuf: false },
  {
    name: "stdbuf -oL /bin/echo",
    kind: "floor",
    argv: ["stdbuf", "-oL", "/bin/echo", "x"],
    ready: /./,
    stdbuf: false,
  },
];

spawnSync("mount", ["-t", "tracefs", "tracefs", "/sys/kernel/tracing"], { stdio: "ignore" });

const idleDir = mkdtempSync("/tmp/bench-startup-idle-");
// The compiled programs (~100 MB each) and the storm's output go when the run ends.
const scratch = [idleDir];
process.on("exit", () => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});
/** A one-line program compiled as build.ts compiles the tracer: prints a line and waits. */
function bunProgram(file: string, source: string, name: string): Tool {
  writeFileSync(`${idleDir}/${file}.ts`, source);
  const bun = spawnSync("node_modules/.bin/bun", [
    "build",
    ...COMPILE_OPTIONS,
    `${idleDir}/${file}.ts`,
    "--outfile",
    `${idleDir}/${file}`,
  ], { stdio: "ignore" });
  if (bun.status !== 0) throw new Error(`cannot compile the Bun program ${file}`);
  return { name, kind: "floor", argv: [`${idleDir}/${file}`], ready: /./, stdbuf: false };
}
const WAIT = "setTimeout(() => {}, 600_000);\n";
// The runtime alone; and what two things the tracer avoids or still pays cost the runtime by
// themselves: a first write through process.stderr (it loads the runtime's stream
// implementation), and the node: modules the tracer imports.
const idle = bunProgram(
  "bun-idle",
  `console.log("ready"); ${WAIT}`,
  "Bun runtime alone (idle program)",
);
floors.unshift(
  idle,
  bunProgram(
    "bun-stderr",
    `process.stderr.write("ready\\n"); ${WAIT}`,
    "Bun, a line through process.stderr",
  ),
  bunProgram(
    "bun-node-modules",
    'import { readFileSync } from "node:fs";\nimport { parseArgs } from "node:util";\n' +
      'import { spawn } from "node:child_process";\n' +
      "if (process.argv.length > 9) { readFileSync(''); parseArgs({}); spawn(''); }\n" +
      `console.log("ready"); ${WAIT}`,
    "Bun, node:fs + node:util + node:child_process imported",
  ),
);

/** One start: launch → ready in ms, and the CPU ms used by then (the process is stopped). */
async function once(t: Tool): Promise<{ ms: number; cpu: number }> {
  const { ms, cpu, run } = await startUntilReady(t.name, t.argv, t.ready);
  await run.stop();
  return { ms, cpu };
}

// Start-up: in each round every tool starts RUNS times, interleaved start by start, after one
// start each that is not counted (it fills the page cache, and a tracer's CO-RE cache).
const all = [...floors, ...tools];
for (const t of all) await once(t);
const perRound: Map<string, number>[] = [];
const cpuPerRound: Map<string, number>[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const times = new Map<string, number[]>(all.map((t) => [`${t.kind}/${t.name}`, []]));
  const cpus = new Map<string, number[]>(all.map((t) => [`${t.kind}/${t.name}`, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const t of all) {
      const { ms, cpu } = await once(t);
      times.get(`${t.kind}/${t.name}`)!.push(ms);
      cpus.get(`${t.kind}/${t.name}`)!.push(cpu);
    }
  }
  const med = new Map([...times].map(([k, v]) => [k, median(v)]));
  perRound.push(med);
  cpuPerRound.push(new Map([...cpus].map(([k, v]) => [k, median(v)])));
  console.error(
    `round ${round + 1}: ` + [...med].map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", "),
  );
}

const fmt = (ms: number) => ms.toFixed(1);
const stdbufCost = (r: Map<string, number>) =>
  Math.max(0, r.get("floor/stdbuf -oL /bin/echo")! - r.get("floor//bin/echo")!);
const out: string[] = [];
out.push(
  `Launch → ready, medians of ${RUNS} starts per round (ms); peers under stdbuf, its cost ` +
    "taken off (raw figure in brackets); ratio = tool / the kind's C peer.\n",
);
out.push(
  `| kind | tool | ${perRound.map((_, i) => `round ${i + 1}`).join(" | ")} | ×peer (per round) |`,
);
out.push(`|---|---|${perRound.map(() => "---").join("|")}|---|`);
for (const t of [...floors, ...tools]) {
  const key = `${t.kind}/${t.name}`;
  const peer = t.kind === "floor" ? undefined : tools.find((x) => x.kind === t.kind && x.stdbuf);
  const cells = perRound.map((r) => {
    const v = r.get(key)!;
    return t.stdbuf ? `${fmt(v - stdbufCost(r))} (${fmt(v)})` : fmt(v);
  });
  const ratios = peer && !t.stdbuf
    ? perRound.map((r) =>
      (r.get(key)! / (r.get(`${peer.kind}/${peer.name}`)! - stdbufCost(r))).toFixed(2)
    ).join(" / ")
    : "";
  out.push(`| ${t.kind} | ${t.name} | ${cells.join(" | ")} | ${ratios} |`);
}
console.log(out.join("\n"));

// CPU time to ready (all threads, /proc schedstat): robust to the machine's load, which
// stretches wall-clock times. Peers run under stdbuf here too (its CPU cost is in the figure).
const cpuOut = [
  `\nCPU time used by the ready line, medians of ${RUNS} per round (ms, all threads); ` +
  "ratio = tool / the kind's C peer.\n",
  `| kind | tool | ${
    cpuPerRound.map((_, i) => `round ${i + 1}`).join(" | ")
  } | ×peer (per round) |`,
  `|---|---|${cpuPerRound.map(() => "---").join("|")}|---|`,
];
for (const t of [...floors, ...tools]) {
  const key = `${t.kind}/${t.name}`;
  const peer = t.kind === "floor" ? undefined : tools.find((x) => x.kind === t.kind && x.stdbuf);
  const ratios = peer && !t.stdbuf
    ? cpuPerRound.map((r) => (r.get(key)! / r.get(`${peer.kind}/${peer.name}`)!).toFixed(2))
      .join(" / ")
    : "";
  cpuOut.push(
    `| ${t.kind} | ${t.name} | ${
      cpuPerRound.map((r) => fmt(r.get(key)!)).join(" | ")
    } | ${ratios} |`,
  );
}
console.log(cpuOut.join("\n"));

// Per-phase times, from the tracer's own --timings (measured in-process from the runtime's
// time origin), medians over RUNS starts per binary and kind, interleaved. A phase passed more
// than once in a start (a strategy refused, the next one tried) counts the sum of its passes.
if (!values["no-phases"]) {
  for (const kind of KINDS) {
    const phases = new Map<string, Map<string, number[]>>(tracers.map((t) => [t.name, new Map()]));
    for (let i = 0; i < RUNS; i++) {
      for (const t of tracers) {
        const r = spawnSync(t.path, [kind, ...t.extra, "--timings", "-d", "0.05"], {
          encoding: "utf8",
        });
        const line = /^tracer: start-up: (.*)$/m.exec(r.stderr)?.[1];
        if (!line) throw new Error(`${t.name} ${kind} --timings: no start-up line:\n${r.stderr}`);
        const sums = new Map<string, number>();
        for (const part of line.split(", ")) {
          const m = /^(.*) ([\d.]+) ms$/.exec(part);
          if (m) sums.set(m[1], (sums.get(m[1]) ?? 0) + Number(m[2]));
        }
        const list = phases.get(t.name)!;
        for (const [name, ms] of sums) {
          if (!list.has(name)) list.set(name, []);
          list.get(name)!.push(ms);
        }
      }
    }
    console.log(`\nPer phase (tracer ${kind} --timings, medians of ${RUNS}, ms):\n`);
    const names = [...new Set(tracers.flatMap((t) => [...phases.get(t.name)!.keys()]))];
    console.log(`| ${kind} | ${names.join(" | ")} |`);
    console.log(`|---|${names.map(() => "---").join("|")}|`);
    for (const t of tracers) {
      const list = phases.get(t.name)!;
      const cell = (n: string) => list.has(n) ? fmt(median(list.get(n)!)) : "-";
      console.log(`| ${t.name} | ${names.map(cell).join(" | ")} |`);
    }
  }
}

// The pure start-up work cold (the first time in a process, as every start of the tracer runs
// it) and warm (the same work again in that process): scripts/bench/cold-warm.ts, compiled as
// the tracer is, medians of RUNS processes. What the second pass saves is what running cold costs.
if (!values["no-phases"] && KINDS.length) {
  const bin = `${idleDir}/cold-warm`;
  const bun = spawnSync("node_modules/.bin/bun", [
    "build",
    ...COMPILE_OPTIONS,
    "scripts/bench/cold-warm.ts",
    "--outfile",
    bin,
  ], { stdio: "ignore" });
  if (bun.status !== 0) throw new Error("cannot compile scripts/bench/cold-warm.ts");
  const runs = new Map<string, { cold: Record<string, number>; warm: Record<string, number> }[]>();
  for (let i = 0; i < RUNS; i++) {
    for (const kind of KINDS) {
      const r = spawnSync(bin, [kind], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`cold-warm ${kind} failed:\n${r.stderr}`);
      const line = JSON.parse(r.stdout);
      if (!runs.has(kind)) runs.set(kind, []);
      runs.get(kind)!.push(line);
    }
  }
  console.log(
    `\nThe pure start-up work, cold (first pass in a process) / warm (second pass), medians of ${RUNS} processes, ms:\n`,
  );
  const steps = Object.keys(runs.get(KINDS[0])![0].cold);
  console.log(`| kind | ${steps.join(" | ")} | total |`);
  console.log(`|---|${steps.map(() => "---").join("|")}|---|`);
  for (const [kind, list] of runs) {
    const cell = (step: string) =>
      `${fmt(median(list.map((l) => l.cold[step])))} / ${
        fmt(median(list.map((l) => l.warm[step])))
      }`;
    const total = (w: "cold" | "warm") =>
      fmt(median(list.map((l) => Object.values(l[w]).reduce((a, b) => a + b, 0))));
    console.log(
      `| ${kind} | ${steps.map(cell).join(" | ")} | ${total("cold")} / ${total("warm")} |`,
    );
  }
}

// Peak RSS during an exec storm, each exec tool in turn (output to a file), with the resident
// pages by kind sampled every 50 ms (the sample with the largest total is shown).
if (!values["no-rss"] && KINDS.includes("exec")) {
  const work = mkdtempSync("/tmp/bench-startup-");
  scratch.push(work);
  const storm = `${work}/storm`;
  const cc = spawnSync("cc", ["-O2", "-o", storm, "scripts/bench/storm.c"], { stdio: "inherit" });
  if (cc.status !== 0) throw new Error("cannot build scripts/bench/storm.c");
  const base = spawnSync(storm, [String(STORM), "/bin/true"], { encoding: "utf8" });
  const baseSecs = Number(base.stdout.split(" ")[0]);
  console.log(
    `\nPeak RSS during a storm of ${STORM} fork+exec of /bin/true (${
      baseSecs.toFixed(2)
    } s untraced), resident MB by kind at the largest sample:\n`,
  );
  console.log(
    "| tool | peak RSS (VmHWM) | binary file pages | shared libraries | anonymous (heap, JS heap, JIT) | BPF maps (ring) | kernel BTF mmap | other | storm slowdown | captured | memory at exit (--timings) |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  const execTools = [...tools.filter((t) => t.kind === "exec"), idle];
  for (const t of execTools) {
    const argv = t.stdbuf
      ? t.argv.slice(2)
      : t === idle
      ? t.argv
      : [...t.argv, "--timings", "-o", `${work}/${t.name}.out`];
    const outFile = `${work}/${t.name}.table`;
    const errFile = `${work}/${t.name}.err`;
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ["ignore", openSync(outFile, "w"), openSync(errFile, "w")],
    });
    const exited = new Promise<void>((r) => child.on("exit", () => r()));
    await new Promise((r) => setTimeout(r, 1500));
    const binary = realpathSync(argv[0]);
    let best: RssParts | null = null;
    const sampler = setInterval(() => {
      const s = rssParts(child.pid!, binary);
      if (s && (!best || s.total > best.total)) best = s;
    }, 50);
    let stormPid = 0;
    const s = await new Promise<string>((resolve) => {
      const p = spawn(storm, [String(STORM), "/bin/true"]);
      stormPid = p.pid!;
      let o = "";
      p.stdout.on("data", (d) => o += d);
      p.on("exit", () => resolve(o));
    });
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(sampler);
    const hwm = rssKb(child.pid!, "VmHWM");
    process.kill(child.pid!, "SIGINT");
    await exited;
    const text = t === idle
      ? ""
      : readFileSync(t.stdbuf ? outFile : `${work}/${t.name}.out`, "utf8");
    // The storm's execs: lines naming /bin/true whose parent (PPID column) is the storm driver,
    // the driver's own line excepted (execsnoop reads argv at execve entry and often prints it
    // empty, so the argument cannot be relied on).
    const ppid = new RegExp(`\\s${stormPid}\\s`);
    const captured = text.split("\n").filter((l) =>
      l.includes("/bin/true") && ppid.test(l) && !/storm \d/.test(l)
    )
      .length;
    const mem = /^tracer: memory: (.*)$/m.exec(readFileSync(errFile, "utf8"))?.[1] ?? "";
    const b = best as RssParts | null;
    const mb = (kb: number | undefined) => kb === undefined ? "?" : (kb / 1024).toFixed(1);
    console.log(
      `| ${t.name} | ${mb(hwm)} | ${mb(b?.binary)} | ${mb(b?.libraries)} | ${mb(b?.anonymous)} | ${
        mb(b?.bpfMaps)
      } | ${mb(b?.kernelBtf)} | ${mb(b?.other)} | ${
        (Number(s.split(" ")[0]) / baseSecs).toFixed(2)
      }× | ${t === idle ? "-" : `${captured} / ${STORM}`} | ${mem} |`,
    );
  }
}
