// How connect records are shown: the table (PID COMM IP SADDR SPORT DADDR DPORT RESULT
// LAT(ms)) and the JSON lines (src/output/README-json.md). Pure.

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
  setContextFields,
  type StreamCells,
} from "./format.ts";
import type { ConnectRecord } from "./connect.ts";

/** "ok", "pending", or the errno name of the failure ("ECONNREFUSED"). */
export function connectResult(r: ConnectRecord): string {
  if (r.pending) return "pending";
  return r.err ? errnoName(r.err) : "ok";
}

/** The connect's latency in µs (ns precision): from the call to the outcome, or to the stop. */
export function latencyUs(r: ConnectRecord): number {
  return Number(r.timeNs - r.startNs) / 1000;
}

/** An address and port as text: 127.0.0.1:80, [::1]:80. */
function endpoint(family: 4 | 6, addr: string, port: number): string {
  return family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/**
 * A connect in tracer watch's table: DETAIL is "SADDR:SPORT -> DADDR:DPORT RESULT LATms",
 * e.g. "127.0.0.1:40112 -> 127.0.0.1:80 ok 0.052ms".
 */
export function connectCells(r: ConnectRecord): StreamCells {
  return {
    timeNs: r.timeNs,
    uid: r.uid,
    context: r.context,
    pid: r.pid,
    comm: escapeBytes(r.comm),
    detail: `${endpoint(r.family, r.saddr, r.sport)} -> ${endpoint(r.family, r.daddr, r.dport)} ` +
      `${connectResult(r)} ${(latencyUs(r) / 1000).toFixed(3)}ms`,
  };
}

export function connectFormatter(o: FormatOptions): RecordFormatter<ConnectRecord> {
  if (o.json) return jsonFormatter(o);
  const table = new Table([
    ...leadingColumns(o),
    { name: "PID", align: "right", width: 7 },
    { name: "COMM", width: 16, fit: true },
    { name: "IP", align: "right", width: 2 },
    { name: "SADDR", width: 16 },
    { name: "SPORT", align: "right", width: 5 },
    { name: "DADDR", width: 16 },
    { name: "DPORT", align: "right", width: 5 },
    { name: "RESULT", width: 13 },
    { name: "LAT(ms)", align: "right", width: 8 },
  ]);
  return {
    header: () => table.header(),
    record: (r) =>
      table.row([
        ...leadingCells(o, r.timeNs, r.uid, r.context),
        String(r.pid),
        escapeBytes(r.comm),
        String(r.family),
        r.saddr,
        String(r.sport),
        r.daddr,
        String(r.dport),
        connectResult(r),
        (latencyUs(r) / 1000).toFixed(3),
      ]),
    lost: (lost, total, bootNs) => lostReport(o, lost, total, bootNs),
  };
}

function jsonFormatter(o: FormatOptions): RecordFormatter<ConnectRecord> {
  return {
    header: () => "",
    record(r) {
      const rec = jsonHead(o, "connect", r.timeNs);
      rec.pid = r.pid;
      rec.tid = r.tid;
      rec.uid = r.uid;
      setBytesField(rec, "comm", r.comm);
      rec.family = r.family;
      rec.saddr = r.saddr;
      rec.sport = r.sport;
      rec.daddr = r.daddr;
      rec.dport = r.dport;
      rec.result = connectResult(r);
      rec.error = r.err && !r.pending ? errnoName(r.err) : null;
      rec.latency_us = latencyUs(r);
      rec.cgroup_id = r.cgroupId;
      rec.mntns_id = r.mntnsId;
      setContextFields(rec, r.context);
      rec.netns_id = r.netnsId;
      return jsonLine(rec);
    },
    lost: (lost, total, bootNs) => lostReport(o, lost, total, bootNs),
  };
}
