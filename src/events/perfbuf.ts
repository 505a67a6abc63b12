// Perf buffer reader: the fallback for kernels without BPF ring buffers (before 5.8).
// One PERF_COUNT_SW_BPF_OUTPUT event per CPU, its fd stored in the program's
// BPF_MAP_TYPE_PERF_EVENT_ARRAY at that CPU's index, its ring mmapped and read with the
// pure perf ring reader (perf-consumer.ts); epoll tells which CPUs have data.
// Lost samples (PERF_RECORD_LOST) are counted, never dropped silently.

import { SysError, TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import {
  MAP_SHARED,
  MapType,
  PERF_SAMPLE_RAW,
  PerfAttrFlag,
  PerfSwConfig,
  PerfType,
  PROT_READ,
  PROT_WRITE,
} from "../kernel/constants.ts";
import { type PerfEvent, perfEventOpen } from "../kernel/perf.ts";
import { PerfConsumer } from "./perf-consumer.ts";
import type { SampleHandler } from "./ringbuf-consumer.ts";
import { PAGE_SIZE } from "./ringbuf.ts";

const EPOLLIN = 1;
const ENODEV = 19;

/** What the reader needs from the perf event array map. */
export interface PerfArrayMap {
  readonly name: string;
  readonly type: number;
  readonly maxEntries: number;
  update(key: Uint8Array, value: Uint8Array): void;
}

interface CpuRing {
  cpu: number;
  event: PerfEvent;
  addr: bigint;
  consumer: PerfConsumer;
}

export class PerfBufReader {
  private readonly rings: CpuRing[] = [];
  private readonly epfd: number;
  private readonly mapLen: number;
  private closed = false;

  private readonly wakeupBytes: number;

  /**
   * `pagesPerCpu`: data pages per CPU ring (a power of two). `wakeupBytes`: wake the reader
   * when a CPU's ring holds this much (at most half the ring); 0 wakes it on every sample.
   */
  constructor(
    private readonly p: Platform,
    readonly map: PerfArrayMap,
    pagesPerCpu = 64,
    wakeupBytes = 0,
  ) {
    if (map.type !== MapType.PERF_EVENT_ARRAY) {
      throw new TracerError(`map ${map.name} is not a perf event array (type ${map.type})`);
    }
    if (pagesPerCpu <= 0 || (pagesPerCpu & (pagesPerCpu - 1)) !== 0) {
      throw new RangeError(`perf buffer pages per CPU (${pagesPerCpu}) must be a power of two`);
    }
    this.mapLen = (1 + pagesPerCpu) * PAGE_SIZE;
    this.wakeupBytes = Math.min(Math.max(0, wakeupBytes), (pagesPerCpu * PAGE_SIZE) / 2);
    this.epfd = p.epollCreate();
    try {
      const ncpu = Math.min(p.possibleCpus(), map.maxEntries);
      for (let cpu = 0; cpu < ncpu; cpu++) this.openCpu(cpu);
      if (this.rings.length === 0) {
        throw new TracerError(`perf buffer ${map.name}: no CPU could be opened`);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private openCpu(cpu: number): void {
    let event: PerfEvent;
    try {
      event = perfEventOpen(this.p, {
        type: PerfType.SOFTWARE,
        config: BigInt(PerfSwConfig.BPF_OUTPUT),
        sampleType: BigInt(PERF_SAMPLE_RAW),
        samplePeriod: 1n,
        // wakeup_events and wakeup_watermark share the field; the watermark flag picks bytes.
        ...(this.wakeupBytes > 0
          ? { flags: PerfAttrFlag.watermark, wakeupEvents: this.wakeupBytes }
          : { wakeupEvents: 1 }),
      }, { pid: -1, cpu, what: `perf buffer ${this.map.name} CPU ${cpu}` });
    } catch (e) {
      if (e instanceof SysError && e.errno === ENODEV) return; // offline CPU
      throw e;
    }
    let addr = 0n;
    try {
      addr = this.p.mmap(
        this.mapLen,
        PROT_READ | PROT_WRITE,
        MAP_SHARED,
        event.fd,
        0,
        `mmap perf buffer ${this.map.name} CPU ${cpu}`,
      );
      const consumer = new PerfConsumer({
        meta: this.p.view(addr, PAGE_SIZE),
        data: this.p.view(addr + BigInt(PAGE_SIZE), this.mapLen - PAGE_SIZE),
        size: this.mapLen - PAGE_SIZE,
      });
      const key = new Uint8Array(4);
      const value = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, cpu, true);
      new DataView(value.buffer).setUint32(0, event.fd, true);
      this.map.update(key, value);
      this.p.epollAdd(this.epfd, event.fd, EPOLLIN, cpu);
      this.rings.push({ cpu, event, addr, consumer });
    } catch (e) {
      if (addr) this.p.munmap(addr, this.mapLen);
      event.close();
      throw e;
    }
  }

  /** Samples the kernel reported lost, over all CPUs. */
  get lost(): number {
    return this.rings.reduce((n, r) => n + r.consumer.lost, 0);
  }

  /** Drains every CPU's ring; returns the number of samples delivered. */
  drain(handler: SampleHandler, onLost?: (count: number, cpu: number) => void): number {
    let n = 0;
    for (const r of this.rings) {
      n += r.consumer.drain(handler, onLost && ((c) => onLost(c, r.cpu)));
    }
    return n;
  }

  /** Waits up to `timeoutMs` for a CPU's ring to have data, then drains all of them. */
  async poll(
    handler: SampleHandler,
    timeoutMs: number,
    onLost?: (count: number, cpu: number) => void,
  ): Promise<number> {
    if (!this.rings.some((r) => r.consumer.pending() > 0)) {
      await this.p.epollWait(this.epfd, this.rings.length, timeoutMs);
    }
    if (this.closed) return 0;
    return this.drain(handler, onLost);
  }

  /** The epoll fd that becomes readable when a CPU's ring is woken (to wait on several readers). */
  get waitFd(): number {
    return this.epfd;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.rings) {
      this.p.munmap(r.addr, this.mapLen);
      r.event.close();
    }
    this.rings.length = 0;
    this.p.close(this.epfd);
  }
}
