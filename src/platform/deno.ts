import type { Platform } from "./types.ts";
export function createDenoPlatform(): Platform {
  throw new Error("TODO: Deno back end");
}
