// Benchmark of `tracer connect` against bpftrace: a storm of loopback TCP connects
// (scripts/bench/connect-storm.c: connect, accept, close, one after the other), untraced and
// under each tool. Per tool: records delivered for the storm's connects, records lost (as the
// tool reports them), and the storm's slowdown (its own elapsed time against the untraced run).
//
//   deno run -A scripts/bench-connect.ts [--count 20000] [--rounds 3] [--tracer ./tracer]
//                                        [--attach KIND] [--only tracer,bpftrace]
//
// Rounds alternate untraced / tracer / bpftrace runs so that the machine's drift hits all
// alike; medians are printed as a Markdown table. Needs root. bpftrace (Debian 0.17) runs the
// same logic as the tracer's tracepoint strategy: inet_sock_set_state CLOSE -> SYN_SENT to
// start, SYN_SENT -> anything to finish, one printed line per connect.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    count: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
    tracer: { type: "string", default: "./tracer" },
    attach: { type: "string" },
    only: { type: "string" },
  },
});
const COUNT = Number(values.count);
const ROUNDS = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), "bench-connect-"));
const STORM = join(dir, "connect-storm");

const cc = spawnSync("cc", ["-O2", "-o", STORM, join(ROOT, "scripts/bench/connect-storm.c")], {
  encoding: "utf8",
});
if (cc.status !== 0) throw new Error(`cc: ${cc.stderr}`);

const BPFTRACE = `
tracepoint:sock:inet_sock_set_state /args->protocol == 6 && args->oldstate == 7 && args->newstate == 2/ {
  @start[args->skaddr] = nsecs; @pid[args->skaddr] = pid; @comm[args->skaddr] = comm;
}
tracepoint:sock:inet_sock_set_state /args->protocol == 6 && args->oldstate == 2 && @start[args->skaddr]/ {
  printf("%d %s %d %d %d\\n", @pid[args->skaddr], @comm[args->skaddr], args->dport, args->newstate,
    (nsecs - @start[args->skaddr]) / 1000);
  delete(@start[args->skaddr]); delete(@pid[args->skaddr]); delete(@comm[args->skaddr]);
}
`;

interface Tool {
  name: string;
  argv: (out: string) => string[];
  ready: RegExp;
  /** Records for the storm's connects (to `port`, established) in the output file. */
  count: (output: string, port: number) => number;
  /** Records the tool says it lost (from its stderr and output). */
  lost: (stderr: string, output: string) => number;
}

const allTools: Tool[] = [{
  name: "tracer",
  argv: (out) => [
    values.tracer!,
    "connect",
    "--json",
    "-o",
    out,
    ...(values.attach ? ["--attach", values.attach] : []),
  ],
  ready: /^tracer: tracing connect/m,
  count: (output, port) =>
    output.split("\n").filter((l) =>
      l.includes('"comm":"connect-storm"') && l.includes(`"dport":${port},`) &&
      l.includes('"result":"ok"')
    ).length,
  lost: (stderr) => Number(/tracer: \d+ events, (\d+) lost/.exec(stderr)?.[1] ?? NaN),
}, {
  name: "bpftrace",
  argv: (out) => ["bpftrace", "-o", out, "-e", BPFTRACE],
  ready: /^Attaching \d+ probes?/m,
  count: (output, port) =>
    output.split("\n").filter((l) => {
      const f = l.split(" ");
      return f[1] === "connect-storm" && f[2] === String(port) && f[3] === "1";
    }).length,
  lost: (stderr, output) => {
    let n = 0;
    for (const m of (stderr + output).matchAll(/Lost (\d+) events/g)) n += Number(m[1]);
    return n;
  },
}];
const tools = allTools.filter((t) => !values.only || values.only.split(",").includes(t.name));

/** Runs the storm; returns its elapsed seconds, successful connects and listener port. */
function storm(): { secs: number; ok: number; port: number } {
  const r = spawnSync(STORM, [String(COUNT)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`storm: ${r.stderr}`);
  const [secs, ok, port] = r.stdout.trim().split(" ").map(Number);
  return { secs, ok, port };
}

/** Starts a tool, runs the storm once it is ready, stops it with SIGINT. */
async function traced(t: Tool, round: number) {
  const out = join(dir, `${t.name}-${round}.out`);
  openSync(out, "w");
  const child = spawn(t.argv(out)[0], t.argv(out).slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => stderr += d);
  const exited = new Promise<void>((res) => child.on("exit", () => res()));
  // The ready line is on stderr (tracer) or in the output file (bpftrace -o).
  for (let waited = 0; !t.ready.test(stderr + readFileSync(out, "utf8")); waited += 20) {
    if (child.exitCode !== null || waited > 30_000) {
      throw new Error(`${t.name} not ready: ${stderr}`);
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  // bpftrace prints "Attaching" just before attaching: give both a moment.
  await new Promise((res) => setTimeout(res, 500));
  const s = storm();
  await new Promise((res) => setTimeout(res, 500));
  process.kill(child.pid!, "SIGINT");
  await exited;
  const output = readFileSync(out, "utf8");
  return { ...s, delivered: t.count(output, s.port), lost: t.lost(stderr, output) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const base: number[] = [];
const results = new Map<string, { secs: number[]; delivered: number[]; lost: number[] }>(
  tools.map((t) => [t.name, { secs: [], delivered: [], lost: [] }]),
);
for (let round = 0; round < ROUNDS; round++) {
  const b = storm();
  base.push(b.secs);
  console.error(`round ${round + 1}: untraced ${b.secs.toFixed(3)} s (${b.ok} connects)`);
  for (const t of tools) {
    const r = await traced(t, round);
    const acc = results.get(t.name)!;
    acc.secs.push(r.secs);
    acc.delivered.push(r.delivered);
    acc.lost.push(r.lost);
    console.error(
      `round ${round + 1}: ${t.name} ${
        r.secs.toFixed(3)
      } s, ${r.delivered}/${r.ok} delivered, ${r.lost} lost`,
    );
  }
}
const b = median(base);
console.log(
  `Connect storm: ${COUNT} loopback connect+accept+close, untraced ${b.toFixed(2)} s ` +
    `(median of ${ROUNDS})\n`,
);
console.log("| tool | storm time | slowdown | delivered / " + COUNT + " | lost (reported) |");
console.log("| ---- | ---------- | -------- | ------------------ | --------------- |");
for (const [name, r] of results) {
  const secs = median(r.secs);
  console.log(
    `| ${name} | ${secs.toFixed(2)} s | ${(secs / b).toFixed(2)}× | ${r.delivered.join(", ")} | ${
      r.lost.join(", ")
    } |`,
  );
}
