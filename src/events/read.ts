// Reading fields of records in place, allocating as little as the hot path allows. Pure.

/** A u64 as a number when it is exact as one (below 2^53), else as a bigint. */
export function u64(view: DataView, off: number): number | bigint {
  const lo = view.getUint32(off, true);
  const hi = view.getUint32(off + 4, true);
  return hi < 0x200000 ? hi * 4294967296 + lo : (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * A function giving a Uint8Array over a DataView's whole buffer, made once per buffer (a
 * ring's mapping stays the same buffer): index it at view.byteOffset + offset.
 */
export function byteViews(): (view: DataView) => Uint8Array {
  let buffer: ArrayBufferLike | null = null;
  let bytes: Uint8Array = new Uint8Array();
  return (view) => {
    if (view.buffer !== buffer) {
      buffer = view.buffer;
      bytes = new Uint8Array(buffer);
    }
    return bytes;
  };
}

/** The end of a NUL-terminated string in bytes[start, start + max). */
export function cStringEnd(bytes: Uint8Array, start: number, max: number): number {
  const end = start + max;
  for (let i = start; i < end; i++) if (bytes[i] === 0) return i;
  return end;
}
