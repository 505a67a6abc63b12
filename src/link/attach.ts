// Attaches a loaded program according to its section (spec.attach), picking the link type.

import type { Platform } from "../platform/types.ts";
import type { LoadedProgram } from "../loader/collection.ts";
import type { Link } from "./link.ts";
import { AttachError, attachTracepoint } from "./tracepoint.ts";
import { attachRawTracepoint } from "./raw-tracepoint.ts";
import { attachTracing } from "./tracing.ts";
import { attachKprobe } from "./kprobe.ts";

export function attachProgram(p: Platform, prog: LoadedProgram): Link {
  const a = prog.spec.attach;
  const fd = prog.program.fd;
  switch (a.kind) {
    case "tracepoint":
      return attachTracepoint(p, fd, prog.name, a.category, a.name);
    case "raw_tp":
      return attachRawTracepoint(p, fd, prog.name, a.target);
    case "tp_btf":
    case "fentry":
    case "fexit":
    case "lsm":
      return attachTracing(p, fd, prog.name, a.kind, a.target);
    case "kprobe":
    case "kretprobe":
      return attachKprobe(p, fd, prog.name, a.target, a.kind === "kretprobe");
    default:
      throw new AttachError(
        `program ${prog.name}: section ${prog.spec.section} has no attach point`,
      );
  }
}
