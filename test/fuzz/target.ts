// What a fuzz target is: real seeds, how one input is made from them, what is run on it,
// and which typed errors it may end in. Inputs are bytes, so any input can be saved under
// test/fixtures/fuzz/ and replayed.

import type { Rand } from "./rng.ts";

export interface FuzzTarget {
  name: string;
  /** What is parsed, from which seeds (for the report). */
  about: string;
  /** Loads the seeds once; the returned functions make and run inputs. */
  prepare(): PreparedTarget;
}

export interface PreparedTarget {
  /** One input, made from the seeds with `rand` (deterministic). */
  generate(rand: Rand): Uint8Array;
  /** Parses and uses the input as the tracer would; throws what the parser throws. */
  run(input: Uint8Array): void;
  /** True for the typed errors the parser may end in. */
  allowed(e: unknown): boolean;
}

/** Input framing for targets that take two blobs (an object and a target BTF). */
export function pack(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + a.length + b.length);
  new DataView(out.buffer).setUint32(0, a.length, true);
  out.set(a, 4);
  out.set(b, 4 + a.length);
  return out;
}

export function unpack(input: Uint8Array): [Uint8Array, Uint8Array] {
  if (input.length < 4) return [new Uint8Array(0), input];
  const n = Math.min(
    new DataView(input.buffer, input.byteOffset).getUint32(0, true),
    input.length - 4,
  );
  return [input.subarray(4, 4 + n), input.subarray(4 + n)];
}
