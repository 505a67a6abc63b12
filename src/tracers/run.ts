// The generic tracer runner: loads a tracer's embedded object (CO-RE against the kernel's
// BTF, .rodata from the description), attaches its programs, and reads its events from the
// BPF ring buffer, or from a perf buffer on kernels without one (before 5.8), turning samples
// into records with the description's decoder. Owns every kernel object it creates; close()
// releases them all.

import type { Btf, NameQuery } from "../btf/reader.ts";
import { kernelBtf } from "../btf/source.ts";
import { TracerError } from "../errors.ts";
import { type Collection, loadCollection } from "../loader/collection.ts";
import type { CoreCacheConfig } from "../loader/core-cache.ts";
import { BUILD_ID } from "../version.ts";
import { attachProgram, attachRefusedUpFront } from "../link/attach.ts";
import { attachTracepoint, MissingHookError } from "../link/tracepoint.ts";
import { closeAll, type Link } from "../link/link.ts";
import { PAGE_SIZE, RingBufReader } from "../events/ringbuf.ts";
import { PerfBufReader } from "../events/perfbuf.ts";
import { ReorderBuffer } from "../events/reorder.ts";
import type { SampleHandler } from "../events/ringbuf-consumer.ts";
import { hasBootClockHelper, hasRingbufMaps } from "../kernel/probes.ts";
import { MapType } from "../kernel/constants.ts";
import { measureBootLead } from "./boot-clock.ts";
import type { Platform } from "../platform/types.ts";
import { embeddedSpec } from "./embedded.ts";
import { eventLayout } from "./layout.ts";
import type { ContextRecord, TracerDescription } from "./types.ts";
import type { ContextResolver } from "./context.ts";
import type { Phases } from "../phases.ts";

export interface RunOptions {
  /** Target BTF (default: the running kernel's, /sys/kernel/btf/vmlinux). */
  btf?: Btf;
  /**
   * Ring buffer size in bytes (power of two, multiple of the page size); with the perf
   * buffer, the size of each CPU's buffer.
   */
  ringBytes?: number;
  /** The ring buffer's size when `ringBytes` is not given (default: the object's). */
  defaultRingBytes?: number;
  /**
   * Where events arrive: the BPF ring buffer, or a perf buffer (one ring per CPU). Default:
   * the ring buffer where the kernel has it (5.8+), else the perf buffer.
   */
  buffer?: EventBuffer;
  /**
   * Perf buffer: wake the reader when a CPU's buffer holds this many bytes (capped at half
   * of it); 0 or unset: on every event. The caller drains on a timer meanwhile.
   */
  perfWakeupBytes?: number;
  /** Start-up phases to mark. */
  phases?: Phases;
  /**
   * The per-boot cache of CO-RE results and attach ids (src/loader/core-cache.ts); none when
   * unset, and never with `btf` (a BTF other than the running kernel's).
   */
  coreCache?: CoreCacheConfig;
  /**
   * How the programs stamp records: bpf_ktime_get_boot_ns (5.8+), or bpf_ktime_get_ns plus
   * the boot clock's lead over the monotonic clock measured now ("monotonic": the same
   * CLOCK_BOOTTIME values unless the machine suspends while tracing). Default: the boot
   * clock where the kernel has its helper.
   */
  clock?: "boot" | "monotonic";
  /**
   * The container context of each record (its cgroup's path, container, pod) and the
   * --cgroup/--container filters; without it records keep a null context.
   */
  context?: ContextResolver;
}

export type EventBuffer = "ring" | "perf";

/** Where a built tracer keeps its per-boot CO-RE cache: a tmpfs, emptied at every boot. */
export const CORE_CACHE_DIR = "/run/tracer";

/** The built tracer's CO-RE cache (keyed by its build); none when running from source. */
export function builtCoreCache(): CoreCacheConfig | undefined {
  return BUILD_ID === null ? undefined : { dir: CORE_CACHE_DIR, key: BUILD_ID };
}

/** Each CPU's perf buffer when no size is given: 256 KiB, as libbpf-tools use. */
export const PERF_BUFFER_BYTES = 256 << 10;

/** The program announcing new cgroups (bpf/cgroup.h), and its ring's size. */
const ANNOUNCE_PROGRAM = "on_cgroup_mkdir";
const ANNOUNCE_RING_BYTES = 64 << 10;

/**
 * How long a perf-buffer record is held so that records from other CPUs' buffers, read
 * later, can still be put before it. Table and JSON output lag by at most this much.
 */
export const REORDER_WINDOW_NS = 20_000_000n;

/** What the runner reads events from; both readers fit. */
interface EventReader {
  readonly waitFd: number;
  poll(handler: SampleHandler, timeoutMs: number): Promise<number>;
  drain(handler: SampleHandler): number;
  close(): void;
}

export interface RunningTracer<R> {
  /**
   * Waits up to `timeoutMs` for data, then delivers every committed record to `onRecord`.
   * Always drains what is there, even without a wakeup (the programs may not wake us).
   * Resolves to the number of samples read.
   */
  poll(timeoutMs: number, onRecord: (r: R) => void): Promise<number>;
  /** Drains what is committed now, without waiting. */
  drain(onRecord: (r: R) => void): number;
  /** The stats counters, summed over CPUs, by index. */
  stats(): bigint[];
  /**
   * Detaches the programs, delivers every record still in the buffer, then the records only
   * known at stop (the description's atStop): call once, at stop, before the last stats().
   */
  finish(onRecord: (r: R) => void): void;
  /** Programs attached, as "kind target" strings. */
  readonly attached: string[];
  /** The description's fallbacks for what this kernel lacks. */
  readonly fallbacks: string[];
  /** Where CO-RE's results came from (the kernel's BTF, or the cache), null without CO-RE. */
  readonly core: string | null;
  /** Hooks this kernel lacks, not attached: "tracepoint syscalls/sys_enter_open (...)". */
  readonly skipped: string[];
  /** Names of the stats counters, by index (index 0: lost). */
  readonly statNames: readonly string[];
  /**
   * Each loaded program's kernel run time and run count (counted only while the sysctl
   * kernel.bpf_stats_enabled is 1): where the kernel-side time per event goes.
   */
  programStats(): { name: string; id: number; runTimeNs: bigint; runCnt: bigint; missed: bigint }[];
  /**
   * Runs of the tracer's programs the kernel skipped (a BPF program was already running on
   * that CPU): each may be a lost record that no counter of the programs' own could see.
   */
  skippedRuns(): bigint;
  /** Where the events arrive. */
  readonly buffer: EventBuffer;
  /**
   * `-- CMD` mode: traces process `tgid` (and its descendants, from their fork) from now on,
   * though it is no child of the tracer's made after the start (bpf/follow.h's traced map).
   */
  follow(tgid: number): void;
  /** A record's kernel time (the description's timeOf): to merge several tracers' records. */
  readonly timeOf?: (r: R) => bigint;
  /**
   * An epoll fd that becomes readable when the tracer's buffer is woken: a caller reading
   * several tracers waits on all of them at once (an epoll of these), then polls each with 0.
   */
  readonly waitFd: number;
  close(): void;
}

/** Loads, attaches and starts reading a tracer. */
export function startTracer<R extends ContextRecord>(
  p: Platform,
  desc: TracerDescription<R>,
  opts: RunOptions = {},
): RunningTracer<R> {
  const spec = embeddedSpec(desc.object);
  opts.phases?.mark("object parse");
  // A hook this kernel cannot have at all refuses now, not after the loads.
  for (const name of desc.programs) {
    const prog = spec.programs.find((x) => x.name === name);
    const refused = prog && !desc.optional?.includes(name) ? attachRefusedUpFront(prog) : null;
    if (refused) throw refused;
  }
  const target = (lookUp?: readonly NameQuery[]) => opts.btf ?? kernelBtf(undefined, p, lookUp);
  const layout = eventLayout(spec.btf, desc.eventType);
  const decode = desc.decoder(layout);
  const flag = desc.perfBufferFlag;
  const buffer = opts.buffer ?? (flag && !hasRingbufMaps(p) ? "perf" : "ring");
  if (buffer === "perf" && !flag) {
    throw new TracerError(`the ${desc.object} tracer cannot send its events to a perf buffer`);
  }
  const perf = buffer === "perf";
  const monotonic = (opts.clock ?? (hasBootClockHelper(p) ? "boot" : "monotonic")) === "monotonic";
  const fallbacks = [...desc.fallbacks ?? []];
  if (monotonic) fallbacks.push("times from bpf_ktime_get_ns and the boot clock's lead");
  const context = opts.context;
  const constants = {
    ...desc.rodata,
    ...context?.rodata(),
    ...(perf ? { [flag!]: true } : {}),
    ...(monotonic
      ? {
        use_monotonic_clock: true,
        boot_minus_monotonic_ns: measureBootLead((c) => p.clockNs(c)),
      }
      : {}),
  };
  const ringBytes = opts.ringBytes ?? opts.defaultRingBytes;
  // With container context, cgroups made while tracing are announced by the kernel
  // (bpf/cgroup.h) through a ring buffer of their own, where the kernel has ring buffers.
  const ringbufs = !perf || hasRingbufMaps(p);
  const announce = !!context && ringbufs;
  let collection: Collection | null = null;
  let announcements = null as RingBufReader | null;
  const links: Link[] = [];
  const skipped: string[] = [];
  let reader: RingBufReader | PerfBufReader | null = null;
  try {
    collection = loadCollection(p, spec, {
      constants,
      programs: [...desc.programs, ...(announce ? [ANNOUNCE_PROGRAM] : [])],
      kernelBtf: target,
      coreCache: opts.btf ? undefined : opts.coreCache,
      phases: opts.phases,
      mapSizes: {
        ...(context?.mapSizes() ?? { cgroup_verdicts: 1 }),
        cgroup_events: announce ? ANNOUNCE_RING_BYTES : PAGE_SIZE,
        ...desc.mapSizes,
        ...(ringBytes && !perf ? { [desc.ringbuf]: ringBytes } : {}),
      },
      perfEventArrays: [...(perf ? [desc.ringbuf] : []), ...(ringbufs ? [] : ["cgroup_events"])],
    });
    // The reader first: a perf buffer's CPU slots are empty until it fills them, and an event
    // written to an empty slot is lost (-ENOENT), so nothing may fire before it exists.
    const ring = collection.map(desc.ringbuf);
    if (perf) {
      const pages = (opts.ringBytes ?? PERF_BUFFER_BYTES) / PAGE_SIZE;
      reader = new PerfBufReader(p, ring, pages, opts.perfWakeupBytes ?? 0);
    } else {
      const ringSpec = spec.maps.find((m) => m.name === desc.ringbuf);
      reader = new RingBufReader(p, {
        fd: ring.fd,
        name: desc.ringbuf,
        type: ringSpec!.type,
        maxEntries: ringBytes ?? ringSpec!.maxEntries,
      });
    }
    opts.phases?.mark("ring buffer");
    // A hook this kernel lacks is skipped where the description allows it.
    const optional = (ok: boolean | undefined, attach: () => Link) => {
      try {
        links.push(attach());
        opts.phases?.step(`attached ${links.length}`);
      } catch (e) {
        if (!ok || !(e instanceof MissingHookError)) throw e;
        skipped.push(`${e.hook} (not on this kernel)`);
      }
    };
    for (const name of desc.programs) {
      optional(desc.optional?.includes(name), () => attachProgram(p, collection!.program(name)));
    }
    for (const a of desc.alsoAttach ?? []) {
      const prog = collection.program(a.program);
      optional(
        a.optional,
        () => attachTracepoint(p, prog.program.fd, prog.name, a.category, a.name),
      );
    }
    if (announce) {
      // Without it a new cgroup is named by a walk of the hierarchy when its first record is
      // read: a cgroup removed before then (a short-lived container) stays unnamed.
      try {
        links.push(attachProgram(p, collection.program(ANNOUNCE_PROGRAM)));
        const m = collection.map("cgroup_events");
        announcements = new RingBufReader(p, {
          fd: m.fd,
          name: m.name,
          type: MapType.RINGBUF,
          maxEntries: ANNOUNCE_RING_BYTES,
        });
      } catch (e) {
        if (!(e instanceof TracerError)) throw e;
        skipped.push(`tracepoint cgroup/cgroup_mkdir (${e.message.split("\n")[0]})`);
      }
    }
    opts.phases?.mark("attach");
  } catch (e) {
    // Newest first: detach, then the readers, then the maps and programs.
    closeAll(links.reverse());
    announcements?.close();
    reader?.close();
    collection?.close();
    throw e;
  }
  const c = collection;
  const r: EventReader = reader;
  const perfReader = perf ? reader as PerfBufReader : null;
  // Perf buffer: records come CPU by CPU; they are put back in time order before delivery.
  const reorder = perf && desc.timeOf ? new ReorderBuffer<R>(desc.timeOf) : null;
  const statsMap = c.map(desc.stats.map);
  const ncpu = p.possibleCpus();
  const attached = links.map((l) => `${l.kind} ${l.target}`);
  let closed = false;
  let failure: unknown = null;
  // Read before a record of an unseen cgroup is placed, and at each wait: with a filter, a new
  // cgroup's verdict then reaches the kernel within one wait even before its first record.
  let readAnnouncements = () => {};
  if (context && announcements) {
    const ring = announcements;
    const l = eventLayout(spec.btf, "cgroup_event");
    const oId = l.field("id").offset, oLen = l.field("path_len").offset, path = l.field("path");
    const learn = (v: DataView, off: number, len: number) => {
      const n = Math.min(v.getUint32(off + oLen, true), path.size, len - path.offset);
      const at = v.byteOffset + off + path.offset;
      context.learn(v.getBigUint64(off + oId, true), new Uint8Array(v.buffer, at, n).slice());
    };
    readAnnouncements = () => {
      if (!closed) { while (ring.drain(learn) > 0); }
    };
    context.readAnnouncements(readAnnouncements);
  }
  if (context?.filtering) {
    const verdicts = c.map("cgroup_verdicts");
    const key = new Uint8Array(8), value = new Uint8Array(1);
    context.storeVerdicts((id, keep) => {
      if (closed) return;
      new DataView(key.buffer).setBigUint64(0, id, true);
      value[0] = keep ? 1 : 0;
      try {
        verdicts.update(key, value);
      } catch {
        // Full: this cgroup's records keep coming here and are decided in user space.
      }
    });
  }
  /** Sets a record's container context; false when the filters drop it. */
  const contextOf = (rec: R): boolean => {
    if (!context) return true;
    const ctx = context.of(rec.cgroupId);
    if (!ctx.wanted) return false; // a cgroup the kernel had no verdict for yet
    rec.context = ctx;
    return true;
  };
  const handler = (onRecord: (rec: R) => void) => (view: DataView, off: number, len: number) => {
    try {
      const rec = decode(view, off, len);
      if (rec === null || !contextOf(rec)) return;
      if (reorder) reorder.push(rec);
      else onRecord(rec);
    } catch (e) {
      failure ??= e;
    }
  };
  /** Delivers held records: those past the window, or all (`all`, when draining). */
  const release = (onRecord: (rec: R) => void, all: boolean) => {
    if (!reorder) return;
    try {
      reorder.flush(onRecord, all ? undefined : p.clockNs("boot") - REORDER_WINDOW_NS);
    } catch (e) {
      failure ??= e;
    }
  };
  const check = () => {
    if (failure !== null) {
      const e = failure;
      failure = null;
      throw e instanceof TracerError ? e : new TracerError(`decoding ${desc.eventType}: ${e}`);
    }
  };
  let detached = false;
  const detach = () => {
    if (detached) return;
    detached = true;
    closeAll(links.reverse());
  };
  return {
    attached,
    fallbacks,
    core: c.coreSource,
    skipped,
    statNames: desc.stats.names,
    buffer,
    timeOf: desc.timeOf,
    waitFd: r.waitFd,
    programStats: () =>
      [...c.programs.values()].map((prog) => {
        const info = prog.program.info();
        return {
          name: prog.name,
          id: info.id,
          runTimeNs: info.runTimeNs,
          runCnt: info.runCnt,
          missed: info.recursionMisses,
        };
      }),
    follow(tgid) {
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, tgid, true);
      c.map("traced").update(key, Uint8Array.of(1));
    },
    skippedRuns() {
      if (closed) return 0n;
      let n = 0n;
      for (const prog of c.programs.values()) n += prog.program.info().recursionMisses;
      return n;
    },
    async poll(timeoutMs, onRecord) {
      if (closed) return 0;
      readAnnouncements();
      const n = await r.poll(handler(onRecord), timeoutMs);
      release(onRecord, false);
      check();
      return n;
    },
    drain(onRecord) {
      if (closed) return 0;
      const n = r.drain(handler(onRecord));
      release(onRecord, true);
      check();
      return n;
    },
    stats() {
      const out: bigint[] = [];
      const key = new Uint8Array(4);
      for (let i = 0; i < desc.stats.names.length; i++) {
        new DataView(key.buffer).setUint32(0, i, true);
        const v = statsMap.lookup(key);
        let sum = 0n;
        if (v) {
          const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
          const stride = v.byteLength / ncpu;
          for (let cpu = 0; cpu < ncpu; cpu++) sum += dv.getBigUint64(cpu * stride, true);
        }
        out.push(sum);
      }
      // Perf buffer: the kernel's own count (PERF_RECORD_LOST) of samples that did not fit.
      // The programs count those too where the helper reports the failure, so the larger
      // of the two is the number lost, never their sum.
      if (perfReader && BigInt(perfReader.lost) > out[desc.stats.lostIndex]) {
        out[desc.stats.lostIndex] = BigInt(perfReader.lost);
      }
      return out;
    },
    finish(onRecord) {
      if (closed) return;
      // Detached first: nothing new is sent, so this drain reads every record sent before
      // (none is left in the buffer uncounted) and the maps hold still while atStop reads them.
      detach();
      r.drain(handler(onRecord));
      release(onRecord, true);
      check();
      if (!desc.atStop) return;
      for (const rec of desc.atStop((name) => c.map(name), layout)) {
        if (contextOf(rec)) onRecord(rec);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      detach();
      announcements?.close();
      r.close();
      c.close();
    },
  };
}
