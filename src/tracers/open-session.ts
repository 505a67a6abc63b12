// `tracer open` as a session: the open tracer's description and formatter for the shared
// session (session.ts), which does everything else.

import { openFormatter } from "./open-format.ts";
import { type OpenOptions, type OpenRecord, openTracer } from "./open.ts";
import { type Hooks, hooksTracer } from "./hooks.ts";
import type { SessionTracer } from "./session.ts";
import type { Arch } from "./open-flags.ts";

/** The open tracer's own options, beside the shared session ones. */
export type OpenFilters = Omit<OpenOptions, "followTgid" | "wakeupBytes" | "hooks"> & {
  /** -e: FLAGS and MODE columns. */
  extended?: boolean;
};

/** The open tracer as the session runs it. */
export function openSessionTracer(f: OpenFilters, arch: Arch): SessionTracer<OpenRecord, Hooks> {
  return hooksTracer(
    "open",
    ({ strategy, followTgid, wakeupBytes }) =>
      openTracer({ ...f, hooks: strategy, followTgid, wakeupBytes }),
    (o) => openFormatter({ ...o, extended: f.extended, fullPath: f.fullPath, arch }),
  );
}
