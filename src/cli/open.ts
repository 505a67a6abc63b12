// `tracer open`: trace file opens, like opensnoop.

import { intOption } from "./command.ts";
import { TracerError, UsageError } from "../errors.ts";
import { type Arch, parseFlagFilter } from "../tracers/open-flags.ts";
import { type OpenOptions, type OpenRecord, openTracer } from "../tracers/open.ts";
import { openFormatter } from "../tracers/open-format.ts";
import { HOOK_ORDER, type Hooks, hooksTracer } from "../tracers/hooks.ts";
import type { SessionOptions, SessionTracer } from "../tracers/session.ts";
import { choiceOption, parseSessionArgs, sessionUsage, tracerCommand } from "./session-options.ts";

export const OPEN_USAGE = `usage: tracer open [options] [-- CMD [ARGS...]]

Trace open(), openat() and openat2(): one line (or JSON object) per open, when it returns.

options:
  -p, --pid PID         only this process
      --tid TID         only this thread
  -u, --uid UID         only opens by this user id
  -n, --name REGEX      only processes whose command name matches REGEX
  -x, --failed          only failed opens
  -f, --flag FLAG       only opens with this flag (O_WRONLY, O_CREAT, ...); repeatable: any
  -F, --full-path       the absolute path: the opened file's as the kernel resolved it
                        (symlinks, .., dirfds), or for a failed open the directory's joined
                        with the path as passed
      --path PREFIX     only paths (full paths with -F) equal to PREFIX or under it
  -e, --extended        FLAGS and MODE columns
      --hooks KIND      how -- CMD's forks are followed: tp_btf or tracepoint (raw_tp);
                        default tp_btf, and tracepoint when the kernel refuses tp_btf
${sessionUsage("")}`;

/** The open tracer's own options, beside the shared session ones. */
export type OpenFilters = Omit<OpenOptions, "followTgid" | "wakeupBytes" | "hooks"> & {
  /** -e: FLAGS and MODE columns. */
  extended?: boolean;
};

/** The open tracer as the session runs it. */
export function openSessionTracer(f: OpenFilters, arch: Arch): SessionTracer<OpenRecord, Hooks> {
  return hooksTracer(
    "open",
    ({ strategy, followTgid, wakeupBytes, hasBpfLoop }) =>
      openTracer({
        ...f,
        hooks: strategy,
        followTgid,
        wakeupBytes,
        boundedLoops: f.fullPath && !hasBpfLoop(),
      }),
    (o) => openFormatter({ ...o, extended: f.extended, fullPath: f.fullPath, arch }),
  );
}

const OPTIONS = {
  pid: { type: "string", short: "p" },
  tid: { type: "string" },
  failed: { type: "boolean", short: "x" },
  flag: { type: "string", short: "f", multiple: true },
  "full-path": { type: "boolean", short: "F" },
  path: { type: "string" },
  extended: { type: "boolean", short: "e" },
  hooks: { type: "string" },
} as const;

/** This machine's open(2) flag values. */
export function hostArch(): Arch {
  return process.arch === "arm64" ? "arm64" : "x64";
}

/** Parses `tracer open` arguments. Returns null for --help. */
export function parseOpenArgs(
  args: string[],
  arch: Arch = hostArch(),
): { filters: OpenFilters; session: SessionOptions } | null {
  const parsed = parseSessionArgs("open", args, OPTIONS);
  if (!parsed) return null;
  const { values: v, session, uid, name } = parsed;
  session.strategy = choiceOption("open", "hooks", v.hooks, HOOK_ORDER);
  let flags;
  try {
    flags = v.flag?.length ? parseFlagFilter(v.flag, arch) : undefined;
  } catch (e) {
    if (e instanceof TracerError) throw new UsageError(`open: --flag: ${e.message}`);
    throw e;
  }
  if (v.path !== undefined && v.path === "") throw new UsageError("open: --path is empty");
  return {
    filters: {
      pid: intOption("open", "pid", v.pid, { min: 1, max: 0x3fffffff }),
      tid: intOption("open", "tid", v.tid, { min: 1, max: 0x3fffffff }),
      uid,
      name,
      failedOnly: !!v.failed,
      flags,
      fullPath: !!v["full-path"],
      pathPrefix: v.path === undefined ? undefined : new TextEncoder().encode(v.path),
      extended: !!v.extended,
    },
    session,
  };
}

export const openCommand = tracerCommand(
  "open",
  "trace file opens (like opensnoop)",
  OPEN_USAGE,
  (args) => parseOpenArgs(args),
  (filters) => openSessionTracer(filters, hostArch()),
);
