import { test } from "node:test";
import assert from "node:assert/strict";
import { parseElf } from "../src/elf/reader.ts";
import { Btf } from "../src/btf/reader.ts";
import { embeddedObject } from "../src/tracers/embedded.ts";
import { eventLayout } from "../src/tracers/layout.ts";
import {
  EXEC_F_ARGS_TRUNCATED,
  EXEC_STATS,
  execDecoder,
  type ExecRecord,
  execTracer,
  splitArgs,
} from "../src/tracers/exec.ts";
import { argsCell, execFormatter } from "../src/tracers/exec-format.ts";
import { missingPrivilege } from "../src/tracers/session.ts";
import { summaryLine } from "../src/tracers/summary.ts";
import { measureBootClock } from "../src/tracers/boot-clock.ts";
import { getPlatform } from "../src/platform/index.ts";
import { type Hooks, startWithHookFallback } from "../src/tracers/hooks.ts";
import { SysError } from "../src/errors.ts";
import { readFileSync } from "node:fs";
import type { EventLayout } from "../src/tracers/types.ts";

const u = (s: string) => new TextEncoder().encode(s);

function layout(): EventLayout {
  const elf = parseElf(embeddedObject("exec"), "exec.bpf.o");
  const btf = Btf.parse(elf.sectionByName(".BTF")!.data);
  return eventLayout(btf, "exec_event");
}

interface Fields {
  time: bigint;
  pid: number;
  ppid: number;
  uid: number;
  ret: number;
  argc: number;
  flags: number;
  comm: string;
  pcomm: string;
  filename: Uint8Array;
  args: Uint8Array;
}

/** Builds a record the way the BPF program does, at the offsets the BTF gives. */
function record(l: EventLayout, f: Fields): { view: DataView; len: number } {
  const data = l.field("data").offset;
  const len = data + f.filename.length + f.args.length;
  const buf = new Uint8Array(len + 16).fill(0xee); // garbage after the record
  const dv = new DataView(buf.buffer, 8); // at a non-zero offset
  const u32 = (name: string, v: number) => dv.setUint32(l.field(name).offset, v, true);
  dv.setBigUint64(l.field("time_ns").offset, f.time, true);
  dv.setBigUint64(l.field("cgroup_id").offset, 0xfedcba9876543210n, true);
  dv.setBigUint64(l.field("mntns_id").offset, 4026531832n, true);
  // Two ancestors (the parent, init), then garbage the count says is not there.
  const anc = l.field("ancestors").offset;
  u32("ancestors_len", 2);
  dv.setUint32(anc, f.ppid, true);
  new Uint8Array(dv.buffer, 8 + anc + 4, 16).set(u(f.pcomm + "\0"));
  dv.setUint32(anc + 20, 1, true);
  new Uint8Array(dv.buffer, 8 + anc + 24, 16).set(u("init\0garbage"));
  dv.setUint32(anc + 40, 99, true);
  u32("pid", f.pid);
  u32("tid", f.pid);
  u32("ppid", f.ppid);
  u32("uid", f.uid);
  u32("gid", 7);
  dv.setInt32(l.field("ret").offset, f.ret, true);
  u32("argc", f.argc);
  u32("filename_len", f.filename.length);
  u32("args_len", f.args.length);
  u32("flags", f.flags);
  const put = (off: number, bytes: Uint8Array) => new Uint8Array(dv.buffer, 8 + off).set(bytes);
  put(l.field("comm").offset, new Uint8Array(16));
  put(l.field("comm").offset, u(f.comm));
  put(l.field("pcomm").offset, new Uint8Array(16));
  put(l.field("pcomm").offset, u(f.pcomm));
  put(data, f.filename);
  put(data + f.filename.length, f.args);
  return { view: dv, len };
}

const base: Fields = {
  time: 5_000_000_123n,
  pid: 4242,
  ppid: 4200,
  uid: 1000,
  ret: 0,
  argc: 3,
  flags: 0,
  comm: "echo",
  pcomm: "bash",
  filename: u("/bin/echo"),
  args: u('/bin/echo\0hello world\0a"b\0'),
};

test("exec_event layout comes from the embedded object's BTF", () => {
  const l = layout();
  assert.equal(l.field("time_ns").offset, 0);
  assert.equal(l.field("comm").size, 16);
  assert.equal(l.field("data").size, 4096 + 8192);
  assert.equal(l.field("ancestors").size, 16 * 20); // 16 of {u32 pid; char comm[16]}
  // data[] ends the struct, padded to its 8-byte alignment.
  assert.equal(l.size, Math.ceil((l.field("data").offset + 4096 + 8192) / 8) * 8);
  assert.throws(() => l.field("nope"), /no field 'nope'/);
});

test("execDecoder: every field of a record built at the BTF offsets", () => {
  const l = layout();
  const { view, len } = record(l, base);
  const r = execDecoder(l)(view, 0, len)!;
  assert.deepEqual(
    { ...r, comm: undefined, pcomm: undefined, filename: undefined, args: undefined },
    {
      timeNs: 5_000_000_123n,
      pid: 4242,
      tid: 4242,
      ppid: 4200,
      uid: 1000,
      gid: 7,
      ret: 0,
      comm: undefined,
      pcomm: undefined,
      filename: undefined,
      args: undefined,
      argsTruncated: false,
      filenameTruncated: false,
      argsFault: false,
      execveat: false,
      cgroupId: 0xfedcba9876543210n,
      mntnsId: 4026531832,
      ancestors: [{ pid: 4200, comm: u("bash") }, { pid: 1, comm: u("init") }],
      context: null,
    },
  );
  assert.deepEqual(r.comm, u("echo"));
  assert.deepEqual(r.pcomm, u("bash"));
  assert.deepEqual(r.filename, u("/bin/echo"));
  assert.deepEqual(r.args, [u("/bin/echo"), u("hello world"), u('a"b')]);
});

test("execDecoder: truncation by bytes (flag), by count (maxArgs), by argc", () => {
  const l = layout();
  const cut = record(l, {
    ...base,
    flags: EXEC_F_ARGS_TRUNCATED,
    argc: 3,
    args: u("/bin/echo\0hel"),
  });
  const r1 = execDecoder(l)(cut.view, 0, cut.len)!;
  assert.deepEqual(r1.args, [u("/bin/echo"), u("hel")]);
  assert.equal(r1.argsTruncated, true);
  const many = record(l, { ...base, argc: 3 });
  const r2 = execDecoder(l, 2)(many.view, 0, many.len)!;
  assert.deepEqual(r2.args, [u("/bin/echo"), u("hello world")]);
  assert.equal(r2.argsTruncated, true);
  const fewer = record(l, { ...base, argc: 5 });
  assert.equal(execDecoder(l)(fewer.view, 0, fewer.len)!.argsTruncated, true);
  const bad = record(l, base);
  assert.throws(() => execDecoder(l)(bad.view, 0, bad.len - 1), /data bytes in a/);
});

test("execDecoder: --name filters on comm", () => {
  const l = layout();
  const { view, len } = record(l, base);
  assert.equal(execDecoder(l, 64, /^ech/)(view, 0, len)?.pid, 4242);
  assert.equal(execDecoder(l, 64, /^bash$/)(view, 0, len), null);
  const utf8 = record(l, { ...base, comm: "héllo" });
  assert.equal(execDecoder(l, 64, /^hé/)(utf8.view, 0, utf8.len)?.pid, 4242);
});

test("splitArgs: NUL-terminated pieces, empty args, cut last piece", () => {
  assert.deepEqual(splitArgs(u("a\0\0b\0")), [u("a"), u(""), u("b")]);
  assert.deepEqual(splitArgs(u("\0")), [u("")]);
  assert.deepEqual(splitArgs(u("")), []);
  assert.deepEqual(splitArgs(u("a\0bc")), [u("a"), u("bc")]);
});

test("execTracer: programs and .rodata from options", () => {
  const d = execTracer();
  assert.deepEqual(d.programs, ["handle_exec"]);
  assert.deepEqual(d.rodata, {
    target_uid: 0xffffffff,
    target_ppid: 0,
    follow_tgid: 0,
    emit_success: true,
    emit_failed: false,
    max_args: 64,
    max_arg_bytes: 8192,
    wakeup_bytes: 0n,
  });
  assert.deepEqual(d.mapSizes, { pending: 1, traced: 1 });
  const x = execTracer({ failed: true, uid: 0, ppid: 1, followTgid: 99, maxArgs: 500 });
  assert.deepEqual(x.mapSizes, {});
  assert.deepEqual(x.programs, [
    "handle_fork",
    "handle_exit",
    "handle_exec",
    "enter_execve",
    "enter_execveat",
    "exit_execve",
  ]);
  assert.deepEqual(x.alsoAttach, [
    { program: "exit_execve", category: "syscalls", name: "sys_exit_execveat" },
  ]);
  assert.deepEqual(execTracer().alsoAttach, []);
  assert.equal(x.rodata.target_uid, 0);
  assert.equal(x.rodata.max_args, 128);
  assert.equal(x.rodata.follow_tgid, 99);
  const t = execTracer({ hooks: "tracepoint", followTgid: 5 });
  assert.deepEqual(t.programs, ["handle_fork_raw", "handle_exit_raw", "handle_exec_tp"]);
  const f = execTracer({ failedOnly: true });
  assert.equal(f.rodata.emit_success, false);
  assert.deepEqual(f.programs, ["enter_execve", "enter_execveat", "exit_execve"]);
});

function rec(over: Partial<ExecRecord> = {}): ExecRecord {
  return {
    timeNs: 2_500_000_000n,
    pid: 4242,
    tid: 4242,
    ppid: 4200,
    uid: 1000,
    gid: 1000,
    ret: 0,
    comm: u("echo"),
    pcomm: u("bash"),
    filename: u("/bin/echo"),
    args: [u("/bin/echo"), u("hello world")],
    argsTruncated: false,
    filenameTruncated: false,
    argsFault: false,
    execveat: false,
    cgroupId: 18446744073709551615n,
    mntnsId: 4026531832,
    ancestors: [{ pid: 4200, comm: u("bash") }, { pid: 1, comm: u("init") }],
    context: null,
    ...over,
  };
}

const clock = {
  wallOffsetNs: 1795378311_000_000_000n - 2_000_000_000n,
  startBootNs: 1_000_000_000n,
};

test("table: execsnoop columns, quoting, escapes, failed exec, truncation", () => {
  const f = execFormatter({ ...clock });
  assert.equal(f.header(), "PCOMM                PID    PPID RET ARGS\n");
  assert.equal(f.record(rec()), 'echo                4242    4200   0 /bin/echo "hello world"\n');
  assert.equal(
    f.record(rec({ comm: u("a\x1b[2J"), ret: -2, args: [u("/x"), new Uint8Array([0xff])] })),
    "a\\x1b[2J            4242    4200  -2 /x \\xff\n",
  );
  assert.equal(argsCell(rec({ args: [u("a")], argsTruncated: true })), "a ...");
  assert.equal(
    f.lost(3, 10, 0n),
    "# 3 more events did not fit in the ring buffer: lost 10 events since start\n",
  );
  assert.equal(argsCell(rec({ args: [] })), "/bin/echo");
  assert.equal(argsCell(rec({ args: [], argsFault: true })), "/bin/echo [argv not readable]");
  const t = execFormatter({ ...clock, elapsed: true, uidColumn: true });
  assert.equal(t.header(), " TIME(s)    UID PCOMM                PID    PPID RET ARGS\n");
  assert.equal(
    t.record(rec()),
    '   1.500   1000 echo                4242    4200   0 /bin/echo "hello world"\n',
  );
});

test("JSON: exact exec line, lossless non-UTF-8, lost record", () => {
  const f = execFormatter({ ...clock, json: true });
  assert.equal(f.header(), "");
  assert.equal(
    f.record(rec()),
    '{"type":"exec","time":"2026-11-22T20:11:51.500000000Z","time_ns":2500000000,"pid":4242,' +
      '"tid":4242,"ppid":4200,"uid":1000,"gid":1000,"comm":"echo","pcomm":"bash",' +
      '"filename":"/bin/echo","args":["/bin/echo","hello world"],"args_truncated":false,"ret":0,' +
      '"error":null,"cgroup_id":18446744073709551615,"mntns_id":4026531832,"cgroup":null,' +
      '"container_id":null,"pod_uid":null,"ancestors":[{"pid":4200,"comm":"bash"},' +
      '{"pid":1,"comm":"init"}]}\n',
  );
  const bad = JSON.parse(
    f.record(
      rec({
        ret: -13,
        filename: new Uint8Array([0x2f, 0xff]),
        args: [u("x"), new Uint8Array([0xc3])],
      }),
    ),
  );
  assert.equal(bad.error, "EACCES");
  assert.equal(bad.filename, "/\\xff");
  assert.equal(bad.filename_b64, "L/8=");
  assert.deepEqual(bad.args, ["x", "\\xc3"]);
  assert.deepEqual(bad.args_b64, ["eA==", "ww=="]);
  assert.equal(
    f.lost(3, 10, 2_000_000_000n),
    '{"type":"lost","time":"2026-11-22T20:11:51.000000000Z","lost":3,"lost_total":10}\n',
  );
});

test("privileges: root or CAP_BPF+CAP_PERFMON, else one sentence saying what to do", () => {
  assert.equal(missingPrivilege(1n << 21n), null);
  assert.equal(missingPrivilege((1n << 39n) | (1n << 38n)), null);
  assert.match(missingPrivilege(1n << 39n)!, /needs root \(or CAP_BPF and CAP_PERFMON\).*sudo/);
  assert.match(missingPrivilege(0n)!, /needs root/);
});

test("boot clock: boot-to-wall offset agrees with /proc/uptime and Date.now()", async () => {
  const p = await getPlatform();
  const c = measureBootClock((clock) => p.clockNs(clock));
  // /proc/uptime is CLOCK_BOOTTIME with 10 ms resolution.
  const uptimeMs = Number(readFileSync("/proc/uptime", "latin1").split(" ")[0]) * 1000;
  const bootMs = Number(p.clockNs("boot") / 1_000_000n);
  assert.ok(bootMs - uptimeMs >= -1 && bootMs - uptimeMs < 30, `${bootMs} vs ${uptimeMs}`);
  const wallFromBoot = Number((c.wallOffsetNs + p.clockNs("boot")) / 1_000_000n);
  assert.ok(Math.abs(wallFromBoot - Date.now()) < 5, `${wallFromBoot} vs ${Date.now()}`);
  const again = measureBootClock((clock) => p.clockNs(clock));
  const drift = Number(again.wallOffsetNs - c.wallOffsetNs) / 1e6;
  assert.ok(Math.abs(drift) < 1, `two measurements differ by ${drift} ms`);
});

test("exit summary: events, lost, and every other non-zero kernel counter by name", () => {
  const exitSummary = (printed: number, stats: bigint[]) => summaryLine(printed, stats, EXEC_STATS);
  assert.equal(exitSummary(0, [0n, 0n, 0n, 0n, 0n, 0n]), "0 events, 0 lost");
  assert.equal(
    exitSummary(1234, [5n, 2n, 0n, 1n, 0n, 0n]),
    "1234 events, 5 lost, 2 args_truncated, 1 args_fault",
  );
  assert.equal(exitSummary(3, []), "3 events, 0 lost");
});

test("hooks: tp_btf first; a kernel refusal warns and falls back to tracepoints", () => {
  const calls: Hooks[] = [];
  const warnings: string[] = [];
  const warn = (l: string) => warnings.push(l);
  // tp_btf works: one attempt, no warning.
  assert.equal(startWithHookFallback((h) => (calls.push(h), `ok ${h}`), warn), "ok tp_btf");
  assert.deepEqual([calls, warnings], [["tp_btf"], []]);
  // The kernel refuses tp_btf: a warning naming the error, then tracepoints.
  calls.length = 0;
  const refused = new SysError("BPF_PROG_LOAD of program handle_exec", 1, "verifier log:\nx");
  const started = startWithHookFallback((h) => {
    calls.push(h);
    if (h === "tp_btf") throw refused;
    return `ok ${h}`;
  }, warn);
  assert.equal(started, "ok tracepoint");
  assert.deepEqual(calls, ["tp_btf", "tracepoint"]);
  assert.deepEqual(warnings, [
    "tp_btf hooks refused (BPF_PROG_LOAD of program handle_exec: EPERM: verifier log:); using tracepoint hooks",
  ]);
  // A bug is not a refusal: no fallback.
  assert.throws(() =>
    startWithHookFallback(() => {
      throw new TypeError("bug");
    }, warn), TypeError);
  // Both refused: the second error propagates.
  const second = new SysError("BPF_PROG_LOAD of program handle_exec_tp", 22);
  assert.throws(
    () =>
      startWithHookFallback((h) => {
        throw h === "tp_btf" ? refused : second;
      }, warn),
    (e: unknown) => e === second,
  );
});
