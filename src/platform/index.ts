// Picks the platform back end for the runtime we are running on.

import type { Platform } from "./types.ts";

let cached: Platform | undefined;

export async function getPlatform(): Promise<Platform> {
  if (cached) return cached;
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Bun !== undefined) {
    cached = await (await import("./bun.ts")).createBunPlatform();
  } else if (g.Deno !== undefined) {
    cached = (await import("./deno.ts")).createDenoPlatform();
  } else {
    throw new Error("tracer runs on Deno or Bun");
  }
  return cached;
}
