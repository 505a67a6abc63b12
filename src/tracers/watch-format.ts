// How tracer watch shows several tracers' records in one stream: JSON lines are each tracer's
// own (every record has its "type"; lost records name their tracer), the table has the
// leading columns, TYPE, PID, COMM and each tracer's DETAIL. Pure.

import { Table } from "../output/table.ts";
import { leadingCells, leadingColumns, lostReport, type StreamCells } from "./format.ts";
import type { StreamFormat } from "./stream.ts";
import type { ContextRecord } from "./types.ts";

export const watchStream: StreamFormat = (o, tracers) => {
  const lost = (part: number, n: number, total: number, bootNs: bigint) =>
    lostReport(o, n, total, bootNs, tracers[part].name);
  if (o.json) {
    const formatters = tracers.map((t) => t.formatter(o));
    return {
      header: () => "",
      record: (part, r) => formatters[part].record(r),
      lost,
    };
  }
  const cells = tracers.map((t): (r: ContextRecord) => StreamCells => {
    if (!t.cells) throw new Error(`the ${t.name} tracer has no cells for tracer watch`);
    return (r) => t.cells!(r);
  });
  const table = new Table([
    ...leadingColumns(o),
    { name: "TYPE", width: 7 },
    { name: "PID", align: "right", width: 7 },
    { name: "COMM", width: 16, fit: true },
    { name: "DETAIL" },
  ]);
  return {
    header: () => table.header(),
    record(part, r) {
      const c = cells[part](r);
      return table.row([
        ...leadingCells(o, c.timeNs, c.uid, c.context),
        tracers[part].name,
        String(c.pid),
        c.comm,
        c.detail,
      ]);
    },
    lost,
  };
};
