// Mutations of real inputs. mutateBytes is the plain byte-level mutator (flips, a random
// word, a byte, a cut); mutateStructured aims at the structures a parser reads (headers,
// section tables, type records, record length words: the `regions` a target names) with
// boundary values, and also moves, inserts, deletes and splices chunks.

import type { Rand } from "./rng.ts";

/** A byte range of an input that a parser interprets (a header, a table, a record). */
export interface Region {
  start: number;
  end: number;
}

/** Mutates a copy: a few random byte flips, or a random 32-bit word, or a cut. */
export function mutateBytes(bytes: Uint8Array, rand: Rand, from = 0): Uint8Array {
  const b = bytes.slice();
  if (b.length <= from) return b;
  const how = rand(4);
  const span = b.length - from;
  if (how === 0) {
    for (let i = 0, n = 1 + rand(8); i < n; i++) b[from + rand(span)] ^= 1 << rand(8);
  } else if (how === 1) {
    if (b.length < 4) return b;
    const at = from + (rand(span >> 2) << 2);
    const v = [0, 0xffffffff, 0x7fffffff, rand(0x10000), rand(1 << 30)][rand(5)];
    new DataView(b.buffer).setUint32(Math.min(at, b.length - 4), v, true);
  } else if (how === 2) {
    b[from + rand(span)] = rand(256);
  } else {
    return b.subarray(0, from + rand(span));
  }
  return b;
}

/** Values at the edges of what parsers check: sizes, counts, offsets, ids. */
function interesting(rand: Rand, len: number, bits: 8 | 16 | 32): number {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  const pool = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    24,
    64,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x10000,
    0x7fffffff,
    0x80000000,
    0xfffffffe,
    0xffffffff,
    len,
    len - 1,
    len + 1,
    len >>> 1,
    rand(len + 1),
    rand(64),
    rand(0x10000),
    rand(0x100000000),
  ];
  return (pool[rand(pool.length)] >>> 0) & max;
}

/** A position inside one of the regions (or anywhere), aligned to `align`. */
function pick(rand: Rand, len: number, regions: readonly Region[], align: number): number {
  let start = 0, end = len;
  if (regions.length && rand(4) !== 0) {
    const r = regions[rand(regions.length)];
    start = Math.min(r.start, len);
    end = Math.min(r.end, len);
  }
  const slots = Math.floor((end - start) / align);
  return slots > 0 ? start + rand(slots) * align : rand(Math.max(len, 1));
}

/**
 * 1-4 structure-aware mutations of a copy of `bytes`: boundary values written as aligned
 * 8/16/32/64-bit fields inside the regions, small additions to fields, chunks copied,
 * inserted, deleted or spliced from `other`, and the byte-level mutations of mutateBytes.
 */
export function mutateStructured(
  bytes: Uint8Array,
  rand: Rand,
  regions: readonly Region[] = [],
  other?: Uint8Array,
): Uint8Array {
  let b = bytes.slice();
  for (let round = 0, n = 1 + rand(4); round < n; round++) {
    const len = b.length;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (rand(10)) {
      case 0:
      case 1: { // a 32-bit field
        if (len < 4) break;
        const at = Math.min(pick(rand, len, regions, 4), len - 4);
        dv.setUint32(at, interesting(rand, len, 32), true);
        break;
      }
      case 2: { // a 16-bit or 8-bit field
        if (len < 2) break;
        if (rand(2)) {
          dv.setUint16(
            Math.min(pick(rand, len, regions, 2), len - 2),
            interesting(rand, len, 16),
            true,
          );
        } else b[Math.min(pick(rand, len, regions, 1), len - 1)] = interesting(rand, len, 8);
        break;
      }
      case 3: { // a 64-bit field (ELF offsets and sizes)
        if (len < 8) break;
        const at = Math.min(pick(rand, len, regions, 8), len - 8);
        const v = [
          0n,
          0xffffffffffffffffn,
          0x8000000000000000n,
          BigInt(interesting(rand, len, 32)),
        ][rand(4)];
        dv.setBigUint64(at, v, true);
        break;
      }
      case 4: { // a small change to a field
        if (len < 4) break;
        const at = Math.min(pick(rand, len, regions, 4), len - 4);
        dv.setUint32(at, (dv.getUint32(at, true) + rand(17) - 8) >>> 0, true);
        break;
      }
      case 5: { // a chunk copied over another place
        if (len < 2) break;
        const n = 1 + rand(Math.min(64, len));
        const from = rand(len - n + 1), to = rand(len - n + 1);
        b.copyWithin(to, from, from + n);
        break;
      }
      case 6: { // a chunk inserted (a copy of another part) or deleted
        const n = 1 + rand(64);
        const at = rand(len + 1);
        if (rand(2) && len > n) {
          const out = new Uint8Array(len - n);
          out.set(b.subarray(0, Math.min(at, len - n)));
          out.set(b.subarray(Math.min(at, len - n) + n), Math.min(at, len - n));
          b = out;
        } else {
          const src = rand(Math.max(len - n, 1));
          const out = new Uint8Array(len + n);
          out.set(b.subarray(0, at));
          out.set(b.subarray(src, src + n), at);
          out.set(b.subarray(at), at + n);
          b = out;
        }
        break;
      }
      case 7: { // spliced with another input: a prefix of this, the rest of that
        if (!other || other.length === 0) break;
        const cut = rand(Math.min(len, other.length) + 1);
        const out = new Uint8Array(other.length);
        out.set(b.subarray(0, cut));
        out.set(other.subarray(cut), cut);
        b = out;
        break;
      }
      default:
        b = mutateBytes(b, rand).slice();
    }
  }
  return b;
}
