// tracefs: where it is, mounting it if needed, and tracepoint ids.

import { existsSync, readFileSync } from "node:fs";
import { mountFs } from "./mount.ts";
import type { Platform } from "../platform/types.ts";

const CANDIDATES = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/** The tracefs mount that has events/, or null. */
export function tracefsRoot(): string | null {
  for (const dir of CANDIDATES) if (existsSync(`${dir}/events`)) return dir;
  return null;
}

/** The tracefs root; when none is mounted, tries to mount it at /sys/kernel/tracing. */
export function ensureTracefs(p: Platform): string | null {
  const root = tracefsRoot();
  if (root) return root;
  return mountFs(p, "tracefs", CANDIDATES[0]) ? tracefsRoot() : null;
}

/** The id of tracepoint <category>/<name>, or null when it does not exist. */
export function tracepointId(category: string, name: string, root = tracefsRoot()): number | null {
  if (!root) return null;
  const path = `${root}/events/${category}/${name}/id`;
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

/** The kprobe PMU type and its retprobe bit, or null when the kernel has no kprobe PMU. */
export function kprobePmu(): { type: number; retprobeBit: number } | null {
  const dir = "/sys/bus/event_source/devices/kprobe";
  try {
    const type = Number(readFileSync(`${dir}/type`, "utf8").trim());
    const fmt = readFileSync(`${dir}/format/retprobe`, "utf8").trim(); // "config:0"
    const m = /config:(\d+)/.exec(fmt);
    return { type, retprobeBit: m ? Number(m[1]) : 0 };
  } catch {
    return null;
  }
}
