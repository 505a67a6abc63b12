// Mounting the pseudo file systems the tracer reads (tracefs, securityfs) when they are not.

import { spawnSync } from "node:child_process";

/** Runs `mount -t <type> <type> <target>`; true on success. */
export function mountFs(type: string, target: string): boolean {
  try {
    return spawnSync("mount", ["-t", type, type, target], { stdio: "ignore" }).status === 0;
  } catch {
    return false;
  }
}
