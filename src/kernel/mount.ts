// Mounting the pseudo file systems the tracer reads (tracefs, securityfs) when they are not:
// mount(2) itself, through the platform, so no `mount` binary or child process is needed.

import type { Platform } from "../platform/types.ts";

/** Mounts a `type` file system at `target`; true on success (any failure: false). */
export function mountFs(p: Platform, type: string, target: string): boolean {
  try {
    p.mountFs(type, target);
    return true;
  } catch {
    return false;
  }
}
