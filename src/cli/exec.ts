// `tracer exec`: trace process execution, like execsnoop.

import { intOption } from "./command.ts";
import { UsageError } from "../errors.ts";
import { EXEC_ARGS_LIMIT, type ExecOptions, type ExecRecord, execTracer } from "../tracers/exec.ts";
import { execFormatter } from "../tracers/exec-format.ts";
import { HOOK_ORDER, type Hooks, hooksTracer } from "../tracers/hooks.ts";
import type { SessionOptions, SessionTracer } from "../tracers/session.ts";
import { choiceOption, parseSessionArgs, sessionUsage, tracerCommand } from "./session-options.ts";

export const EXEC_USAGE = `usage: tracer exec [options] [-- CMD [ARGS...]]

Trace exec() of new programs: one line (or JSON object) per exec.

options:
  -x, --failed          include failed execs (RET < 0)
      --failed-only     only failed execs
  -u, --uid UID         only execs by this user id
      --ppid PID        only children of this process
  -n, --name REGEX      only execs whose command name matches REGEX
      --max-args N      print at most N arguments (default 64, at most ${EXEC_ARGS_LIMIT})
      --hooks KIND      tp_btf or tracepoint (tracepoint + raw_tp); default tp_btf, and
                        tracepoint with a warning when the kernel refuses tp_btf
${sessionUsage(";\n                        implies --hooks tracepoint")}`;

/** The exec tracer's own options (filters, argv limit), beside the shared session ones. */
export type ExecFilters = Pick<
  ExecOptions,
  "failed" | "failedOnly" | "uid" | "ppid" | "maxArgs" | "name"
>;

/** The exec tracer as the session runs it. */
export function execSessionTracer(f: ExecFilters): SessionTracer<ExecRecord, Hooks> {
  return hooksTracer(
    "exec",
    ({ strategy, followTgid, wakeupBytes, hasBpfLoop }) =>
      execTracer({
        ...f,
        hooks: strategy,
        followTgid,
        wakeupBytes,
        boundedLoops: (f.failed || f.failedOnly) && !hasBpfLoop(),
      }),
    execFormatter,
  );
}

const OPTIONS = {
  failed: { type: "boolean", short: "x" },
  "failed-only": { type: "boolean" },
  ppid: { type: "string" },
  "max-args": { type: "string" },
  hooks: { type: "string" },
} as const;

/** Parses `tracer exec` arguments. Returns null for --help. */
export function parseExecArgs(
  args: string[],
): { filters: ExecFilters; session: SessionOptions } | null {
  const parsed = parseSessionArgs("exec", args, OPTIONS);
  if (!parsed) return null;
  const { values: v, session, uid, name } = parsed;
  if (v.failed && v["failed-only"]) {
    throw new UsageError("exec: --failed and --failed-only: choose one");
  }
  session.strategy = choiceOption("exec", "hooks", v.hooks, HOOK_ORDER);
  return {
    filters: {
      failed: !!v.failed,
      failedOnly: !!v["failed-only"],
      uid,
      ppid: intOption("exec", "ppid", v.ppid, { min: 1, max: 0x3fffffff }),
      name,
      maxArgs: intOption("exec", "max-args", v["max-args"], { min: 1, max: EXEC_ARGS_LIMIT }),
    },
    session,
  };
}

export const execCommand = tracerCommand(
  "exec",
  "trace process execution (like execsnoop)",
  EXEC_USAGE,
  parseExecArgs,
  execSessionTracer,
);
