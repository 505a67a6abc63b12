// BPF ring buffer reader: maps a BPF_MAP_TYPE_RINGBUF map (consumer page read-write,
// producer page and the doubled data area read-only), waits on it with epoll, and drains
// records with the pure consumer (ringbuf-consumer.ts). Runtime-neutral over the Platform.

import { TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { MAP_SHARED, MapType, PROT_READ, PROT_WRITE } from "../kernel/constants.ts";
import { RingConsumer, type SampleHandler } from "./ringbuf-consumer.ts";

/** x86_64 and arm64 (4K) page size; the ring's layout is in pages. */
export const PAGE_SIZE = 4096;
const EPOLLIN = 1;

/** What the reader needs from a map: its fd, name, type and size. */
export interface RingMap {
  readonly fd: number;
  readonly name: string;
  readonly type: number;
  readonly maxEntries: number;
}

export class RingBufReader {
  readonly consumer: RingConsumer;
  private readonly consumerAddr: bigint;
  private readonly dataAddr: bigint;
  private readonly dataLen: number;
  private readonly epfd: number;
  private closed = false;
  /** Records one poll delivers at most: a full ring of the smallest records (16 bytes). */
  private readonly pollLimit: number;

  constructor(private readonly p: Platform, readonly map: RingMap) {
    if (map.type !== MapType.RINGBUF) {
      throw new TracerError(`map ${map.name} is not a ring buffer (type ${map.type})`);
    }
    const size = map.maxEntries;
    this.pollLimit = size / 16;
    this.consumerAddr = p.mmap(
      PAGE_SIZE,
      PROT_READ | PROT_WRITE,
      MAP_SHARED,
      map.fd,
      0,
      `mmap consumer page of ring buffer ${map.name}`,
    );
    this.dataLen = PAGE_SIZE + 2 * size;
    try {
      this.dataAddr = p.mmap(
        this.dataLen,
        PROT_READ,
        MAP_SHARED,
        map.fd,
        PAGE_SIZE,
        `mmap data of ring buffer ${map.name}`,
      );
    } catch (e) {
      p.munmap(this.consumerAddr, PAGE_SIZE);
      throw e;
    }
    this.consumer = new RingConsumer({
      consumer: p.view(this.consumerAddr, PAGE_SIZE),
      producer: p.view(this.dataAddr, PAGE_SIZE),
      data: p.view(this.dataAddr + BigInt(PAGE_SIZE), 2 * size),
      size,
    });
    try {
      this.epfd = p.epollCreate();
      p.epollAdd(this.epfd, map.fd, EPOLLIN, 0);
    } catch (e) {
      this.unmap();
      throw e;
    }
  }

  /**
   * Drains what is committed now; returns the number of records delivered. After close()
   * it returns 0: the consumer's views still point at the unmapped ring, and touching them
   * would be a SIGSEGV, not an exception.
   */
  drain(handler: SampleHandler, batch = 256): number {
    if (this.closed) return 0;
    return this.consumer.drain(handler, batch);
  }

  /**
   * Waits up to `timeoutMs` for data (epoll; returns at once if records are pending), then
   * drains. Resolves to the number of records delivered (0 once closed).
   */
  async poll(handler: SampleHandler, timeoutMs: number, batch = 256): Promise<number> {
    if (this.closed) return 0;
    if (this.consumer.pending() === 0) {
      await this.p.epollWait(this.epfd, 1, timeoutMs);
    }
    if (this.closed) return 0;
    // At most about a ring's worth of records: while producers keep up with the drain, an
    // unbounded one never returns, and the caller can neither write, nor report losses, nor
    // see a signal or its deadline meanwhile.
    return this.consumer.drain(handler, batch, this.pollLimit);
  }

  /** The epoll fd that becomes readable when the ring is woken (to wait on several readers). */
  get waitFd(): number {
    return this.epfd;
  }

  private unmap(): void {
    this.p.munmap(this.dataAddr, this.dataLen);
    this.p.munmap(this.consumerAddr, PAGE_SIZE);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.p.close(this.epfd);
    this.unmap();
  }
}
