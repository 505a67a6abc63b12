// What every tracer's output shares: the formatter interface the session drives, the leading
// TIME / TIME(s) / UID / CONTAINER columns, the start of every JSON record (type, time,
// time_ns), its container context fields, and the lost-events line. Each tracer adds only its
// own columns and fields. Pure.

import { jsonLine, type JsonValue } from "../output/json.ts";
import type { Column } from "../output/table.ts";
import { clockTime, rfc3339Boot, rfc3339Nanos, secondsSince } from "../output/time.ts";
import { CONTAINER_COLUMN, type TaskContext } from "./context.ts";

export interface FormatOptions {
  json?: boolean;
  /** -T: a clock time column. */
  clock?: boolean;
  /** -t: seconds since start. */
  elapsed?: boolean;
  /** -U: a UID column. */
  uidColumn?: boolean;
  /** --containers: a CONTAINER column (short container id). */
  containersColumn?: boolean;
  /** CLOCK_REALTIME - CLOCK_BOOTTIME, ns (boot-clock stamps to wall clock). */
  wallOffsetNs: bigint;
  /** Boot-clock time of the start, for -t. */
  startBootNs: bigint;
}

export interface RecordFormatter<R> {
  /** Text to print before the first record (the table header; nothing for JSON). */
  header(): string;
  record(r: R): string;
  /** Report of events the kernel could not deliver: `lost` new, `total` since start. */
  lost(lost: number, total: number, bootNs: bigint): string;
}

/**
 * One record in tracer watch's table: the common cells (time, uid, PID, COMM) and the
 * tracer's own DETAIL (escaped, single-line text).
 */
export interface StreamCells {
  timeNs: bigint;
  uid: number;
  context: TaskContext | null;
  pid: number;
  comm: string;
  detail: string;
}

/**
 * The optional leading table columns, in order: TIME (-T), TIME(s) (-t), UID (-U),
 * CONTAINER (--containers).
 */
export function leadingColumns(o: FormatOptions): Column[] {
  const columns: Column[] = [];
  if (o.clock) columns.push({ name: "TIME", width: 8 });
  if (o.elapsed) columns.push({ name: "TIME(s)", align: "right", width: 8 });
  if (o.uidColumn) columns.push({ name: "UID", align: "right", width: 6 });
  if (o.containersColumn) columns.push({ ...CONTAINER_COLUMN });
  return columns;
}

/** The cells of leadingColumns() for one record. */
export function leadingCells(
  o: FormatOptions,
  timeNs: bigint,
  uid: number,
  context: TaskContext | null,
): string[] {
  const cells: string[] = [];
  if (o.clock) cells.push(clockTime(timeNs + o.wallOffsetNs));
  if (o.elapsed) cells.push(secondsSince(timeNs, o.startBootNs));
  if (o.uidColumn) cells.push(String(uid));
  if (o.containersColumn) cells.push(context?.cell ?? "-");
  return cells;
}

const NO_CONTEXT_JSON = `,"cgroup":null,"container_id":null,"pod_uid":null`;
const NO_CONTEXT_FIELDS = { cgroup: null, container_id: null, pod_uid: null };

/** A JSON record's container fields as text: cgroup, container_id, pod_uid. */
export function contextJson(context: TaskContext | null): string {
  return context?.json ?? NO_CONTEXT_JSON;
}

/** Sets a JSON record's container fields: cgroup (+ cgroup_b64), container_id, pod_uid. */
export function setContextFields(rec: Record<string, JsonValue>, context: TaskContext | null) {
  Object.assign(rec, context?.fields ?? NO_CONTEXT_FIELDS);
}

/** The first fields of every JSON record: type, wall-clock time, boot-clock stamp. */
export function jsonHead(
  o: FormatOptions,
  type: string,
  timeNs: bigint,
): Record<string, JsonValue> {
  return {
    type,
    time: rfc3339Boot(timeNs, o.wallOffsetNs),
    // A number where exact, so the JSON writer need not copy the record to convert a bigint.
    time_ns: timeNs < 9007199254740992n ? Number(timeNs) : timeNs,
  };
}

/**
 * The lost-events report: a comment line in the table, a "lost" record in JSON. `tracer`
 * names whose events they were when a stream has several tracers (tracer watch).
 */
export function lostReport(
  o: FormatOptions,
  lost: number,
  total: number,
  bootNs: bigint,
  tracer?: string,
): string {
  if (o.json) {
    return jsonLine({
      type: "lost",
      time: rfc3339Nanos(bootNs + o.wallOffsetNs),
      ...(tracer ? { tracer } : {}),
      lost,
      lost_total: total,
    });
  }
  const what = tracer ? `${tracer} events` : "events";
  return `# ${lost} more ${what} did not fit in the ring buffer: lost ${total} ${what} since start\n`;
}
