// `tracer exec` as a session: the exec tracer's description and formatter for the shared
// session (session.ts), which does everything else.

import { execFormatter } from "./exec-format.ts";
import { EXEC_STATS, type ExecOptions, type ExecRecord, execTracer } from "./exec.ts";
import { type Hooks, hooksTracer } from "./hooks.ts";
import { type SessionTracer, summaryLine } from "./session.ts";

export { missingPrivilege } from "./session.ts";

/** The exec tracer's own options (filters, argv limit), beside the shared session ones. */
export type ExecFilters = Pick<
  ExecOptions,
  "failed" | "failedOnly" | "uid" | "ppid" | "maxArgs" | "name"
>;

/** The exit summary of an exec session (exec's stats counters). */
export function exitSummary(printed: number, stats: bigint[]): string {
  return summaryLine(printed, stats, EXEC_STATS);
}

/** The exec tracer as the session runs it. */
export function execSessionTracer(f: ExecFilters): SessionTracer<ExecRecord, Hooks> {
  return hooksTracer(
    "exec",
    ({ strategy, followTgid, wakeupBytes }) =>
      execTracer({ ...f, hooks: strategy, followTgid, wakeupBytes }),
    execFormatter,
  );
}
