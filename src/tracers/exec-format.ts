// How exec records are shown: the execsnoop-like table and the JSON lines
// (src/output/README-json.md). Pure.

import { errnoName } from "../errors.ts";
import { escapeBytes, quoteArg } from "../output/escape.ts";
import { jsonLine, type JsonValue, setBytesField, setBytesListField } from "../output/json.ts";
import { type Column, Table } from "../output/table.ts";
import { clockTime, rfc3339Nanos, secondsSince } from "../output/time.ts";
import type { ExecRecord } from "./exec.ts";

export interface ExecFormatOptions {
  json?: boolean;
  /** -T: a clock time column. */
  clock?: boolean;
  /** -t: seconds since start. */
  elapsed?: boolean;
  /** -U: a UID column. */
  uidColumn?: boolean;
  /** CLOCK_REALTIME - CLOCK_BOOTTIME, ns (boot-clock stamps to wall clock). */
  wallOffsetNs: bigint;
  /** Boot-clock time of the start, for -t. */
  startBootNs: bigint;
}

export interface ExecFormatter {
  /** Text to print before the first record (the table header; nothing for JSON). */
  header(): string;
  record(r: ExecRecord): string;
  /** Report of events the kernel could not deliver: `lost` new, `total` since start. */
  lost(lost: number, total: number, bootNs: bigint): string;
}

/** The errno name of a failed exec's return value, or null. */
export function execError(ret: number): string | null {
  return ret < 0 ? errnoName(-ret) : null;
}

/**
 * The ARGS cell: quoted arguments, " ..." when they were truncated, the file name when there
 * are none, and a note when (part of) argv could not be read.
 */
export function argsCell(r: ExecRecord): string {
  let s = r.args.map(quoteArg).join(" ");
  if (r.argsTruncated) s += s ? " ..." : "...";
  if (r.args.length === 0 && !r.argsTruncated) s = escapeBytes(r.filename);
  if (r.argsFault) s += " [argv not readable]";
  return s;
}

export function execFormatter(o: ExecFormatOptions): ExecFormatter {
  if (o.json) return jsonFormatter(o);
  const columns: Column[] = [];
  if (o.clock) columns.push({ name: "TIME", width: 8 });
  if (o.elapsed) columns.push({ name: "TIME(s)", align: "right", width: 8 });
  if (o.uidColumn) columns.push({ name: "UID", align: "right", width: 6 });
  columns.push(
    { name: "PCOMM", width: 16 },
    { name: "PID", align: "right", width: 7 },
    { name: "PPID", align: "right", width: 7 },
    { name: "RET", align: "right", width: 3 },
    { name: "ARGS" },
  );
  const table = new Table(columns);
  return {
    header: () => table.header(),
    record(r) {
      const cells: string[] = [];
      if (o.clock) cells.push(clockTime(r.timeNs + o.wallOffsetNs));
      if (o.elapsed) cells.push(secondsSince(r.timeNs, o.startBootNs));
      if (o.uidColumn) cells.push(String(r.uid));
      cells.push(
        escapeBytes(r.comm),
        String(r.pid),
        String(r.ppid),
        String(r.ret),
        argsCell(r),
      );
      return table.row(cells);
    },
    lost: (lost, total) =>
      `# ${lost} more events did not fit in the ring buffer: lost ${total} events since start\n`,
  };
}

function jsonFormatter(o: ExecFormatOptions): ExecFormatter {
  return {
    header: () => "",
    record(r) {
      const rec: Record<string, JsonValue> = {
        type: "exec",
        time: rfc3339Nanos(r.timeNs + o.wallOffsetNs),
        time_ns: r.timeNs,
        pid: r.pid,
        tid: r.tid,
        ppid: r.ppid,
        uid: r.uid,
        gid: r.gid,
      };
      setBytesField(rec, "comm", r.comm);
      setBytesField(rec, "pcomm", r.pcomm);
      setBytesField(rec, "filename", r.filename);
      setBytesListField(rec, "args", r.args);
      rec.args_truncated = r.argsTruncated;
      rec.ret = r.ret;
      rec.error = execError(r.ret);
      rec.cgroup_id = r.cgroupId;
      rec.mntns_id = r.mntnsId;
      if (r.filenameTruncated) rec.filename_truncated = true;
      if (r.argsFault) rec.args_fault = true;
      return jsonLine(rec);
    },
    lost: (lost, total, bootNs) =>
      jsonLine({
        type: "lost",
        time: rfc3339Nanos(bootNs + o.wallOffsetNs),
        lost,
        lost_total: total,
      }),
  };
}
