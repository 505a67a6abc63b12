// The connect tracer: every active TCP connect with its outcome and latency. Which object
// and programs for each attach strategy, the .rodata configuration from the options, how a
// struct connect_event becomes a ConnectRecord, and the connects still in flight at stop.
// Field offsets come from the object's BTF through EventLayout. Pure.

import { escapeBytes } from "../output/escape.ts";
import { DecoderError } from "../events/decoder.ts";
import type { BpfMap } from "../kernel/map.ts";
import type { ContextRecord, EventLayout, TracerDescription } from "./types.ts";

/** Ways of attaching, in order of preference (bpf/connect.bpf.c). */
export type ConnectStrategy = "fentry" | "kprobe" | "tracepoint";
export const CONNECT_STRATEGIES: readonly ConnectStrategy[] = ["fentry", "kprobe", "tracepoint"];

/** Names of the `stats` counters, by index (enum connect_stat in bpf/connect.h). */
export const CONNECT_STATS = ["lost", "inflight_full", "calls_full", "traced_full"];

/** At most this many ports in each of --port and --lport (bpf/connect.bpf.c). */
export const CONNECT_MAX_PORTS = 8;

const AF_INET = 2;
const AF_INET6 = 10;

export interface ConnectOptions {
  strategy?: ConnectStrategy;
  pid?: number;
  uid?: number;
  /** 4 or 6: only that family (the socket's: a v4-mapped connect is 6). */
  family?: 4 | 6;
  /** Destination ports (at most 8). */
  ports?: number[];
  /** Local ports (at most 8). */
  lports?: number[];
  /** Only failed connects (-x). */
  failedOnly?: boolean;
  /** Only connects that took at least this long, ms. */
  minLatencyMs?: number;
  /** Only command names matching (user space). */
  name?: RegExp;
  /** Only descendants of this process (the `-- CMD` mode: the tracer's own pid). */
  followTgid?: number;
  /** Wake the reader when this many bytes wait in the ring (0: every event). */
  wakeupBytes?: number;
  /** CLOCK_BOOTTIME now, ns: the time of the connects still pending at stop. */
  now?: () => bigint;
}

export interface ConnectRecord extends ContextRecord {
  /** CLOCK_BOOTTIME of the outcome (or of the stop, for a pending connect), ns. */
  timeNs: bigint;
  /** CLOCK_BOOTTIME of the connect call, ns. */
  startNs: bigint;
  pid: number;
  tid: number;
  uid: number;
  comm: Uint8Array;
  family: 4 | 6;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  /** 0 (established or pending), or the positive errno. */
  err: number;
  /** Still in flight when the tracer stopped. */
  pending: boolean;
  cgroupId: bigint;
  mntnsId: number;
  netnsId: number;
}

/**
 * Each strategy's programs: fork following (-- CMD), the socket state changes (tp_btf, or the
 * raw tracepoint where no kernel BTF hook is wanted) and the connect call's hooks.
 */
const PROGRAMS: Record<ConnectStrategy, { follow: string[]; state: string; start: string[] }> = {
  fentry: {
    follow: ["handle_fork", "handle_exit"],
    state: "handle_set_state",
    start: ["fentry_v4", "fexit_v4", "fentry_v6", "fexit_v6"],
  },
  kprobe: {
    follow: ["handle_fork_raw", "handle_exit_raw"],
    state: "handle_set_state_raw",
    start: ["kprobe_v4", "kretprobe_v4", "kprobe_v6", "kretprobe_v6"],
  },
  tracepoint: {
    follow: ["handle_fork_raw", "handle_exit_raw"],
    state: "handle_set_state_raw",
    start: [],
  },
};

/** Up to 8 ports packed 4 per u64, 16 bits each (bpf/connect.bpf.c port_in). */
export function packPorts(ports: number[]): { n: number; a: bigint; b: bigint } {
  if (ports.length > CONNECT_MAX_PORTS) {
    throw new RangeError(`at most ${CONNECT_MAX_PORTS} ports, got ${ports.length}`);
  }
  let a = 0n, b = 0n;
  ports.forEach((p, i) => {
    const v = BigInt(p & 0xffff) << BigInt((i & 3) * 16);
    if (i < 4) a |= v;
    else b |= v;
  });
  return { n: ports.length, a, b };
}

/** The connect tracer for these options. */
export function connectTracer(opts: ConnectOptions = {}): TracerDescription<ConnectRecord> {
  const strategy = opts.strategy ?? "fentry";
  const progs = PROGRAMS[strategy];
  const dports = packPorts(opts.ports ?? []);
  const lports = packPorts(opts.lports ?? []);
  const minLatencyNs = BigInt(Math.round((opts.minLatencyMs ?? 0) * 1e6));
  const decoderFor = (layout: EventLayout) => connectDecoder(layout, opts.name);
  return {
    object: "connect",
    programs: [
      ...(opts.followTgid ? progs.follow : []),
      progs.state,
      "enter_connect",
      "exit_connect",
      ...progs.start,
    ],
    // Maps the options leave unused get one entry (the kernel preallocates hash maps).
    mapSizes: {
      ...(strategy === "kprobe" ? {} : { kcalls: 1 }),
      ...(opts.followTgid ? {} : { traced: 1 }),
    },
    rodata: {
      target_pid: opts.pid ?? 0,
      target_uid: opts.uid ?? 0xffffffff,
      target_family: opts.family === 4 ? AF_INET : opts.family === 6 ? AF_INET6 : 0,
      failed_only: !!opts.failedOnly,
      min_latency_ns: minLatencyNs,
      start_on_tp: strategy === "tracepoint",
      n_dports: dports.n,
      dports_a: dports.a,
      dports_b: dports.b,
      n_lports: lports.n,
      lports_a: lports.a,
      lports_b: lports.b,
      follow_tgid: opts.followTgid ?? 0,
      wakeup_bytes: BigInt(opts.wakeupBytes ?? 0),
    },
    ringbuf: "events",
    perfBufferFlag: "use_perf_buffer",
    timeOf: (r) => r.timeNs,
    stats: { map: "stats", lostIndex: 0, names: CONNECT_STATS },
    eventType: "connect_event",
    decoder: decoderFor,
    atStop: (map, layout) => pendingConnects(map("conns"), layout, opts),
  };
}

/**
 * The connects still in flight (the `conns` map), as "pending" records stamped now, oldest
 * first, with the filters the kernel applies only at the outcome applied here.
 */
export function pendingConnects(
  conns: BpfMap,
  layout: EventLayout,
  opts: ConnectOptions,
): ConnectRecord[] {
  const decode = connectDecoder(layout, opts.name);
  const now = opts.now?.() ?? 0n;
  const out: ConnectRecord[] = [];
  for (let key = conns.nextKey(null); key; key = conns.nextKey(key)) {
    const value = conns.lookup(key);
    if (!value) continue; // gone meanwhile
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const r = decode(view, 0, layout.size);
    if (!r) continue;
    r.pending = true;
    r.err = 0;
    r.timeNs = now > r.startNs ? now : r.startNs;
    if (opts.failedOnly) continue;
    if (opts.family && r.family !== opts.family) continue;
    if (opts.ports?.length && !opts.ports.includes(r.dport)) continue;
    if (opts.lports?.length && !opts.lports.includes(r.sport)) continue;
    if (opts.minLatencyMs && Number(r.timeNs - r.startNs) < opts.minLatencyMs * 1e6) continue;
    out.push(r);
  }
  return out.sort((x, y) => (x.startNs < y.startNs ? -1 : x.startNs > y.startNs ? 1 : 0));
}

function cBytes(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

/** Dotted IPv4 text of 4 bytes. */
export function ipv4Text(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/**
 * RFC 5952 text of 16 IPv6 bytes: lower-case hex, the longest run of two or more zero
 * groups as "::" (the first such run on a tie), v4-mapped addresses as ::ffff:a.b.c.d.
 */
export function ipv6Text(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${ipv4Text(b.subarray(12))}`;
  }
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** The record decoder of struct connect_event, from its BTF layout. */
export function connectDecoder(
  layout: EventLayout,
  name?: RegExp,
): (view: DataView, offset: number, len: number) => ConnectRecord | null {
  const f = (n: string) => layout.field(n).offset;
  const oTime = f("time_ns"), oStart = f("start_ns"), oCgroup = f("cgroup_id");
  const oMntns = f("mntns_id"), oNetns = f("netns_id");
  const oPid = f("pid"), oTid = f("tid"), oUid = f("uid"), oErr = f("err");
  const oFamily = f("family"), oSport = f("sport"), oDport = f("dport");
  const oSaddr = f("saddr"), oDaddr = f("daddr");
  const comm = layout.field("comm");
  return (view, offset, len) => {
    if (len < layout.size) {
      throw new DecoderError(`connect_event: ${len}-byte record, expected ${layout.size}`);
    }
    const bytesAt = (o: number, n: number) =>
      new Uint8Array(view.buffer, view.byteOffset + offset + o, n);
    const commBytes = cBytes(bytesAt(comm.offset, comm.size)).slice();
    if (name && !name.test(escapeBytes(commBytes))) return null;
    const v6 = view.getUint16(offset + oFamily, true) === AF_INET6;
    const addr = (o: number) => v6 ? ipv6Text(bytesAt(o, 16)) : ipv4Text(bytesAt(o, 4));
    return {
      timeNs: view.getBigUint64(offset + oTime, true),
      startNs: view.getBigUint64(offset + oStart, true),
      pid: view.getUint32(offset + oPid, true),
      tid: view.getUint32(offset + oTid, true),
      uid: view.getUint32(offset + oUid, true),
      comm: commBytes,
      family: v6 ? 6 : 4,
      saddr: addr(oSaddr),
      sport: view.getUint16(offset + oSport, true),
      daddr: addr(oDaddr),
      dport: view.getUint16(offset + oDport, true),
      err: view.getInt32(offset + oErr, true),
      pending: false,
      cgroupId: view.getBigUint64(offset + oCgroup, true),
      mntnsId: Number(view.getBigUint64(offset + oMntns, true)),
      context: null,
      netnsId: Number(view.getBigUint64(offset + oNetns, true)),
    };
  };
}
