// Lines for stderr, written through the platform: not through process.stderr, whose first use
// loads the runtime's stream machinery (measured: ~20 ms of a Bun start-up).

import type { Platform } from "../platform/types.ts";

const encoder = new TextEncoder();

export function say(p: Platform, text: string): void {
  p.writeAll(2, encoder.encode(text));
}
