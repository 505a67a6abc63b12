// tracer watch's pure parts: the --tracers list, the merge of several tracers' records into
// time order, the combined table and its per-type DETAIL, lost records naming their tracer,
// the per-tracer summary, and the user-space record filter. No kernel; milliseconds.

import { test } from "node:test";
import assert from "node:assert/strict";
import { tracerList } from "../src/cli/watch.ts";
import { UsageError } from "../src/errors.ts";
import { StreamMerge } from "../src/tracers/stream.ts";
import { sessionSummary } from "../src/tracers/summary.ts";
import { lostReport, type StreamCells } from "../src/tracers/format.ts";
import { watchStream } from "../src/tracers/watch-format.ts";
import { connectCells } from "../src/tracers/connect-format.ts";
import type { ConnectRecord } from "../src/tracers/connect.ts";
import { openCells } from "../src/tracers/open-format.ts";
import type { OpenRecord } from "../src/tracers/open.ts";
import { keepRecords } from "../src/tracers/record-filter.ts";
import { startupTimings } from "../src/tracers/session-start.ts";
import { Phases } from "../src/phases.ts";
import type { SessionTracer } from "../src/tracers/session.ts";
import type { ContextRecord, TracerDescription } from "../src/tracers/types.ts";
import { ContextResolver, type TaskContext } from "../src/tracers/context.ts";

const ID = "0123456789abcdef".repeat(4);

test("--tracers: known names, each once, in the order given; all three by default", () => {
  assert.deepEqual(tracerList(undefined), ["exec", "open", "connect"]);
  assert.deepEqual(tracerList("connect, exec"), ["connect", "exec"]);
  for (
    const [bad, msg] of [
      ["", /empty name/],
      ["exec,,open", /empty name/],
      ["ex", /no tracer 'ex'/],
      ["open,open", /'open' twice/],
    ] as const
  ) {
    assert.throws(() => tracerList(bad), (e) => e instanceof UsageError && msg.test(e.message));
  }
});

test("merge: records of several buffers come out in kernel-time order, held until the window", () => {
  const m = new StreamMerge<string>();
  const out: string[] = [];
  const emit = (part: number, r: unknown) => out.push(`${part}:${r}`);
  // Buffer 0 read first (times 10, 40), then buffer 1 (20, 30), then buffer 2 (15).
  m.push(0, "a", 10n);
  m.push(0, "b", 40n);
  m.push(1, "c", 20n);
  m.push(1, "d", 30n);
  m.push(2, "e", 15n);
  m.release(emit, 31n);
  assert.deepEqual(out, ["0:a", "2:e", "1:c", "1:d"]);
  // One stamped before the last released but read late would be out of order: the window
  // exists so that it is not; here it comes after what is held, then the rest at the end.
  m.push(2, "f", 35n);
  m.release(emit);
  assert.deepEqual(out, ["0:a", "2:e", "1:c", "1:d", "2:f", "0:b"]);
});

test("summary: one tracer as before; several: totals, each tracer, those refused", () => {
  const exec = {
    name: "exec",
    printed: 2,
    stats: [1n, 0n, 3n],
    statNames: ["lost", "a", "b"],
    skippedRuns: 0n,
  };
  const open = { name: "open", printed: 5, stats: [0n], statNames: ["lost"], skippedRuns: 4n };
  assert.equal(sessionSummary([exec], [], false), "2 events, 1 lost, 3 b");
  assert.equal(
    sessionSummary([exec, open], ["connect"], true),
    "7 events, 1 lost (exec: 2 events, 1 lost, 3 b; open: 5 events, 0 lost, 4 runs skipped by the kernel; connect: not traced)",
  );
});

test("lost reports name their tracer in a combined stream, and only there", () => {
  const o = { json: true, wallOffsetNs: 0n, startBootNs: 0n };
  assert.equal(
    lostReport(o, 3, 10, 2_000_000_000n, "open"),
    '{"type":"lost","time":"1970-01-01T00:00:02.000000000Z","tracer":"open","lost":3,"lost_total":10}\n',
  );
  assert.doesNotMatch(lostReport(o, 3, 10, 0n), /tracer/);
  assert.equal(
    lostReport({ ...o, json: false }, 3, 10, 0n, "exec"),
    "# 3 more exec events did not fit in the ring buffer: lost 10 exec events since start\n",
  );
});

const connect = (over: Partial<ConnectRecord>): ConnectRecord => ({
  timeNs: 2_000_050_000n,
  startNs: 2_000_000_000n,
  pid: 7,
  tid: 7,
  uid: 0,
  comm: new TextEncoder().encode("curl"),
  family: 4,
  saddr: "127.0.0.1",
  sport: 40000,
  daddr: "127.0.0.1",
  dport: 80,
  err: 0,
  pending: false,
  cgroupId: 1n,
  mntnsId: 1,
  netnsId: 1,
  context: null,
  ...over,
});

test("DETAIL: connect endpoints (IPv6 in brackets), result and latency; open flags, path, errno", () => {
  assert.equal(connectCells(connect({})).detail, "127.0.0.1:40000 -> 127.0.0.1:80 ok 0.050ms");
  assert.equal(
    connectCells(connect({ family: 6, saddr: "::1", daddr: "::1", err: 111 })).detail,
    "[::1]:40000 -> [::1]:80 ECONNREFUSED 0.050ms",
  );
  const open: OpenRecord = {
    timeNs: 1n,
    pid: 9,
    tid: 9,
    uid: 0,
    ret: -2,
    dirfd: -100,
    flags: 0o1101,
    mode: 0o600,
    syscall: "openat",
    comm: "sh",
    path: new TextEncoder().encode("/tmp/new\nline"), // bytes: a string is plain ASCII only
    pathTruncated: false,
    pathFault: false,
    fullPath: null,
    fullPathTruncated: false,
    cgroupId: 1,
    mntnsId: 1,
    context: null,
  };
  assert.deepEqual(openCells("x64")(open), {
    timeNs: 1n,
    uid: 0,
    context: null,
    pid: 9,
    comm: "sh",
    detail: "O_WRONLY|O_CREAT|O_TRUNC /tmp/new\\nline (ENOENT)",
  });
});

test("the combined table: leading columns, TYPE, PID, COMM, DETAIL from each tracer's cells", () => {
  const cellsOf = (name: string): SessionTracer<ContextRecord> => ({
    name,
    strategies: ["x"],
    strategyNoun: "hooks",
    withoutKernelBtf: "x",
    describe: () => {
      throw new Error("not loaded here");
    },
    formatter: () => ({ header: () => "", record: () => `${name} json\n`, lost: () => "" }),
    cells: (r): StreamCells => ({
      timeNs: 3_000_000_000n,
      uid: 5,
      context: r.context,
      pid: 42,
      comm: "c",
      detail: (r as Rec).detail,
    }),
  });
  type Rec = ContextRecord & { detail: string };
  const rec = (detail: string, context: TaskContext | null = null): Rec => ({
    cgroupId: 1,
    context,
    detail,
  });
  const tracers = [cellsOf("exec"), cellsOf("connect")];
  const table = watchStream({
    uidColumn: true,
    elapsed: true,
    wallOffsetNs: 0n,
    startBootNs: 1_000_000_000n,
  }, tracers);
  assert.equal(table.header(), " TIME(s)    UID TYPE        PID COMM             DETAIL\n");
  assert.equal(
    table.record(1, rec("x -> y")),
    "   2.000      5 connect      42 c                x -> y\n",
  );
  // --containers: the CONTAINER column after the leading ones.
  const inDocker = new ContextResolver(
    { pathOf: () => new TextEncoder().encode(`/docker/${ID}`) },
    undefined,
  )
    .of(1n);
  const withContainers = watchStream({
    uidColumn: true,
    containersColumn: true,
    wallOffsetNs: 0n,
    startBootNs: 0n,
  }, tracers);
  assert.equal(
    withContainers.header() + withContainers.record(0, rec("ls", inDocker)) +
      withContainers.record(0, rec("ls")),
    "   UID CONTAINER    TYPE        PID COMM             DETAIL\n" +
      "     5 0123456789ab exec         42 c                ls\n" +
      "     5 -            exec         42 c                ls\n",
  );
  // JSON: each tracer's own line.
  const json = watchStream({ json: true, wallOffsetNs: 0n, startBootNs: 0n }, tracers);
  assert.equal(
    json.header() + json.record(0, rec("r")) + json.record(1, rec("r")),
    "exec json\nconnect json\n",
  );
});

test("keepRecords: a user-space filter over a description's decoder and its records at stop", () => {
  const desc = {
    decoder: () => (view: DataView, off: number) =>
      view.getUint8(off) === 0 ? null : view.getUint8(off),
    atStop: () => [1, 2, 3],
  } as unknown as TracerDescription<number>;
  const only2 = keepRecords(desc, (r) => r === 2);
  const decode = only2.decoder({ size: 1, field: () => ({ offset: 0, size: 1 }) });
  const view = new DataView(new Uint8Array([0, 1, 2]).buffer);
  assert.deepEqual([0, 1, 2].map((off) => decode(view, off, 1)), [null, null, 2]);
  assert.deepEqual(
    only2.atStop!(() => undefined as never, { size: 1, field: () => ({ offset: 0, size: 1 }) }),
    [2],
  );
});

test("--timings: with several tracers, each one's phases apart, and the total of all", () => {
  const main = new Phases();
  main.list.push({ name: "runtime start", ms: 10 });
  assert.equal(startupTimings(main, []), "runtime start 10.0 ms, total 10.0 ms");
  assert.equal(
    startupTimings(main, [
      { name: "exec", list: [{ name: "attach", ms: 2.25 }], refused: false },
      { name: "connect", list: [{ name: "object parse", ms: 3 }], refused: true },
    ]),
    "runtime start 10.0 ms; exec: attach 2.3 ms (2.3 ms); " +
      "connect (not traced): object parse 3.0 ms (3.0 ms); total 15.3 ms",
  );
});
