// How exec records are shown: the execsnoop-like table and the JSON lines
// (src/output/README-json.md). Pure.

import { errnoName } from "../errors.ts";
import { escapeBytes, quoteArg } from "../output/escape.ts";
import { jsonLine, type JsonValue, setBytesField, setBytesListField } from "../output/json.ts";
import { Table } from "../output/table.ts";
import {
  type FormatOptions,
  jsonHead,
  leadingCells,
  leadingColumns,
  lostReport,
  type RecordFormatter,
  setContextFields,
  type StreamCells,
} from "./format.ts";
import type { ExecRecord } from "./exec.ts";

export type ExecFormatOptions = FormatOptions;
export type ExecFormatter = RecordFormatter<ExecRecord>;

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

/** An exec in tracer watch's table: DETAIL is the command line, and the errno of a failure. */
export function execCells(r: ExecRecord): StreamCells {
  const err = execError(r.ret);
  return {
    timeNs: r.timeNs,
    uid: r.uid,
    context: r.context,
    pid: r.pid,
    comm: escapeBytes(r.comm),
    detail: argsCell(r) + (err ? ` (${err})` : ""),
  };
}

export function execFormatter(o: ExecFormatOptions): ExecFormatter {
  if (o.json) return jsonFormatter(o);
  const table = new Table([
    ...leadingColumns(o),
    { name: "PCOMM", width: 16, fit: true },
    { name: "PID", align: "right", width: 7 },
    { name: "PPID", align: "right", width: 7 },
    { name: "RET", align: "right", width: 3 },
    { name: "ARGS" },
  ]);
  return {
    header: () => table.header(),
    record: (r) =>
      table.row([
        ...leadingCells(o, r.timeNs, r.uid, r.context),
        escapeBytes(r.comm),
        String(r.pid),
        String(r.ppid),
        String(r.ret),
        argsCell(r),
      ]),
    lost: (lost, total, bootNs) => lostReport(o, lost, total, bootNs),
  };
}

function jsonFormatter(o: ExecFormatOptions): ExecFormatter {
  return {
    header: () => "",
    record(r) {
      const rec = jsonHead(o, "exec", r.timeNs);
      rec.pid = r.pid;
      rec.tid = r.tid;
      rec.ppid = r.ppid;
      rec.uid = r.uid;
      rec.gid = r.gid;
      setBytesField(rec, "comm", r.comm);
      setBytesField(rec, "pcomm", r.pcomm);
      setBytesField(rec, "filename", r.filename);
      setBytesListField(rec, "args", r.args);
      rec.args_truncated = r.argsTruncated;
      rec.ret = r.ret;
      rec.error = execError(r.ret);
      rec.cgroup_id = r.cgroupId;
      rec.mntns_id = r.mntnsId;
      setContextFields(rec, r.context);
      rec.ancestors = r.ancestors.map((a) => {
        const entry: Record<string, JsonValue> = { pid: a.pid };
        setBytesField(entry, "comm", a.comm);
        return entry;
      });
      if (r.filenameTruncated) rec.filename_truncated = true;
      if (r.argsFault) rec.args_fault = true;
      return jsonLine(rec);
    },
    lost: (lost, total, bootNs) => lostReport(o, lost, total, bootNs),
  };
}
