// The consumer side of a BPF ring buffer (BPF_MAP_TYPE_RINGBUF), over plain memory views.
// Pure: imports nothing from a runtime. The mmap and epoll around it live in ringbuf.ts.
//
// Memory layout, as the kernel maps it (kernel/bpf/ringbuf.c):
//   page 0                 consumer position (u64), read-write for us
//   page 1                 producer position (u64), read-only
//   pages 2..              the data area, `size` bytes (a power of two), mapped TWICE in a
//                          row so a record that wraps past the end is contiguous.
// Each record: an 8-byte header { u32 len (with BUSY and DISCARD bits); u32 pgoff } and
// `len` bytes of sample, the whole rounded up to 8 bytes. Positions only grow; the offset
// in the data area is `pos & (size - 1)`.

export const RINGBUF_BUSY_BIT = 0x80000000;
export const RINGBUF_DISCARD_BIT = 0x40000000;
export const RINGBUF_HDR_SIZE = 8;

/**
 * Called once per committed record: the sample is `len` bytes of `view` at `offset`.
 * The view is the shared data-area view: read what you need before returning.
 */
export type SampleHandler = (view: DataView, offset: number, len: number) => void;

export interface RingMemory {
  /** At least 8 bytes: the consumer position (u64) at offset 0. */
  consumer: ArrayBuffer;
  /** At least 8 bytes: the producer position (u64) at offset 0. */
  producer: ArrayBuffer;
  /** The data area mapped twice: 2 * size bytes. */
  data: ArrayBuffer;
  /** Data area size in bytes (power of two). */
  size: number;
}

export class RingConsumer {
  readonly size: number;
  private readonly consumerPos: BigUint64Array;
  private readonly producerPos: BigUint64Array;
  private readonly headers: Int32Array;
  private readonly view: DataView;
  /** Records delivered since creation. */
  delivered = 0;
  /** Discarded records skipped since creation. */
  discarded = 0;

  constructor(mem: RingMemory) {
    const { size } = mem;
    if (size <= 0 || (size & (size - 1)) !== 0) {
      throw new RangeError(`ring buffer size ${size} is not a power of two`);
    }
    if (mem.data.byteLength < 2 * size) {
      throw new RangeError(
        `ring buffer data area is ${mem.data.byteLength} bytes, need 2 * ${size}`,
      );
    }
    this.size = size;
    this.consumerPos = new BigUint64Array(mem.consumer, 0, 1);
    this.producerPos = new BigUint64Array(mem.producer, 0, 1);
    this.headers = new Int32Array(mem.data, 0, (2 * size) >>> 2);
    this.view = new DataView(mem.data, 0, 2 * size);
  }

  /** Bytes committed or reserved by producers and not yet consumed. */
  pending(): number {
    return Number(this.producerPos[0] - Atomics.load(this.consumerPos, 0));
  }

  /**
   * Delivers every committed record to `handler`, in order, stopping at the first record a
   * producer still holds (BUSY). Discarded records are skipped. The consumer position is
   * published (store-release) after each batch of at most `batch` records, so producers
   * get space back while a long drain is still running. Returns the number of records
   * delivered. If the handler throws, the position past that record is published (the
   * record is consumed, as libbpf does) and the error propagates.
   */
  drain(handler: SampleHandler, batch = 64, limit = Infinity): number {
    let cons = Number(Atomics.load(this.consumerPos, 0));
    let count = 0;
    let inBatch = 0;
    try {
      outer: while (count < limit) {
        // Plain loads on the read-only pages: Bun's JIT (JSC) turns a hot Atomics.load into a
        // locked read-modify-write, which faults on a PROT_READ mapping (SIGSEGV after a few
        // thousand records). x86-64 and arm64 loads of aligned words are single-copy atomic.
        const prod = Number(this.producerPos[0]);
        if (cons >= prod) break;
        while (cons < prod) {
          // Positions exceed 2^31 over time: `%`, not `&`, on a JS number.
          const off = cons % this.size;
          // The header's len word (a plain load: see above).
          const len = this.headers[off >>> 2] >>> 0;
          if (len & RINGBUF_BUSY_BIT) break outer;
          const sampleLen = len & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT);
          cons += (sampleLen + RINGBUF_HDR_SIZE + 7) & ~7;
          inBatch++;
          if (len & RINGBUF_DISCARD_BIT) {
            this.discarded++;
          } else {
            count++;
            this.delivered++;
            handler(this.view, off + RINGBUF_HDR_SIZE, sampleLen);
          }
          if (inBatch >= batch) {
            Atomics.store(this.consumerPos, 0, BigInt(cons));
            inBatch = 0;
          }
          if (count >= limit) break outer;
        }
      }
    } finally {
      if (inBatch > 0) Atomics.store(this.consumerPos, 0, BigInt(cons));
    }
    return count;
  }
}
