// `tracer connect`: every outgoing TCP connection with its outcome and latency.

import { intOption } from "./command.ts";
import { UsageError } from "../errors.ts";
import {
  CONNECT_MAX_PORTS,
  CONNECT_STRATEGIES,
  type ConnectOptions,
  type ConnectRecord,
  type ConnectStrategy,
  connectTracer,
} from "../tracers/connect.ts";
import { connectFormatter } from "../tracers/connect-format.ts";
import type { SessionOptions, SessionTracer } from "../tracers/session.ts";
import type { Platform } from "../platform/types.ts";
import { choiceOption, parseSessionArgs, sessionUsage, tracerCommand } from "./session-options.ts";

export const CONNECT_USAGE = `usage: tracer connect [options] [-- CMD [ARGS...]]

Trace outgoing TCP connections (IPv4, IPv6, v4-mapped IPv6): one line (or JSON object) per
connect, when its outcome is known: ok, or the error (ECONNREFUSED, ETIMEDOUT,
EHOSTUNREACH, ...), with its latency; connects still in flight at the end are "pending".

options:
  -p, --pid PID         only connects by this process
  -u, --uid UID         only connects by this user id
  -n, --name REGEX      only connects whose command name matches REGEX
  -P, --port PORT[,PORT...]
                        only these destination ports (at most ${CONNECT_MAX_PORTS})
  -L, --lport PORT[,PORT...]
                        only these local ports (at most ${CONNECT_MAX_PORTS})
  -4, --ipv4            only IPv4 sockets
  -6, --ipv6            only IPv6 sockets (v4-mapped addresses included)
  -x, --failed          only failed connects
      --min-latency MS  only connects whose outcome took at least MS milliseconds
      --attach KIND     fentry (fentry/fexit), kprobe (kprobe/kretprobe) or tracepoint
                        (tracepoints only); default: the first of these the kernel
                        accepts, with one warning line per refusal
${sessionUsage(";\n                        implies --attach tracepoint")}`;

/** The connect tracer's own options (filters), beside the shared session ones. */
export type ConnectFilters = Pick<
  ConnectOptions,
  "pid" | "uid" | "family" | "ports" | "lports" | "failedOnly" | "minLatencyMs" | "name"
>;

/** The connect tracer as the session runs it. */
export function connectSessionTracer(
  p: Platform,
  f: ConnectFilters,
): SessionTracer<ConnectRecord, ConnectStrategy> {
  return {
    name: "connect",
    strategies: CONNECT_STRATEGIES,
    strategyNoun: "strategy",
    // A foreign BTF has no ids of this kernel's functions: tracepoints only.
    withoutKernelBtf: "tracepoint",
    showStrategy: true,
    describe: ({ strategy, followTgid, wakeupBytes }) =>
      connectTracer({ ...f, strategy, followTgid, wakeupBytes, now: () => p.clockNs("boot") }),
    formatter: connectFormatter,
  };
}

const OPTIONS = {
  pid: { type: "string", short: "p" },
  port: { type: "string", short: "P" },
  lport: { type: "string", short: "L" },
  ipv4: { type: "boolean", short: "4" },
  ipv6: { type: "boolean", short: "6" },
  failed: { type: "boolean", short: "x" },
  "min-latency": { type: "string" },
  attach: { type: "string" },
} as const;

/** A comma-separated list of 1..8 port numbers. */
export function portList(option: string, value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const ports = value.split(",").map((p) =>
    intOption("connect", option, p.trim(), { min: 1, max: 65535 })!
  );
  if (ports.length > CONNECT_MAX_PORTS) {
    throw new UsageError(
      `connect: --${option} takes at most ${CONNECT_MAX_PORTS} ports, got ${ports.length}`,
    );
  }
  return ports;
}

/** Parses `tracer connect` arguments. Returns null for --help. */
export function parseConnectArgs(
  args: string[],
): { filters: ConnectFilters; session: SessionOptions } | null {
  const parsed = parseSessionArgs("connect", args, OPTIONS);
  if (!parsed) return null;
  const { values: v, session, uid, name } = parsed;
  if (v.ipv4 && v.ipv6) throw new UsageError("connect: -4 and -6: choose one");
  const minLatency = v["min-latency"] === undefined ? undefined : Number(v["min-latency"]);
  if (minLatency !== undefined && !(minLatency >= 0 && Number.isFinite(minLatency))) {
    throw new UsageError(
      `connect: --min-latency expects milliseconds (a number >= 0), got '${v["min-latency"]}'`,
    );
  }
  session.strategy = choiceOption("connect", "attach", v.attach, CONNECT_STRATEGIES);
  return {
    filters: {
      pid: intOption("connect", "pid", v.pid, { min: 1, max: 0x3fffffff }),
      uid,
      name,
      family: v.ipv4 ? 4 : v.ipv6 ? 6 : undefined,
      ports: portList("port", v.port),
      lports: portList("lport", v.lport),
      failedOnly: !!v.failed,
      minLatencyMs: minLatency,
    },
    session,
  };
}

export const connectCommand = tracerCommand(
  "connect",
  "trace outgoing TCP connections, their outcome and latency",
  CONNECT_USAGE,
  parseConnectArgs,
  (filters, platform) => connectSessionTracer(platform, filters),
);
