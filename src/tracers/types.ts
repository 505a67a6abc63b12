// What a tracer is, as data: which embedded object, which programs to attach, the .rodata
// configuration, the event struct and how a decoded event becomes a record. A generic
// runner (run.ts) loads the object, attaches the programs, reads the ring buffer and hands
// each record to the caller. Pure: imports nothing from a runtime.

import type { BpfMap } from "../kernel/map.ts";
import type { ConstantValue } from "../loader/constants.ts";
import type { TaskContext } from "./context.ts";

/**
 * What every tracer's record has: the cgroup id the kernel sent (bpf/cgroup.h) and, set by the
 * runner from it, the container context (null until then, or without a resolver).
 */
export interface ContextRecord {
  cgroupId: number | bigint;
  context: TaskContext | null;
}

/** Where each field of the event struct sits, from the object's BTF (never hand-written). */
export interface EventLayout {
  /** Byte offset and size of a top-level field; throws if the struct has no such field. */
  field(name: string): { offset: number; size: number };
  /** The fixed size of the struct. */
  size: number;
}

export interface TracerDescription<R> {
  /** Key of the embedded object in src/generated/objects.ts, e.g. "exec". */
  object: string;
  /** Names (function symbols) of the programs to load and attach, in attach order. */
  programs: string[];
  /**
   * More tracepoints for some programs, beyond their own section's: the same loaded program
   * attached again (e.g. one exit handler for sys_exit_execve and sys_exit_execveat).
   */
  alsoAttach?: { program: string; category: string; name: string; optional?: boolean }[];
  /**
   * Programs whose tracepoint some kernels lack (arm64 has no sys_enter_open, openat2 is 5.6+):
   * where it is missing the program is not attached and the runner lists it as skipped.
   */
  optional?: string[];
  /**
   * What this description does differently because the kernel lacks something, e.g.
   * "argv walk: a bounded loop (no bpf_loop on this kernel)"; listed with -v.
   */
  fallbacks?: string[];
  /** max_entries overrides by map name (e.g. 1 for a map the chosen options never use). */
  mapSizes?: Record<string, number>;
  /** .rodata variables to set before load, by name. */
  rodata: Record<string, ConstantValue>;
  /** The ring buffer map the events arrive in. */
  ringbuf: string;
  /**
   * The .rodata flag that makes the programs send events with bpf_perf_event_output instead,
   * the ring buffer map then being created as a perf event array (kernels before 5.8).
   * Without it the tracer needs ring buffers.
   */
  perfBufferFlag?: string;
  /** A record's kernel time (CLOCK_BOOTTIME, ns): perf-buffer records are delivered in this order. */
  timeOf?(r: R): bigint;
  /** The BPF_MAP_TYPE_ARRAY/PERCPU_ARRAY of u64 counters, and the index of the lost count. */
  stats: { map: string; lostIndex: number; names: string[] };
  /** Name of the event struct in the object's BTF. */
  eventType: string;
  /**
   * Builds the record decoder once the layout is known. The returned function reads the
   * `len` bytes of one sample at `offset` of `view` and returns a record, or null to drop it
   * (user-space filters).
   */
  decoder(layout: EventLayout): (view: DataView, offset: number, len: number) => R | null;
  /**
   * Records only known when tracing stops (e.g. connects still in flight), read from the
   * tracer's maps after the programs are detached and the buffer drained.
   */
  atStop?(map: (name: string) => BpfMap, layout: EventLayout): R[];
}
