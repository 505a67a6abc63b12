// The readiness verdict of `tracer check`: every probe in order, and what the exec/open/connect
// tracers need that this host lacks.

import { readText } from "../platform/files.ts";
import type { Platform } from "../platform/types.ts";
import {
  no,
  probeBpf,
  probeBpfLoop,
  probeFentry,
  probeFexit,
  probeKernelBtf,
  probeKprobePmu,
  probeKprobeTracefs,
  probeLsm,
  probeOpenSyscalls,
  probePerfBuffer,
  probePerfLink,
  probePrivileges,
  probeRawTracepoint,
  type ProbeResult,
  probeRingbuf,
  probeTpBtf,
  probeTracepoints,
} from "./probes.ts";

export interface CheckReport {
  ok: boolean;
  kernel: string;
  runtime: string;
  features: ProbeResult[];
  /** What the exec/open/connect tracers need and this host lacks, with what to do. */
  missing: string[];
}

function kernelRelease(): string {
  try {
    return readText("/proc/sys/kernel/osrelease").trim();
  } catch {
    return "unknown";
  }
}

/**
 * What the exec/open/connect tracers need and `features` lacks, each with what to do.
 * Needed: privileges, kernel BTF, bpf(), an event transport (ring buffer or perf event array),
 * tracepoints.
 */
export function missingFor(features: ProbeResult[]): string[] {
  const has = (name: string) => features.find((x) => x.feature === name)?.available === true;
  const missing: string[] = [];
  if (!has("privileges")) {
    missing.push("privileges: run as root (sudo) or with CAP_BPF+CAP_PERFMON");
  }
  if (!has("kernel BTF")) missing.push("kernel BTF: use a kernel with CONFIG_DEBUG_INFO_BTF=y");
  if (!has("bpf() syscall")) {
    missing.push("bpf(): check privileges, kernel.unprivileged_bpf_disabled and seccomp");
    return missing;
  }
  if (!has("ring buffer maps") && !has("perf event arrays")) {
    missing.push("event transport: neither ring buffer nor perf event array maps work");
  }
  if (!has("tracepoints")) {
    missing.push(
      "tracepoints: mount tracefs (mount -t tracefs tracefs /sys/kernel/tracing); needs CONFIG_FTRACE_SYSCALLS",
    );
  }
  return missing;
}

export function runProbes(p: Platform): CheckReport {
  const priv = probePrivileges(p);
  const btf = probeKernelBtf(p);
  const features = [priv, btf, probeBpf(p)];
  const bpfOk = features[2].available;
  const needBpf = (feature: string, f: () => ProbeResult) =>
    bpfOk ? f() : no(feature, "skipped: bpf() is not usable");
  features.push(
    needBpf("ring buffer maps", () => probeRingbuf(p)),
    needBpf("perf event arrays", () => probePerfBuffer(p)),
    needBpf("tracepoints", () => probeTracepoints(p)),
    needBpf("perf event links", () => probePerfLink(p)),
    needBpf("raw tracepoints", () => probeRawTracepoint(p)),
    needBpf("tp_btf", () => probeTpBtf(p)),
    needBpf("bpf_loop", () => probeBpfLoop(p)),
    needBpf("fentry", () => probeFentry(p)),
    needBpf("fexit", () => probeFexit(p)),
    needBpf("kprobes (perf PMU)", () => probeKprobePmu(p)),
    probeKprobeTracefs(p),
    needBpf("BPF LSM", () => probeLsm(p)),
    probeOpenSyscalls(p),
  );
  const missing = missingFor(features);
  return {
    ok: missing.length === 0,
    kernel: kernelRelease(),
    runtime: p.runtime,
    features,
    missing,
  };
}
