// Trying a tracer's ways of attaching in order of preference: the first the kernel accepts
// runs, each refusal is one warning line. Pure.

import { TracerError } from "../errors.ts";

/**
 * Starts with `order[0]`; when the kernel refuses it (a TracerError: a load, an attach, a
 * missing type or hook), says so through `warn` and tries the next. The last one's error
 * propagates; any other exception (a bug) propagates at once.
 * `noun` names what is chosen in the warning ("hooks", "strategy").
 */
export function startWithFallback<S extends string, T>(
  order: readonly S[],
  start: (choice: S) => T,
  warn: (line: string) => void,
  noun: string,
): T {
  for (let i = 0;; i++) {
    try {
      return start(order[i]);
    } catch (e) {
      if (!(e instanceof TracerError) || i === order.length - 1) throw e;
      warn(
        `${order[i]} ${noun} refused (${e.message.split("\n")[0]}); using ${order[i + 1]} ${noun}`,
      );
    }
  }
}
