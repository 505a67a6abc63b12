// Which strategy `tracer connect` would use here, for `tracer check`: the connect tracer is
// really loaded and attached with each strategy in order (then closed), exactly as a session
// would, so the answer is the kernel's, not a guess from the feature lines.

import { TracerError } from "../errors.ts";
import type { ProbeResult } from "../kernel/probes.ts";
import type { Platform } from "../platform/types.ts";
import { CONNECT_STRATEGIES, connectTracer } from "./connect.ts";
import { startTracer } from "./run.ts";

export const CONNECT_FEATURE = "tracer connect";

export function probeConnectStrategy(p: Platform): ProbeResult {
  const refused: string[] = [];
  for (const strategy of CONNECT_STRATEGIES) {
    try {
      // The smallest buffer: nothing is read, only loading and attaching matter.
      startTracer(p, connectTracer({ strategy }), { ringBytes: 4096 }).close();
      const why = refused.length ? ` (refused: ${refused.join(", ")})` : "";
      return { feature: CONNECT_FEATURE, available: true, detail: `${strategy} strategy${why}` };
    } catch (e) {
      if (!(e instanceof TracerError)) throw e;
      refused.push(`${strategy}: ${shortReason(e.message)}`);
    }
  }
  return { feature: CONNECT_FEATURE, available: false, detail: `refused: ${refused.join(", ")}` };
}

/**
 * The gist of a refusal: the errno when the kernel gave one ("EPERM"), else the reason after
 * the step ("kprobe tcp_v4_connect: kprobes are not available on this kernel (...)" ->
 * "kprobes are not available on this kernel").
 */
export function shortReason(message: string): string {
  const line = message.split("\n")[0];
  const errno = /\b(E[A-Z0-9]{2,})\b/.exec(line)?.[1];
  if (errno) return errno;
  const colon = line.indexOf(": ");
  const reason = colon < 0 ? line : line.slice(colon + 2);
  return reason.split(" (")[0].split(":")[0].trim();
}
