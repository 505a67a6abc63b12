// perf_event_open(2) wrappers: tracepoint, kprobe (perf PMU) and software events.

import type { Platform } from "../platform/types.ts";
import { cString, type PerfEventAttr, perfEventAttr } from "./attr.ts";
import { PERF_FLAG_FD_CLOEXEC, PerfIoctl, PerfType } from "./constants.ts";
import { FdObject } from "./fd.ts";

export class PerfEvent extends FdObject {
  /** PERF_EVENT_IOC_SET_BPF: the pre-link (kernel < 5.15) way to attach a program. */
  setBpf(progFd: number): void {
    this.platform.ioctl(
      this.fd,
      PerfIoctl.SET_BPF,
      progFd,
      `PERF_EVENT_IOC_SET_BPF on ${this.what}`,
    );
  }
  enable(): void {
    this.platform.ioctl(this.fd, PerfIoctl.ENABLE, 0, `PERF_EVENT_IOC_ENABLE on ${this.what}`);
  }
  disable(): void {
    this.platform.ioctl(this.fd, PerfIoctl.DISABLE, 0, `PERF_EVENT_IOC_DISABLE on ${this.what}`);
  }
}

/** perf_event_open with a close-on-exec fd. pid -1 + cpu N, or pid N + cpu -1. */
export function perfEventOpen(
  p: Platform,
  attr: PerfEventAttr,
  opts: { pid?: number; cpu?: number; groupFd?: number; what: string },
): PerfEvent {
  const a = perfEventAttr((b) => p.addressOf(b), attr);
  const fd = p.perfEventOpen(
    a.bytes,
    opts.pid ?? -1,
    opts.cpu ?? 0,
    opts.groupFd ?? -1,
    PERF_FLAG_FD_CLOEXEC,
    `perf_event_open of ${opts.what}`,
  );
  return new PerfEvent(p, fd, opts.what);
}

/**
 * A tracepoint perf event (id from tracefs events/<category>/<name>/id). A BPF program attached
 * to it runs for every task on every CPU, whatever pid/cpu the event was opened for.
 */
export function tracepointEvent(
  p: Platform,
  id: number,
  what: string,
  opts: { pid?: number; cpu?: number } = {},
): PerfEvent {
  return perfEventOpen(p, {
    type: PerfType.TRACEPOINT,
    config: BigInt(id),
    samplePeriod: 1n,
    wakeupEvents: 1,
  }, { pid: opts.pid ?? -1, cpu: opts.cpu ?? 0, what: `tracepoint ${what}` });
}

/**
 * A kprobe through the kprobe PMU (`pmuType` from /sys/bus/event_source/devices/kprobe/type).
 * `retprobe` uses the PMU's retprobe config bit (read from its format/retprobe, usually bit 0).
 */
export function kprobeEvent(
  p: Platform,
  pmuType: number,
  func: string,
  opts: { retprobe?: boolean; retprobeBit?: number; offset?: bigint } = {},
): PerfEvent {
  const config = opts.retprobe ? 1n << BigInt(opts.retprobeBit ?? 0) : 0n;
  return perfEventOpen(p, {
    type: pmuType,
    config,
    samplePeriod: 1n,
    wakeupEvents: 1,
    config1: cString(func),
    config2: opts.offset ?? 0n,
  }, { pid: -1, cpu: 0, what: `${opts.retprobe ? "kretprobe" : "kprobe"} ${func}` });
}

/**
 * A uprobe through the uprobe PMU (`pmuType` from /sys/bus/event_source/devices/uprobe/type) at
 * byte `offset` of the file `path`, in every process that maps it.
 */
export function uprobeEvent(
  p: Platform,
  pmuType: number,
  path: string,
  offset: bigint,
  opts: { retprobe?: boolean; retprobeBit?: number } = {},
): PerfEvent {
  const kind = opts.retprobe ? "uretprobe" : "uprobe";
  return perfEventOpen(p, {
    type: pmuType,
    config: opts.retprobe ? 1n << BigInt(opts.retprobeBit ?? 0) : 0n,
    samplePeriod: 1n,
    wakeupEvents: 1,
    config1: cString(path),
    config2: offset,
  }, { pid: -1, cpu: 0, what: `${kind} ${path}+0x${offset.toString(16)}` });
}

/** A software event (e.g. PerfSwConfig.BPF_OUTPUT for perf event arrays) on one CPU. */
export function softwareEvent(p: Platform, config: number, cpu: number, what: string): PerfEvent {
  return perfEventOpen(p, {
    type: PerfType.SOFTWARE,
    config: BigInt(config),
    samplePeriod: 1n,
    wakeupEvents: 1,
  }, { pid: -1, cpu, what });
}
