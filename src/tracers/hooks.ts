// Which kernel hooks a tracer attaches through: tp_btf (BTF-typed raw tracepoints, the
// default) or plain tracepoints + raw tracepoints (kernels or policies that refuse tp_btf).

import { startWithFallback } from "./fallback.ts";
import type { FormatOptions, RecordFormatter } from "./format.ts";
import type { DescribeContext, SessionTracer } from "./session.ts";
import type { ContextRecord, TracerDescription } from "./types.ts";

export type Hooks = "tp_btf" | "tracepoint";

export const HOOK_ORDER: readonly Hooks[] = ["tp_btf", "tracepoint"];

/**
 * Starts with tp_btf hooks; when the kernel refuses them (a load, an attach, or a kernel BTF
 * without the tracepoint's type), says so through `warn` and starts again with tracepoint
 * hooks. An error of the second attempt propagates.
 */
export function startWithHookFallback<T>(
  start: (hooks: Hooks) => T,
  warn: (line: string) => void,
): T {
  return startWithFallback(HOOK_ORDER, start, warn, "hooks");
}

/**
 * The session's view of a tracer whose only way-of-attaching choice is its hooks (exec,
 * open): tp_btf first, tracepoint + raw_tp as the fallback and with --btf.
 */
export function hooksTracer<R extends ContextRecord>(
  name: string,
  describe: (ctx: DescribeContext<Hooks>) => TracerDescription<R>,
  formatter: (o: FormatOptions) => RecordFormatter<R>,
): SessionTracer<R, Hooks> {
  return {
    name,
    strategies: HOOK_ORDER,
    strategyNoun: "hooks",
    withoutKernelBtf: "tracepoint",
    describe,
    formatter,
  };
}
