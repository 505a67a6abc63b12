// The reader side of one CPU's perf ring (perf_event_open + mmap), over plain memory views.
// Pure: imports nothing from a runtime. Used by the perf buffer reader (perfbuf.ts), the
// fallback for kernels without BPF ring buffers (before 5.8).
//
// Layout (include/uapi/linux/perf_event.h): the first page is struct perf_event_mmap_page,
// with data_head (u64, written by the kernel) at byte 1024 and data_tail (u64, ours) at
// byte 1032; the data area (2^n pages) follows, mapped once: a record may wrap around its
// end. Each record starts with struct perf_event_header { u32 type; u16 misc; u16 size }.

import type { SampleHandler } from "./ringbuf-consumer.ts";

export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_SAMPLE = 9;
const DATA_HEAD_OFFSET = 1024;
const DATA_TAIL_OFFSET = 1032;

export interface PerfRingMemory {
  /** The metadata page (struct perf_event_mmap_page). */
  meta: ArrayBuffer;
  /** The data area, `size` bytes (a power of two). */
  data: ArrayBuffer;
  size: number;
}

export class PerfConsumer {
  readonly size: number;
  private readonly head: BigUint64Array;
  private readonly tail: BigUint64Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** For records that wrap around the end of the data area. */
  private readonly scratch = new Uint8Array(65536);
  private readonly scratchView = new DataView(this.scratch.buffer);
  /** Samples delivered since creation. */
  delivered = 0;
  /** Samples the kernel reported lost (PERF_RECORD_LOST) since creation. */
  lost = 0;
  /** Records of other types skipped. */
  other = 0;

  constructor(mem: PerfRingMemory) {
    const { size } = mem;
    if (size <= 0 || (size & (size - 1)) !== 0) {
      throw new RangeError(`perf ring size ${size} is not a power of two`);
    }
    this.size = size;
    this.head = new BigUint64Array(mem.meta, DATA_HEAD_OFFSET, 1);
    this.tail = new BigUint64Array(mem.meta, DATA_TAIL_OFFSET, 1);
    this.bytes = new Uint8Array(mem.data, 0, size);
    this.view = new DataView(mem.data, 0, size);
  }

  pending(): number {
    return Number(Atomics.load(this.head, 0) - Atomics.load(this.tail, 0));
  }

  /**
   * Delivers each PERF_RECORD_SAMPLE's raw data to `handler` (len is the raw size as the
   * kernel gives it, padded to keep records 8-byte aligned), adds PERF_RECORD_LOST counts to
   * `lost` (and reports them to `onLost`), and publishes data_tail after the drain.
   * Returns the number of samples delivered.
   */
  drain(handler: SampleHandler, onLost?: (count: number) => void): number {
    const head = Number(Atomics.load(this.head, 0)); // acquire: records before head are complete
    let tail = Number(Atomics.load(this.tail, 0));
    let count = 0;
    try {
      while (tail < head) {
        const off = tail % this.size;
        const type = this.u32(off);
        const recSize = this.u16(off + 6);
        if (recSize < 8) {
          // Cannot happen with a sane kernel; do not loop forever on it.
          tail = head;
          break;
        }
        let v = this.view;
        let base = off;
        if (off + recSize > this.size) {
          // Wrapped record: copy both halves into the scratch buffer.
          const first = this.size - off;
          this.scratch.set(this.bytes.subarray(off, this.size), 0);
          this.scratch.set(this.bytes.subarray(0, recSize - first), first);
          v = this.scratchView;
          base = 0;
        }
        tail += recSize;
        if (type === PERF_RECORD_SAMPLE) {
          const rawSize = v.getUint32(base + 8, true);
          count++;
          this.delivered++;
          handler(v, base + 12, Math.min(rawSize, recSize - 12));
        } else if (type === PERF_RECORD_LOST) {
          const n = Number(v.getBigUint64(base + 16, true));
          this.lost += n;
          onLost?.(n);
        } else {
          this.other++;
        }
      }
    } finally {
      Atomics.store(this.tail, 0, BigInt(tail)); // release: the kernel may reuse the space
    }
    return count;
  }

  private u32(off: number): number {
    if (off + 4 <= this.size) return this.view.getUint32(off, true);
    let v = 0;
    for (let i = 3; i >= 0; i--) v = v * 256 + this.bytes[(off + i) % this.size];
    return v;
  }

  private u16(off: number): number {
    return this.bytes[off % this.size] | (this.bytes[(off + 1) % this.size] << 8);
  }
}
