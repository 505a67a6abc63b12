// Which kernel hooks a tracer attaches through: tp_btf (BTF-typed raw tracepoints, the
// default) or plain tracepoints + raw tracepoints (kernels or policies that refuse tp_btf).

import { startWithFallback } from "./fallback.ts";

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
