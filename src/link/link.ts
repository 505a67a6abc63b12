// What every attachment is: an object owning its kernel handles, released by close().

export interface Link {
  /** "tracepoint", "raw_tp", "tp_btf", "fentry", "fexit", "lsm", "kprobe", "kretprobe". */
  readonly kind: string;
  /** What it is attached to, e.g. "syscalls/sys_enter_getpid" or "sched_process_exec". */
  readonly target: string;
  /** How: "bpf_link" (BPF_LINK_CREATE / RAW_TRACEPOINT_OPEN) or "ioctl" (PERF_EVENT_IOC_SET_BPF). */
  readonly method: "bpf_link" | "ioctl";
  /** The kernel's id of the bpf_link (0 when attached by ioctl). */
  readonly id: number;
  close(): void;
}

/** Closes each handle once, in order, even if one of them throws; rethrows the first error. */
export function closeAll(handles: { close(): void }[]): void {
  let first: unknown;
  for (const h of handles) {
    try {
      h.close();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}
