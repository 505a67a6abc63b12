// Attaches a loaded program according to its section (spec.attach), picking the link type.

import type { Platform } from "../platform/types.ts";
import type { LoadedProgram } from "../loader/collection.ts";
import type { Link } from "./link.ts";
import { AttachError, attachTracepoint } from "./tracepoint.ts";
import { attachRawTracepoint } from "./raw-tracepoint.ts";
import { attachTracing } from "./tracing.ts";
import { attachKprobe, kprobesMissing } from "./kprobe.ts";
import { attachUprobe } from "./uprobe.ts";
import { attachPerfEvent } from "./perf-event.ts";
import type { ProgramSpec } from "../object/types.ts";

/** Where programs whose section does not say it all attach (tracer run's options). */
export interface AttachOptions {
  /**
   * For a uprobe program, where to attach ("PATH:SYMBOL[+OFF]" or "PATH:0xOFF"), instead of its
   * section's target (libbpf's "uprobe/PATH:SYMBOL"; a bare "uprobe" has none).
   */
  uprobe?: string;
  /** perf_event programs: samples per second on each CPU (default 49, as profile's). */
  sampleFreq?: number;
}

export function attachProgram(p: Platform, prog: LoadedProgram, o: AttachOptions = {}): Link {
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
    case "uprobe":
    case "uretprobe": {
      const where = o.uprobe ?? a.target;
      const colon = where.lastIndexOf(":");
      if (colon <= 0) {
        throw new AttachError(
          `program ${prog.name}: section ${prog.spec.section} names no binary and function ` +
            `(uprobe/PATH:FUNCTION); give them with --uprobe ${prog.name}=PATH:FUNCTION`,
        );
      }
      return attachUprobe(
        p,
        fd,
        prog.name,
        where.slice(0, colon),
        where.slice(colon + 1),
        a.kind === "uretprobe",
      );
    }
    case "perf_event":
      return attachPerfEvent(p, fd, prog.name, o.sampleFreq ?? 49);
    default:
      throw new AttachError(
        `program ${prog.name}: section ${prog.spec.section} has no attach point`,
      );
  }
}

/**
 * Why `spec` cannot be attached on this kernel whatever its load gives, when that is known
 * without loading it (kprobes on a kernel without any), else null: the refusal attach would
 * give, before the cost of loading.
 */
export function attachRefusedUpFront(spec: ProgramSpec): AttachError | null {
  const a = spec.attach;
  if (a.kind === "kprobe" || a.kind === "kretprobe") {
    return kprobesMissing(a.target, a.kind === "kretprobe");
  }
  return null;
}
