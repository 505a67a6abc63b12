// `tracer connect` as a session: the connect tracer's description and formatter for the
// shared session (session.ts), which does everything else.

import { connectFormatter } from "./connect-format.ts";
import {
  CONNECT_STRATEGIES,
  type ConnectOptions,
  type ConnectRecord,
  type ConnectStrategy,
  connectTracer,
} from "./connect.ts";
import type { SessionTracer } from "./session.ts";
import type { Platform } from "../platform/types.ts";

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
