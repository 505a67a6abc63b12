// The fuzzers' random numbers: xorshift32, deterministic from a seed, so any input can be
// made again from (seed, iteration). Shared by scripts/fuzz.ts and every fuzz test.

export type Rand = (n: number) => number;

/** xorshift32: rand(n) is in [0, n). */
export function rng(seed: number): Rand {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/** The seed of input `iteration` of a run seeded with `seed` (a 32-bit mix of both). */
export function inputSeed(seed: number, iteration: number): number {
  let h = (seed ^ Math.imul(iteration + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
