// Kprobes and kretprobes: through the kprobe PMU (perf_event_open with the type read from
// /sys/bus/event_source/devices/kprobe/type, kernel >= 4.17), else through tracefs
// kprobe_events (a named probe created, then opened as a tracepoint and removed on close).
// Then BPF_LINK_CREATE, or PERF_EVENT_IOC_SET_BPF on older kernels.

import { appendText, exists } from "../platform/files.ts";
import { SysError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { linkCreate } from "../kernel/bpf.ts";
import { AttachType } from "../kernel/constants.ts";
import { kprobeEvent, type PerfEvent, tracepointEvent } from "../kernel/perf.ts";
import { kprobePmu, tracefsRoot, tracepointId } from "../kernel/tracefs.ts";
import { closeAll, type Link } from "./link.ts";
import { AttachError } from "./tracepoint.ts";

const ENOENT = 2;

/** Is this a function name a probe definition can safely carry? */
function checkSymbol(func: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(func)) {
    throw new AttachError(`kprobe: '${func}' is not a kernel function name`);
  }
}

/** tracefs' kprobe_events, when the kernel has it. */
function kprobeEventsFile(): string | null {
  const root = tracefsRoot();
  const file = root ? `${root}/kprobe_events` : null;
  return file && exists(file) ? file : null;
}

function noKprobes(func: string, retprobe: boolean): AttachError {
  return new AttachError(
    `${retprobe ? "kretprobe" : "kprobe"} ${func}: kprobes are not available on this kernel ` +
      `(no kprobe PMU in /sys/bus/event_source/devices and no tracefs kprobe_events; ` +
      `CONFIG_KPROBES is probably off): use a tracepoint, raw_tp or tp_btf program`,
  );
}

/**
 * The error attachKprobe would raise because this kernel has no kprobes at all (neither the
 * PMU nor tracefs kprobe_events), or null: lets a loader refuse before loading anything.
 */
export function kprobesMissing(func: string, retprobe = false): AttachError | null {
  return kprobePmu() || kprobeEventsFile() ? null : noKprobes(func, retprobe);
}

function openViaTracefs(
  p: Platform,
  func: string,
  retprobe: boolean,
  pid: number,
): { event: PerfEvent; cleanup: () => void } {
  const root = tracefsRoot();
  const file = kprobeEventsFile();
  if (!root || !file) throw noKprobes(func, retprobe);
  const group = "tracer";
  const event = `${retprobe ? "r" : "p"}_${func.replace(/\./g, "_")}_${pid}`;
  const def = `${retprobe ? "r" : "p"}:${group}/${event} ${func}\n`;
  try {
    appendText(file, def);
  } catch (e) {
    throw new AttachError(`kprobe ${func}: writing ${file} failed: ${(e as Error).message}`);
  }
  const remove = () => {
    try {
      appendText(file, `-:${group}/${event}\n`);
    } catch {
      // already gone
    }
  };
  const id = tracepointId(group, event, root);
  if (id === null) {
    remove();
    throw new AttachError(`kprobe ${func}: the probe was defined but has no tracefs id`);
  }
  try {
    return { event: tracepointEvent(p, id, `${group}/${event}`), cleanup: remove };
  } catch (e) {
    remove();
    throw e;
  }
}

export interface KprobeOptions {
  /** "auto" (default): the PMU when the kernel has one, else tracefs kprobe_events. */
  via?: "auto" | "pmu" | "tracefs";
}

export function attachKprobe(
  p: Platform,
  progFd: number,
  progName: string,
  func: string,
  retprobe = false,
  opts: KprobeOptions = {},
): Link {
  checkSymbol(func);
  const kind = retprobe ? "kretprobe" : "kprobe";
  const via = opts.via ?? "auto";
  const pmu = via === "tracefs" ? null : kprobePmu();
  if (via === "pmu" && !pmu) {
    throw new AttachError(`${kind} ${func}: the kernel has no kprobe PMU`);
  }
  let event: PerfEvent;
  let cleanup = () => {};
  if (pmu) {
    try {
      event = kprobeEvent(p, pmu.type, func, { retprobe, retprobeBit: pmu.retprobeBit });
    } catch (e) {
      if (e instanceof SysError && e.errno === ENOENT) {
        throw new AttachError(`${kind} ${func}: no such kernel function (or it cannot be probed)`);
      }
      throw e;
    }
  } else {
    ({ event, cleanup } = openViaTracefs(p, func, retprobe, p.pid()));
  }
  try {
    const link = linkCreate(p, progFd, event.fd, AttachType.PERF_EVENT, {
      what: `program ${progName} to ${kind} ${func}`,
    });
    return {
      kind,
      target: func,
      method: "bpf_link",
      id: link.info().id,
      close: () => closeAll([link, event, { close: cleanup }]),
    };
  } catch (e) {
    if (!(e instanceof SysError) || e.errno !== 22) {
      closeAll([event, { close: cleanup }]);
      throw e;
    }
  }
  try {
    event.setBpf(progFd);
    event.enable();
  } catch (e) {
    closeAll([event, { close: cleanup }]);
    throw e;
  }
  return {
    kind,
    target: func,
    method: "ioctl",
    id: 0,
    close: () => closeAll([event, { close: cleanup }]),
  };
}
