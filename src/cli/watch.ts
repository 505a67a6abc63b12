// `tracer watch`: several tracers (exec, open, connect) in one process, into one stream in
// kernel-time order, sharing one session (ready line, signals, -- CMD, lost accounting per
// tracer, summary).

import { type Command, intOption, out } from "./command.ts";
import { UsageError } from "../errors.ts";
import { CONNECT_STRATEGIES, type ConnectStrategy } from "../tracers/connect.ts";
import { connectCells } from "../tracers/connect-format.ts";
import type { ExecRecord } from "../tracers/exec.ts";
import { execCells } from "../tracers/exec-format.ts";
import { openCells } from "../tracers/open-format.ts";
import { HOOK_ORDER, type Hooks } from "../tracers/hooks.ts";
import { keepRecords } from "../tracers/record-filter.ts";
import { runSession, type SessionOptions, type SessionTracer } from "../tracers/session.ts";
import { watchStream } from "../tracers/watch-format.ts";
import type { Platform } from "../platform/types.ts";
import type { ContextRecord } from "../tracers/types.ts";
import { execSessionTracer } from "./exec.ts";
import { hostArch, openSessionTracer } from "./open.ts";
import { connectSessionTracer } from "./connect.ts";
import { choiceOption, parseSessionArgs, sessionUsage } from "./session-options.ts";

export const WATCH_TRACERS = ["exec", "open", "connect"] as const;
export type WatchTracer = typeof WATCH_TRACERS[number];

export const WATCH_USAGE = `usage: tracer watch [options] [-- CMD [ARGS...]]

Run several tracers at once into one stream, in the order the kernel stamped the records:
successful execs, opens (and their failures), TCP connects with their outcome. One line per
record (TYPE, PID, COMM, DETAIL), or each tracer's own JSON object (its "type" says which).
A tracer this kernel refuses is said in one line and left out while the others run (the exit
status does not change); when none can attach, the exit status is 1.

options:
      --tracers LIST    which tracers, comma-separated: exec, open, connect (default: all)
  -p, --pid PID         only this process (exec records: filtered in user space)
  -u, --uid UID         only this user id
  -n, --name REGEX      only command names matching REGEX
      --hooks KIND      how exec and open attach: tp_btf or tracepoint; default tp_btf, and
                        tracepoint with a warning when the kernel refuses tp_btf
      --attach KIND     how connect attaches: fentry, kprobe or tracepoint; default: the
                        first of these the kernel accepts, with one warning line per refusal
${sessionUsage(";\n                        implies --hooks tracepoint and --attach tracepoint")}`;

const OPTIONS = {
  tracers: { type: "string" },
  pid: { type: "string", short: "p" },
  hooks: { type: "string" },
  attach: { type: "string" },
} as const;

/** What `tracer watch` runs: which tracers, the shared filters and the forced ways of attaching. */
export interface WatchFilters {
  tracers: WatchTracer[];
  pid?: number;
  uid?: number;
  name?: RegExp;
  hooks?: Hooks;
  attach?: ConnectStrategy;
}

/** The --tracers list: known names, each once, at least one (default: all, in that order). */
export function tracerList(value: string | undefined): WatchTracer[] {
  if (value === undefined) return [...WATCH_TRACERS];
  const names = value.split(",").map((s) => s.trim());
  const list: WatchTracer[] = [];
  for (const name of names) {
    if (name === "") throw new UsageError(`watch: --tracers has an empty name in '${value}'`);
    if (!(WATCH_TRACERS as readonly string[]).includes(name)) {
      throw new UsageError(
        `watch: --tracers: no tracer '${name}' (choose from ${WATCH_TRACERS.join(", ")})`,
      );
    }
    if (list.includes(name as WatchTracer)) {
      throw new UsageError(`watch: --tracers names '${name}' twice`);
    }
    list.push(name as WatchTracer);
  }
  return list;
}

/** Parses `tracer watch` arguments. Returns null for --help. */
export function parseWatchArgs(
  args: string[],
): { filters: WatchFilters; session: SessionOptions } | null {
  const parsed = parseSessionArgs("watch", args, OPTIONS);
  if (!parsed) return null;
  const { values: v, session, uid, name } = parsed;
  return {
    filters: {
      tracers: tracerList(v.tracers),
      pid: intOption("watch", "pid", v.pid, { min: 1, max: 0x3fffffff }),
      uid,
      name,
      hooks: choiceOption("watch", "hooks", v.hooks, HOOK_ORDER),
      attach: choiceOption("watch", "attach", v.attach, CONNECT_STRATEGIES),
    },
    session,
  };
}

/** The session's tracers for these filters, each with its cells for watch's table. */
export function watchTracers(p: Platform, f: WatchFilters): SessionTracer<ContextRecord>[] {
  const { pid, uid, name } = f;
  const make: Record<WatchTracer, () => SessionTracer<ContextRecord>> = {
    exec: () => {
      const t = execSessionTracer({ uid, name });
      const exec: SessionTracer<ExecRecord, Hooks> = {
        ...t,
        strategy: f.hooks,
        // The exec object has no pid filter: -p selects in user space.
        describe: (ctx) => {
          const desc = t.describe(ctx);
          return pid === undefined ? desc : keepRecords(desc, (r) => r.pid === pid);
        },
        cells: execCells,
      };
      return exec;
    },
    open: () => ({
      ...openSessionTracer({ pid, uid, name }, hostArch()),
      strategy: f.hooks,
      cells: openCells(hostArch()),
    }),
    connect: () => ({
      ...connectSessionTracer(p, { pid, uid, name }),
      strategy: f.attach,
      cells: connectCells,
    }),
  };
  return f.tracers.map((t) => make[t]());
}

export const watchCommand: Command = {
  name: "watch",
  summary: "run exec, open and connect tracers at once, one stream in time order",
  async run(args, platform) {
    const opts = parseWatchArgs(args);
    if (!opts) {
      out(platform, WATCH_USAGE);
      return 0;
    }
    return await runSession(platform, {
      command: "watch",
      tracers: watchTracers(platform, opts.filters),
      format: watchStream,
      combined: true,
    }, opts.session);
  },
};
