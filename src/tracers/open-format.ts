// How open records are shown: the opensnoop-like table and the JSON lines
// (src/output/README-json.md). Pure.

import { errnoName } from "../errors.ts";
import { escapeBytes } from "../output/escape.ts";
import { jsonLine, setBytesField } from "../output/json.ts";
import { Table } from "../output/table.ts";
import {
  type FormatOptions,
  jsonHead,
  leadingCells,
  leadingColumns,
  lostReport,
  type RecordFormatter,
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

export function openFormatter(o: OpenFormatOptions): RecordFormatter<OpenRecord> {
  const arch = o.arch ?? "x64";
  if (o.json) return jsonFormatter(o, arch);
  const table = new Table([
    ...leadingColumns(o),
    { name: "PID", align: "right", width: 7 },
    { name: "COMM", width: 16 },
    { name: "FD", align: "right", width: 3 },
    { name: "ERR", width: 12 }, // ENAMETOOLONG: the common errno names never widen it
    ...(o.extended ? [{ name: "FLAGS", width: 20 }, { name: "MODE", width: 4 }] : []),
    { name: "PATH" },
  ]);
  return {
    header: () => table.header(),
    record: (r) =>
      table.row([
        ...leadingCells(o, r.timeNs, r.uid),
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

function jsonFormatter(o: OpenFormatOptions, arch: Arch): RecordFormatter<OpenRecord> {
  return {
    header: () => "",
    record(r) {
      const rec = jsonHead(o, "open", r.timeNs);
      rec.pid = r.pid;
      rec.tid = r.tid;
      rec.uid = r.uid;
      setBytesField(rec, "comm", r.comm);
      setBytesField(rec, "path", r.path);
      if (o.fullPath) {
        if (r.fullPath) setBytesField(rec, "full_path", r.fullPath);
        else rec.full_path = null;
      }
      rec.path_truncated = r.pathTruncated;
      rec.dirfd = r.dirfd === AT_FDCWD ? null : r.dirfd;
      rec.flags = flagNames(r.flags, arch);
      rec.flags_raw = r.flags;
      const mode = modeText(r, arch);
      rec.mode = mode === null ? null : r.mode;
      rec.syscall = r.syscall;
      rec.fd = r.ret < 0 ? null : r.ret;
      rec.ret = r.ret;
      rec.error = r.ret < 0 ? errnoName(-r.ret) : null;
      rec.cgroup_id = r.cgroupId;
      rec.mntns_id = r.mntnsId;
      if (r.pathFault) rec.path_fault = true;
      if (r.fullPathTruncated) rec.full_path_truncated = true;
      return jsonLine(rec);
    },
    lost: (lost, total, bootNs) => lostReport(o, lost, total, bootNs),
  };
}
