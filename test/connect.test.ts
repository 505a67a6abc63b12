// The connect tracer's pure parts: address text, port packing, the record decoder and
// formatter, refusal summaries, argument parsing. No kernel needed.

import { DecoderError } from "../src/events/decoder.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connectDecoder,
  connectTracer,
  ipv4Text,
  ipv6Text,
  packPorts,
} from "../src/tracers/connect.ts";
import { connectFormatter, connectResult } from "../src/tracers/connect-format.ts";
import { shortReason } from "../src/tracers/connect-probe.ts";
import { parseConnectArgs } from "../src/cli/connect.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { embeddedObject } from "../src/tracers/embedded.ts";
import { eventLayout } from "../src/tracers/layout.ts";
import { UsageError } from "../src/errors.ts";
import { parseElf } from "../src/elf/reader.ts";
import { Btf } from "../src/btf/reader.ts";
import { Kind } from "../src/btf/types.ts";

const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));

test("ipv6Text: RFC 5952 (longest zero run, first on a tie, no single-group ::), v4-mapped", () => {
  assert.equal(ipv6Text(hex("00000000000000000000000000000001")), "::1");
  assert.equal(ipv6Text(hex("00000000000000000000000000000000")), "::");
  assert.equal(ipv6Text(hex("20010db8000000000001000000000001")), "2001:db8::1:0:0:1");
  assert.equal(ipv6Text(hex("20010db8000000010001000100010001")), "2001:db8:0:1:1:1:1:1");
  assert.equal(ipv6Text(hex("fe800000000000000000000000000000")), "fe80::");
  assert.equal(ipv6Text(hex("00000000000000000000ffff7f000001")), "::ffff:127.0.0.1");
  assert.equal(ipv4Text(new Uint8Array([10, 251, 0, 1])), "10.251.0.1");
});

test("packPorts: 4 ports per u64, 16 bits each; at most 8", () => {
  assert.deepEqual(packPorts([]), { n: 0, a: 0n, b: 0n });
  assert.deepEqual(packPorts([80, 443]), { n: 2, a: 80n | (443n << 16n), b: 0n });
  const eight = packPorts([1, 2, 3, 4, 5, 6, 7, 65535]);
  assert.equal(eight.b, 5n | (6n << 16n) | (7n << 32n) | (65535n << 48n));
  assert.throws(() => packPorts([1, 2, 3, 4, 5, 6, 7, 8, 9]), RangeError);
});

test("connectTracer: each strategy's programs and .rodata", () => {
  const tp = connectTracer({ strategy: "tracepoint", ports: [9], failedOnly: true });
  assert.deepEqual(tp.programs, ["handle_set_state_raw", "enter_connect", "exit_connect"]);
  assert.equal(tp.rodata.start_on_tp, true);
  assert.equal(tp.rodata.n_dports, 1);
  assert.equal(tp.rodata.failed_only, true);
  assert.deepEqual(tp.mapSizes, { kcalls: 1, traced: 1 });
  const fe = connectTracer({ strategy: "fentry", followTgid: 7, family: 6, minLatencyMs: 1.5 });
  assert.deepEqual(fe.programs, [
    "handle_fork",
    "handle_exit",
    "handle_set_state",
    "enter_connect",
    "exit_connect",
    "fentry_v4",
    "fexit_v4",
    "fentry_v6",
    "fexit_v6",
  ]);
  assert.equal(fe.rodata.start_on_tp, false);
  assert.equal(fe.rodata.target_family, 10);
  assert.equal(fe.rodata.min_latency_ns, 1_500_000n);
  const kp = connectTracer({ strategy: "kprobe" });
  assert.ok(kp.programs.includes("kretprobe_v6") && kp.programs.includes("handle_set_state_raw"));
  assert.deepEqual(kp.mapSizes, { traced: 1 });
});

test("connectDecoder + formatter: a record from the object's own layout, table and JSON", () => {
  const spec = loadObjectSpec(embeddedObject("connect"), "connect");
  const layout = eventLayout(spec.btf, "connect_event");
  const buf = new Uint8Array(layout.size);
  const v = new DataView(buf.buffer);
  const at = (n: string) => layout.field(n).offset;
  v.setBigUint64(at("time_ns"), 5_000_123_456n, true);
  v.setBigUint64(at("start_ns"), 5_000_000_000n, true);
  v.setBigUint64(at("cgroup_id"), 77n, true);
  v.setBigUint64(at("mntns_id"), 4026531832n, true);
  v.setBigUint64(at("netns_id"), 4026531833n, true);
  v.setUint32(at("pid"), 42, true);
  v.setUint32(at("tid"), 43, true);
  v.setUint32(at("uid"), 1000, true);
  v.setInt32(at("err"), 111, true);
  v.setUint16(at("family"), 10, true);
  v.setUint16(at("sport"), 40000, true);
  v.setUint16(at("dport"), 9, true);
  buf.set(hex("00000000000000000000000000000001"), at("saddr"));
  buf.set(hex("00000000000000000000000000000001"), at("daddr"));
  buf.set([0x63, 0x75, 0x72, 0x6c, 0xff], at("comm")); // "curl" and a byte that is not UTF-8
  const r = connectDecoder(layout)(v, 0, layout.size)!;
  assert.equal(connectResult(r), "ECONNREFUSED");
  const o = { wallOffsetNs: 0n, startBootNs: 0n };
  const json = JSON.parse(connectFormatter({ ...o, json: true }).record(r));
  assert.deepEqual(json, {
    type: "connect",
    time: json.time,
    time_ns: 5_000_123_456,
    pid: 42,
    tid: 43,
    uid: 1000,
    comm: "curl\\xff",
    comm_b64: "Y3VybP8=",
    family: 6,
    saddr: "::1",
    sport: 40000,
    daddr: "::1",
    dport: 9,
    result: "ECONNREFUSED",
    error: "ECONNREFUSED",
    latency_us: 123.456,
    cgroup_id: 77,
    mntns_id: 4026531832,
    netns_id: 4026531833,
    cgroup: null,
    container_id: null,
    pod_uid: null,
  });
  const table = connectFormatter(o);
  assert.equal(
    table.header() + table.record(r),
    "    PID COMM             IP SADDR            SPORT DADDR            DPORT RESULT         LAT(ms)\n" +
      "     42 curl\\xff          6 ::1              40000 ::1                  9 ECONNREFUSED     0.123\n",
  );
  assert.equal(connectResult({ ...r, pending: true }), "pending");
  assert.equal(connectDecoder(layout, /^wget$/)(v, 0, layout.size), null);
  assert.throws(() => connectDecoder(layout)(v, 0, layout.size - 1), DecoderError);
});

test("shortReason: the errno, or the reason after the step", () => {
  assert.equal(
    shortReason("BPF_PROG_LOAD of program fentry_v4: EPERM: the kernel refuses"),
    "EPERM",
  );
  assert.equal(
    shortReason("kprobe tcp_v4_connect: kprobes are not available on this kernel (no kprobe PMU)"),
    "kprobes are not available on this kernel",
  );
});

test("parseConnectArgs: filters, --attach, usage errors", () => {
  const p = parseConnectArgs([
    "-p",
    "12",
    "-P",
    "80,443",
    "-L",
    "5000",
    "-6",
    "-x",
    "--min-latency",
    "2.5",
    "--attach",
    "kprobe",
  ])!;
  assert.deepEqual(p.filters, {
    pid: 12,
    uid: undefined,
    name: undefined,
    family: 6,
    ports: [80, 443],
    lports: [5000],
    failedOnly: true,
    minLatencyMs: 2.5,
  });
  assert.equal(p.session.strategy, "kprobe");
  assert.equal(parseConnectArgs(["--help"]), null);
  for (
    const bad of [["--attach", "x"], ["-4", "-6"], ["-P", "70000"], ["--min-latency", "-1"]]
  ) {
    assert.throws(() => parseConnectArgs(bad), UsageError, bad.join(" "));
  }
});

test("connect.bpf.o: programs of every strategy, maps, .rodata config, event type in BTF", () => {
  const elf = parseElf(embeddedObject("connect"), "connect.bpf.o");
  const names = elf.sections.map((s) => s.name);
  for (
    const s of [
      "tp_btf/inet_sock_set_state",
      "raw_tp/inet_sock_set_state",
      "tracepoint/syscalls/sys_enter_connect",
      "tracepoint/syscalls/sys_exit_connect",
      "fentry/tcp_v4_connect",
      "fexit/tcp_v4_connect",
      "fentry/tcp_v6_connect",
      "fexit/tcp_v6_connect",
      "kprobe/tcp_v4_connect",
      "kretprobe/tcp_v4_connect",
      "kprobe/tcp_v6_connect",
      "kretprobe/tcp_v6_connect",
      "raw_tp/sched_process_fork",
      "tp_btf/sched_process_fork",
    ]
  ) assert.ok(names.includes(s), `missing section ${s}`);
  assert.deepEqual(names.filter((n) => n.startsWith(".debug")), []);
  assert.ok(!names.includes(".bss") && !names.includes(".data"), "only .rodata global data");
  const btf = Btf.parse(elf.sectionByName(".BTF")!.data);
  const secVars = (sec: string) => {
    const id = btf.byName(sec, Kind.DATASEC)[0];
    const t = btf.type(id) as { vars: { type: number }[] };
    return t.vars.map((v) => btf.name(v.type)).sort();
  };
  assert.deepEqual(secVars(".maps"), [
    "calls",
    "cgroup_events",
    "cgroup_verdicts",
    "conns",
    "events",
    "kcalls",
    "stats",
    "traced",
  ]);
  // Every .rodata variable the tracer sets exists (applyConstants would refuse a missing one).
  const rodata = secVars(".rodata");
  for (const name of Object.keys(connectTracer({ strategy: "tracepoint" }).rodata)) {
    assert.ok(rodata.includes(name), `.rodata has no ${name}`);
  }
  assert.equal(btf.byName("connect_event", Kind.STRUCT).length, 1);
});
