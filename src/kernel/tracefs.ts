// tracefs: where it is, mounting it if needed, and tracepoint ids.

import { readText, stat } from "../platform/files.ts";
import { TracerError } from "../errors.ts";
import { mountFs } from "./mount.ts";
import type { Platform } from "../platform/types.ts";

const CANDIDATES = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/**
 * tracefs is mounted, but this process may not read it: root's 0700 directory, read without
 * root and without CAP_DAC_READ_SEARCH. Names the capability missing.
 */
export class TracefsAccessError extends TracerError {
  constructor(readonly path: string) {
    super(
      `${path}: EACCES: tracefs is readable only by root here; ` +
        "without root the tracer needs CAP_DAC_READ_SEARCH (besides CAP_BPF and CAP_PERFMON)",
    );
  }
}

/** stat(2) of a path: "ok", or the error code ("ENOENT", "EACCES" ...). */
function statCode(path: string): string {
  try {
    stat(path);
    return "ok";
  } catch (e) {
    return (e as { code?: string }).code ?? "error";
  }
}

/**
 * The tracefs mount that has events/, or null. stat(2), not access(2): access() checks the
 * real uid without capabilities, so with CAP_DAC_READ_SEARCH and no root it says ENOENT/EACCES
 * for a tracefs the process can read. A tracefs this process may not read throws
 * TracefsAccessError.
 */
export function tracefsRoot(): string | null {
  for (const dir of CANDIDATES) {
    const code = statCode(`${dir}/events`);
    if (code === "ok") return dir;
    if (code === "EACCES") throw new TracefsAccessError(`${dir}/events`);
  }
  return null;
}

/** The tracefs root; when none is mounted, tries to mount it at /sys/kernel/tracing. */
export function ensureTracefs(p: Platform): string | null {
  const root = tracefsRoot();
  if (root) return root;
  return mountFs(p, "tracefs", CANDIDATES[0]) ? tracefsRoot() : null;
}

/**
 * The id of tracepoint <category>/<name>, or null when it does not exist. A file this process
 * may not read (no root, no CAP_DAC_READ_SEARCH) throws TracefsAccessError.
 */
export function tracepointId(category: string, name: string, root = tracefsRoot()): number | null {
  if (!root) return null;
  const path = `${root}/events/${category}/${name}/id`;
  try {
    const n = Number(readText(path).trim());
    return Number.isInteger(n) ? n : null;
  } catch (e) {
    if ((e as { code?: string }).code === "EACCES") throw new TracefsAccessError(path);
    return null;
  }
}

/** The kprobe PMU type and its retprobe bit, or null when the kernel has no kprobe PMU. */
export function kprobePmu(): { type: number; retprobeBit: number } | null {
  return probePmu("kprobe");
}

/** The uprobe PMU type and its retprobe bit, or null when the kernel has no uprobe PMU. */
export function uprobePmu(): { type: number; retprobeBit: number } | null {
  return probePmu("uprobe");
}

function probePmu(name: string): { type: number; retprobeBit: number } | null {
  const dir = `/sys/bus/event_source/devices/${name}`;
  try {
    const type = Number(readText(`${dir}/type`).trim());
    const fmt = readText(`${dir}/format/retprobe`).trim(); // "config:0"
    const m = /config:(\d+)/.exec(fmt);
    return { type, retprobeBit: m ? Number(m[1]) : 0 };
  } catch {
    return null;
  }
}
