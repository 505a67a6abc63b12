// How open records are shown: the opensnoop-like table and the JSON lines
// (src/output/README-json.md). Pure.

import { errnoName } from "../errors.ts";
import { escapeBytes } from "../output/escape.ts";
import { bytesFieldJson } from "../output/json.ts";
import { rfc3339Boot } from "../output/time.ts";
import { Table } from "../output/table.ts";
import {
  contextJson,
  type FormatOptions,
  leadingCells,
  leadingColumns,
  lostReport,
  type RecordFormatter,
  type StreamCells,
} from "./format.ts";
import { AT_FDCWD, type OpenRecord } from "./open.ts";
import { type Arch, flagNames, takesMode } from "./open-flags.ts";

export interface OpenFormatOptions extends FormatOptions {
  /** -e: FLAGS and MODE columns. */
  extended?: boolean;
  /** -F: the PATH column shows the full path; JSON has full_path. */
  fullPath?: boolean;
  /** Whose open(2) flag values to name (default x64). */
  arch?: Arch;
}

/** The mode as octal ("0644"), or null when the flags take none. */
export function modeText(r: OpenRecord, arch: Arch = "x64"): string | null {
  return takesMode(r.flags, arch) ? "0" + r.mode.toString(8).padStart(3, "0") : null;
}

/** The PATH cell: the full path with -F (when known), escaped, with what went wrong. */
export function pathCell(r: OpenRecord, full: boolean): string {
  if (r.pathFault) return "[path not readable]";
  const shown = full && r.fullPath ? r.fullPath : r.path;
  let s = escapeBytes(shown);
  if (r.pathTruncated) s += " [truncated]";
  return s;
}

/**
 * An open in tracer watch's table: DETAIL is the flags and the path as passed, and the errno
 * of a failure.
 */
export function openCells(arch: Arch = "x64"): (r: OpenRecord) => StreamCells {
  return (r) => ({
    timeNs: r.timeNs,
    uid: r.uid,
    context: r.context,
    pid: r.pid,
    comm: escapeBytes(r.comm),
    detail: `${flagNames(r.flags, arch)} ${pathCell(r, false)}` +
      (r.ret < 0 ? ` (${errnoName(-r.ret)})` : ""),
  });
}

export function openFormatter(o: OpenFormatOptions): RecordFormatter<OpenRecord> {
  const arch = o.arch ?? "x64";
  if (o.json) return jsonFormatter(o, arch);
  const table = new Table([
    ...leadingColumns(o),
    { name: "PID", align: "right", width: 7 },
    { name: "COMM", width: 16, fit: true },
    { name: "FD", align: "right", width: 3 },
    { name: "ERR", width: 12 }, // ENAMETOOLONG: the common errno names never widen it
    ...(o.extended ? [{ name: "FLAGS", width: 20 }, { name: "MODE", width: 4 }] : []),
    { name: "PATH" },
  ]);
  return {
    header: () => table.header(),
    record: (r) =>
      table.row([
        ...leadingCells(o, r.timeNs, r.uid, r.context),
        String(r.pid),
        escapeBytes(r.comm),
        String(r.ret < 0 ? -1 : r.ret),
        r.ret < 0 ? errnoName(-r.ret) : "0",
        ...(o.extended ? [flagNames(r.flags, arch), modeText(r, arch) ?? "-"] : []),
        pathCell(r, !!o.fullPath),
      ]),
    lost: (lost, total, bootNs) => lostReport(o, lost, total, bootNs),
  };
}

/**
 * JSON lines written directly (the hot path of `--json`: a generic object and
 * JSON.stringify cost several times more per record); the field order is the schema's.
 */
function jsonFormatter(o: OpenFormatOptions, arch: Arch): RecordFormatter<OpenRecord> {
  return {
    header: () => "",
    record(r) {
      let s = `{"type":"open","time":"${rfc3339Boot(r.timeNs, o.wallOffsetNs)}",` +
        `"time_ns":${r.timeNs},"pid":${r.pid},"tid":${r.tid},"uid":${r.uid}` +
        bytesFieldJson("comm", r.comm) + bytesFieldJson("path", r.path);
      if (o.fullPath) {
        s += r.fullPath === null ? `,"full_path":null` : bytesFieldJson("full_path", r.fullPath);
      }
      const mode = takesMode(r.flags, arch) ? String(r.mode) : "null";
      const failed = r.ret < 0;
      s += `,"path_truncated":${r.pathTruncated}` +
        `,"dirfd":${r.dirfd === AT_FDCWD ? "null" : r.dirfd}` +
        `,"flags":"${flagNames(r.flags, arch)}","flags_raw":${r.flags},"mode":${mode}` +
        `,"syscall":"${r.syscall}","fd":${failed ? "null" : r.ret},"ret":${r.ret}` +
        `,"error":${failed ? `"${errnoName(-r.ret)}"` : "null"}` +
        `,"cgroup_id":${r.cgroupId},"mntns_id":${r.mntnsId}` + contextJson(r.context);
      if (r.pathFault) s += `,"path_fault":true`;
      if (r.fullPathTruncated) s += `,"full_path_truncated":true`;
      return s + "}\n";
    },
    lost: (lost, total, bootNs) => lostReport(o, lost, total, bootNs),
  };
}
