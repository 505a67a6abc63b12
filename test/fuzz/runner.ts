// Runs a fuzz target in this process: inputs made from (seed, iteration), each timed, every
// exception that is not one of the target's typed errors kept as a failure with its input,
// memory sampled after warm-up. scripts/fuzz.ts runs this inside a worker watched for hangs;
// the tests run it directly.

import process from "node:process";
import { inputSeed, rng } from "./rng.ts";
import type { FuzzTarget, PreparedTarget } from "./target.ts";

export interface FuzzOptions {
  seed: number;
  /** Stop after this many inputs ... */
  runs?: number;
  /** ... or after this many seconds (whichever comes first when both are given). */
  seconds?: number;
  /** First iteration (to resume or to remake one input). */
  from?: number;
  /** Called before each input with its iteration (a worker's heartbeat). */
  beat?: (iteration: number) => void;
  /** Stop after this many failures (default 20). */
  maxFailures?: number;
}

export interface FuzzFailure {
  iteration: number;
  input: Uint8Array;
  error: string;
}

export interface FuzzResult {
  target: string;
  seed: number;
  inputs: number;
  /** Inputs that ended in one of the target's typed errors. */
  rejected: number;
  seconds: number;
  slowest: { ms: number; iteration: number; bytes: number };
  failures: FuzzFailure[];
  /** RSS (MiB) after warm-up, and growth from there to the least of the last samples. */
  memory: { warmRssMiB: number; endRssMiB: number; growthMiB: number; samples: number[] };
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    return `${e.name}: ${e.message}\n${e.stack?.split("\n").slice(1, 6).join("\n") ?? ""}`;
  }
  return String(e);
}

/** Collects garbage when the runtime lets us (Bun always; Deno with --v8-flags=--expose-gc). */
export function collectGarbage(): void {
  const g = globalThis as { Bun?: { gc(full: boolean): void }; gc?: () => void };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
}

const MiB = 1024 * 1024;
const rssMiB = () => process.memoryUsage().rss / MiB;

/** Makes input `iteration` of a run seeded with `seed`. */
export function makeInput(p: PreparedTarget, seed: number, iteration: number): Uint8Array {
  return p.generate(rng(inputSeed(seed, iteration)));
}

/** Runs one input; returns the error text when it ended in something but a typed error. */
export function runOne(p: PreparedTarget, input: Uint8Array): string | null {
  try {
    p.run(input);
  } catch (e) {
    if (!p.allowed(e)) return describe(e);
  }
  return null;
}

export function runFuzz(
  target: FuzzTarget,
  opts: FuzzOptions,
  prepared: PreparedTarget = target.prepare(),
): FuzzResult {
  const p = prepared;
  const runs = opts.runs ?? Infinity;
  const budgetMs = (opts.seconds ?? Infinity) * 1000;
  const maxFailures = opts.maxFailures ?? 20;
  const failures: FuzzFailure[] = [];
  const slowest = { ms: 0, iteration: -1, bytes: 0 };
  const samples: number[] = [];
  const start = performance.now();
  // Warm-up: a tenth of the run; then up to 10 samples spread over the rest.
  const warmAt = Number.isFinite(runs) ? Math.floor(runs / 10) : Infinity;
  const warmMs = Number.isFinite(budgetMs) ? budgetMs / 10 : Infinity;
  const sampleEvery = Number.isFinite(runs) ? Math.max(1, Math.floor(runs / 10)) : Infinity;
  const sampleEveryMs = Number.isFinite(budgetMs) ? budgetMs / 10 : Infinity;
  let nextSampleMs = warmMs;
  let rejected = 0;
  let i = 0;
  const first = opts.from ?? 0;
  const sample = () => {
    collectGarbage();
    samples.push(rssMiB());
  };
  for (; i < runs; i++) {
    const now = performance.now() - start;
    if (now >= budgetMs) break;
    if (i === warmAt || (i % sampleEvery === 0 && i > warmAt)) sample();
    else if (now >= nextSampleMs) {
      sample();
      nextSampleMs += sampleEveryMs;
    }
    const iteration = first + i;
    opts.beat?.(iteration);
    const input = makeInput(p, opts.seed, iteration);
    const t0 = performance.now();
    let error: string | null = null;
    try {
      p.run(input);
    } catch (e) {
      if (p.allowed(e)) rejected++;
      else error = describe(e);
    }
    const ms = performance.now() - t0;
    if (ms > slowest.ms) Object.assign(slowest, { ms, iteration, bytes: input.length });
    if (error !== null) {
      failures.push({ iteration, input, error });
      if (failures.length >= maxFailures) {
        i++;
        break;
      }
    }
  }
  sample();
  const seconds = (performance.now() - start) / 1000;
  const warm = samples[0];
  const late = samples.slice(-3);
  return {
    target: target.name,
    seed: opts.seed,
    inputs: i,
    rejected,
    seconds,
    slowest,
    failures,
    memory: {
      warmRssMiB: warm,
      endRssMiB: samples[samples.length - 1],
      growthMiB: samples.length > 1 ? Math.min(...late) - warm : 0,
      samples,
    },
  };
}
