// Which kernel hooks a tracer attaches through: tp_btf (BTF-typed raw tracepoints, the
// default) or plain tracepoints + raw tracepoints (kernels or policies that refuse tp_btf).

import { TracerError } from "../errors.ts";

export type Hooks = "tp_btf" | "tracepoint";

/**
 * Starts with tp_btf hooks; when the kernel refuses them (a load, an attach, or a kernel BTF
 * without the tracepoint's type), says so through `warn` and starts again with tracepoint
 * hooks. An error of the second attempt propagates.
 */
export function startWithHookFallback<T>(
  start: (hooks: Hooks) => T,
  warn: (line: string) => void,
): T {
  try {
    return start("tp_btf");
  } catch (e) {
    if (!(e instanceof TracerError)) throw e;
    warn(`tp_btf hooks refused (${e.message.split("\n")[0]}); using tracepoint hooks`);
    return start("tracepoint");
  }
}
