// Tracepoints: perf_event_open(PERF_TYPE_TRACEPOINT) on the tracepoint's id, then
// BPF_LINK_CREATE (BPF_PERF_EVENT) to attach the program; on kernels without perf-event
// links (before 5.15) PERF_EVENT_IOC_SET_BPF + PERF_EVENT_IOC_ENABLE instead.

import { SysError, TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { linkCreate } from "../kernel/bpf.ts";
import { AttachType } from "../kernel/constants.ts";
import { tracepointEvent } from "../kernel/perf.ts";
import { ensureTracefs, tracepointId } from "../kernel/tracefs.ts";
import { closeAll, type Link } from "./link.ts";

export class AttachError extends TracerError {}

/** The hook (a tracepoint, a kernel function) does not exist on this kernel. */
export class MissingHookError extends AttachError {
  constructor(readonly hook: string, message: string) {
    super(message);
  }
}

const EINVAL = 22;
const ENOTSUPP = 524;
const EOPNOTSUPP = 95;

/** The tracepoint's id from tracefs, or an AttachError saying what is missing. */
export function requireTracepointId(p: Platform, category: string, name: string): number {
  const root = ensureTracefs(p);
  if (!root) {
    throw new AttachError(
      `tracepoint ${category}/${name}: tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)`,
    );
  }
  const id = tracepointId(category, name, root);
  if (id === null) {
    throw new MissingHookError(
      `tracepoint ${category}/${name}`,
      `tracepoint ${category}/${name} does not exist on this kernel (no ${root}/events/${category}/${name}/id)`,
    );
  }
  return id;
}

export function attachTracepoint(
  p: Platform,
  progFd: number,
  progName: string,
  category: string,
  name: string,
  opts: { method?: "auto" | "ioctl" } = {},
): Link {
  const target = `${category}/${name}`;
  const event = tracepointEvent(p, requireTracepointId(p, category, name), target);
  if (opts.method !== "ioctl") {
    try {
      const link = linkCreate(p, progFd, event.fd, AttachType.PERF_EVENT, {
        what: `program ${progName} to tracepoint ${target}`,
      });
      return {
        kind: "tracepoint",
        target,
        method: "bpf_link",
        id: link.info().id,
        close: () => closeAll([link, event]),
      };
    } catch (e) {
      // Kernels before 5.15 have no perf-event links: fall back to the ioctl.
      const old = e instanceof SysError &&
        (e.errno === EINVAL || e.errno === ENOTSUPP || e.errno === EOPNOTSUPP);
      if (!old) {
        event.close();
        throw e;
      }
    }
  }
  try {
    event.setBpf(progFd);
    event.enable();
  } catch (e) {
    event.close();
    throw e;
  }
  return { kind: "tracepoint", target, method: "ioctl", id: 0, close: () => event.close() };
}
