// Raw tracepoints (BPF_PROG_TYPE_RAW_TRACEPOINT): BPF_RAW_TRACEPOINT_OPEN with the name.

import type { Platform } from "../platform/types.ts";
import { rawTracepointOpen } from "../kernel/bpf.ts";
import type { Link } from "./link.ts";

export function attachRawTracepoint(
  p: Platform,
  progFd: number,
  progName: string,
  name: string,
): Link {
  const link = rawTracepointOpen(p, name, progFd, `program ${progName} to raw tracepoint ${name}`);
  return {
    kind: "raw_tp",
    target: name,
    method: "bpf_link",
    id: link.info().id,
    close: () => link.close(),
  };
}
