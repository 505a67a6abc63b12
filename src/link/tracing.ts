// BTF-typed tracing programs (tp_btf, fentry, fexit, lsm): the target was fixed at load time
// (attach_btf_id); BPF_RAW_TRACEPOINT_OPEN with a NULL name creates the link.

import { SysError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { rawTracepointOpen } from "../kernel/bpf.ts";
import type { Link } from "./link.ts";

export function attachTracing(
  p: Platform,
  progFd: number,
  progName: string,
  kind: "tp_btf" | "fentry" | "fexit" | "lsm",
  target: string,
): Link {
  try {
    const link = rawTracepointOpen(p, null, progFd, `program ${progName} to ${kind} ${target}`);
    return { kind, target, method: "bpf_link", id: link.info().id, close: () => link.close() };
  } catch (e) {
    if (e instanceof SysError && e.errno === 1 && kind !== "tp_btf") {
      throw new SysError(
        e.step,
        e.errno,
        `the kernel refuses to attach ${kind} programs here (trampolines locked down)`,
      );
    }
    throw e;
  }
}
