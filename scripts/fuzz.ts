// Fuzzes the parsers of outside bytes (ELF, BTF base and split, .BTF.ext, the object spec,
// CO-RE, the exec/open/connect event decoders and formatters, the CLI's argument parser).
//
//   deno run -A --v8-flags=--expose-gc scripts/fuzz.ts TARGET|all (--seconds N | --runs N)
//        [--seed S] [--timeout SECS] [--max-growth MIB] [--save DIR]
//   deno run -A scripts/fuzz.ts TARGET --replay FILE      (one saved input)
//   deno run -A scripts/fuzz.ts TARGET --seed S --iteration N   (one generated input, timed)
//   (or with bun: bun scripts/fuzz.ts ...)
//
// Each target runs in a worker; the main thread watches its heartbeat and ends it when one
// input takes longer than --timeout (default 10 s): that input is a hang, saved like a crash.
// An input that throws anything but the target's typed errors is a crash, saved under
// --save (default test/fixtures/fuzz/) as TARGET-sSEED-iITERATION.bin. RSS is sampled after
// warm-up (a tenth of the run) and at the end; growth over --max-growth (default 64 MiB)
// fails. Exit status 1 on any crash, hang or growth. The slowest input is run again alone
// (median of 5), which tells a slow parser from a stall of a busy machine.

import { parseArgs } from "node:util";
import process from "node:process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { targetByName, TARGETS } from "../test/fuzz/targets.ts";
import { type FuzzResult, makeInput, runOne } from "../test/fuzz/runner.ts";
import type { WorkerJob } from "../test/fuzz/worker.ts";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: "string" },
    runs: { type: "string" },
    seed: { type: "string" },
    timeout: { type: "string" },
    "max-growth": { type: "string" },
    save: { type: "string" },
    replay: { type: "string" },
    iteration: { type: "string" },
  },
  allowPositionals: true,
});

const name = positionals[0];
if (!name || (!values.seconds && !values.runs && !values.replay && !values.iteration)) {
  console.error(
    "usage: scripts/fuzz.ts TARGET|all --seconds N | --runs N [--seed S] [--timeout SECS] " +
      "[--max-growth MIB] [--save DIR]\n       scripts/fuzz.ts TARGET --replay FILE\n" +
      `targets: ${TARGETS.map((t) => t.name).join(", ")}`,
  );
  process.exit(2);
}

if (values.replay) {
  const p = targetByName(name).prepare();
  const error = runOne(p, new Uint8Array(readFileSync(values.replay)));
  console.log(error ?? "ok: a result or a typed error");
  process.exit(error ? 1 : 0);
}

const seed = values.seed ? Number(values.seed) : 1;

/** Input `iteration` of this seed, run alone 5 times: the median ms, and its error if any. */
function timeAlone(target: string, iteration: number): { ms: number; error: string | null } {
  const p = targetByName(target).prepare();
  const input = makeInput(p, seed, iteration);
  const times: number[] = [];
  let error: string | null = null;
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    error = runOne(p, input);
    times.push(performance.now() - t0);
  }
  return { ms: times.sort((a, b) => a - b)[2], error };
}

if (values.iteration) {
  const r = timeAlone(name, Number(values.iteration));
  console.log(
    `${name} seed ${seed} input ${values.iteration}: ${r.ms.toFixed(2)} ms; ${r.error ?? "ok"}`,
  );
  process.exit(r.error ? 1 : 0);
}
const runs = values.runs ? Number(values.runs) : undefined;
const seconds = values.seconds ? Number(values.seconds) : undefined;
const timeoutMs = Number(values.timeout ?? 10) * 1000;
const maxGrowth = Number(values["max-growth"] ?? 64);
const saveDir = values.save ?? new URL("../test/fixtures/fuzz/", import.meta.url).pathname;
const targets = name === "all" ? TARGETS : [targetByName(name)];

interface Outcome {
  result?: FuzzResult;
  hang?: number;
  error?: string;
}

/** One worker run from iteration `from`; ends at the end of the run or at a hang. */
function runWorker(target: string, from: number, runsLeft?: number, secondsLeft?: number) {
  return new Promise<Outcome>((resolve) => {
    const beat = new SharedArrayBuffer(8);
    const view = new Int32Array(beat);
    const worker = new Worker(new URL("../test/fuzz/worker.ts", import.meta.url).href, {
      type: "module",
    });
    let last = -1, lastChange = performance.now();
    const timer = setInterval(() => {
      const n = Atomics.load(view, 1);
      if (n !== last) {
        last = n;
        lastChange = performance.now();
      } else if (n > 0 && performance.now() - lastChange > timeoutMs) {
        clearInterval(timer);
        worker.terminate();
        resolve({ hang: Atomics.load(view, 0) });
      }
    }, 200);
    worker.onmessage = (e: MessageEvent) => {
      clearInterval(timer);
      worker.terminate();
      resolve(e.data.ok ? { result: e.data.result } : { error: e.data.error });
    };
    worker.onerror = (e: ErrorEvent) => {
      clearInterval(timer);
      e.preventDefault?.();
      worker.terminate();
      resolve({ error: e.message });
    };
    const job: WorkerJob = { target, seed, runs: runsLeft, seconds: secondsLeft, from, beat };
    worker.postMessage(job);
  });
}

function save(target: string, iteration: number, input: Uint8Array): string {
  mkdirSync(saveDir, { recursive: true });
  const path = `${saveDir}/${target}-s${seed}-i${iteration}.bin`;
  writeFileSync(path, input);
  return path;
}

let bad = 0;
console.log(
  "target         inputs      seconds  inputs/s  typed-err  slowest(ms @iter)       crashes hangs  RSS warm->end (growth) MiB",
);
for (const t of targets) {
  const start = performance.now();
  let from = 0, inputs = 0, rejected = 0, crashes = 0, hangs = 0;
  const slowest = { ms: 0, iteration: -1, bytes: 0 };
  let memory: FuzzResult["memory"] | null = null;
  while (true) {
    const elapsed = (performance.now() - start) / 1000;
    const runsLeft = runs === undefined ? undefined : runs - inputs;
    const secondsLeft = seconds === undefined ? undefined : seconds - elapsed;
    if (
      (runsLeft !== undefined && runsLeft <= 0) || (secondsLeft !== undefined && secondsLeft <= 0)
    ) break;
    const o = await runWorker(t.name, from, runsLeft, secondsLeft);
    if (o.error) {
      console.error(`${t.name}: worker failed: ${o.error}`);
      bad++;
      break;
    }
    if (o.hang !== undefined) {
      const input = makeInput(t.prepare(), seed, o.hang);
      console.error(
        `${t.name}: input ${o.hang} ran over ${timeoutMs / 1000} s: ${save(t.name, o.hang, input)}`,
      );
      hangs++;
      inputs += o.hang - from + 1;
      from = o.hang + 1;
      continue;
    }
    const r = o.result!;
    inputs += r.inputs;
    rejected += r.rejected;
    if (r.slowest.ms > slowest.ms) Object.assign(slowest, r.slowest);
    memory = r.memory;
    for (const f of r.failures) {
      crashes++;
      console.error(
        `${t.name}: input ${f.iteration}: ${f.error}\n  saved: ${
          save(t.name, f.iteration, f.input)
        }`,
      );
    }
    if (r.failures.length) from = r.failures[r.failures.length - 1].iteration + 1;
    if (r.failures.length < 20) break; // the run ended by its budget, not by failures
  }
  const secs = (performance.now() - start) / 1000;
  const growth = memory?.growthMiB ?? 0;
  const alone = slowest.iteration >= 0 ? timeAlone(t.name, slowest.iteration).ms.toFixed(1) : "-";
  if (crashes || hangs || growth > maxGrowth) bad++;
  console.log(
    `${t.name.padEnd(14)} ${String(inputs).padStart(9)} ${secs.toFixed(1).padStart(9)} ${
      (inputs / secs).toFixed(0).padStart(9)
    } ${String(rejected).padStart(10)}  ${slowest.ms.toFixed(1).padStart(8)} @${
      String(slowest.iteration).padEnd(12)
    } ${String(crashes).padStart(7)} ${String(hangs).padStart(5)}  ${
      memory?.warmRssMiB.toFixed(0)
    }->${memory?.endRssMiB.toFixed(0)} (${growth >= 0 ? "+" : ""}${growth.toFixed(1)})${
      growth > maxGrowth ? " GROWTH" : ""
    }  slowest alone: ${alone} ms`,
  );
}
process.exit(bad ? 1 : 0);
