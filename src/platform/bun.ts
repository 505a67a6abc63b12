import type { Platform } from "./types.ts";
export function createBunPlatform(): Platform {
  throw new Error("TODO: Bun back end");
}
