// The one stream a session prints: its formatter (a tracer's own, or tracer watch's for
// several tracers), and the merge that puts several tracers' records, read from several
// buffers, into the order of their kernel time stamps. Pure.

import { ReorderBuffer } from "../events/reorder.ts";
import type { FormatOptions } from "./format.ts";
import type { SessionTracer } from "./session.ts";
import type { ContextRecord } from "./types.ts";

/** Formats the records of the tracers running, each known by its index among them. */
export interface StreamFormatter {
  /** Text to print before the first record (the table header; nothing for JSON). */
  header(): string;
  /** One record of tracer number `part`. */
  record(part: number, r: ContextRecord): string;
  /** Report of tracer `part`'s events the kernel could not deliver (in-band). */
  lost(part: number, lost: number, total: number, bootNs: bigint): string;
}

/** Builds the stream's formatter for the tracers that are running. */
export type StreamFormat = (
  o: FormatOptions,
  tracers: readonly SessionTracer<ContextRecord>[],
) => StreamFormatter;

/** A single tracer's own table and JSON (tracer exec, open, connect). */
export const singleStream: StreamFormat = (o, tracers) => {
  const f = tracers[0].formatter(o);
  return {
    header: () => f.header(),
    record: (_part, r) => f.record(r),
    lost: (_part, lost, total, bootNs) => f.lost(lost, total, bootNs),
  };
};

interface Held<R> {
  part: number;
  r: R;
  t: bigint;
}

/**
 * Several tracers' records in kernel-time order. Each buffer delivers its own records in
 * order, but one tracer's buffer is read after another's: a record is held until it is older
 * than a short window (the caller's `before`), so one stamped a moment earlier in another
 * buffer, read later, still comes first.
 */
export class StreamMerge<R> {
  private readonly held = new ReorderBuffer<Held<R>>((h) => h.t);

  push(part: number, r: R, t: bigint): void {
    this.held.push({ part, r, t });
  }

  /** Emits, oldest first, the records stamped before `before`, or all of them. */
  release(emit: (part: number, r: R) => void, before?: bigint): void {
    this.held.flush((h) => emit(h.part, h.r), before);
  }
}
