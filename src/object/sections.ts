// ELF section names of BPF programs -> program type, expected attach type and attach point,
// following libbpf's SEC() conventions for the kinds a tracer uses. Pure.

import { AttachType, ProgType } from "../kernel/constants.ts";
import type { AttachPoint } from "./types.ts";

export interface SectionDef {
  attach: AttachPoint;
  progType: number;
  expectedAttachType: number;
  sleepable: boolean;
}

type Prefixed = Exclude<AttachPoint["kind"], "tracepoint" | "other">;

const PREFIXES: { prefix: string; kind: Prefixed; progType: number; attachType: number }[] = [
  {
    prefix: "raw_tp.w",
    kind: "raw_tp.w",
    progType: ProgType.RAW_TRACEPOINT_WRITABLE,
    attachType: 0,
  },
  {
    prefix: "raw_tracepoint.w",
    kind: "raw_tp.w",
    progType: ProgType.RAW_TRACEPOINT_WRITABLE,
    attachType: 0,
  },
  { prefix: "raw_tp", kind: "raw_tp", progType: ProgType.RAW_TRACEPOINT, attachType: 0 },
  { prefix: "raw_tracepoint", kind: "raw_tp", progType: ProgType.RAW_TRACEPOINT, attachType: 0 },
  {
    prefix: "tp_btf",
    kind: "tp_btf",
    progType: ProgType.TRACING,
    attachType: AttachType.TRACE_RAW_TP,
  },
  {
    prefix: "fentry",
    kind: "fentry",
    progType: ProgType.TRACING,
    attachType: AttachType.TRACE_FENTRY,
  },
  {
    prefix: "fexit",
    kind: "fexit",
    progType: ProgType.TRACING,
    attachType: AttachType.TRACE_FEXIT,
  },
  {
    prefix: "fmod_ret",
    kind: "fmod_ret",
    progType: ProgType.TRACING,
    attachType: AttachType.MODIFY_RETURN,
  },
  { prefix: "lsm", kind: "lsm", progType: ProgType.LSM, attachType: AttachType.LSM_MAC },
  { prefix: "kprobe", kind: "kprobe", progType: ProgType.KPROBE, attachType: 0 },
  { prefix: "kretprobe", kind: "kretprobe", progType: ProgType.KPROBE, attachType: 0 },
  { prefix: "iter", kind: "iter", progType: ProgType.TRACING, attachType: AttachType.TRACE_ITER },
];

/** Decodes a program section name ("tp/sched/sched_process_exec", "fentry.s/do_x" ...). */
export function sectionDef(section: string): SectionDef {
  const slash = section.indexOf("/");
  const head = slash < 0 ? section : section.slice(0, slash);
  const rest = slash < 0 ? "" : section.slice(slash + 1);
  if (head === "tp" || head === "tracepoint") {
    const i = rest.indexOf("/");
    if (i > 0) {
      return {
        attach: { kind: "tracepoint", category: rest.slice(0, i), name: rest.slice(i + 1) },
        progType: ProgType.TRACEPOINT,
        expectedAttachType: 0,
        sleepable: false,
      };
    }
  }
  const sleepable = head.endsWith(".s");
  const base = sleepable ? head.slice(0, -2) : head;
  for (const p of PREFIXES) {
    if (p.prefix === base) {
      return {
        attach: { kind: p.kind, target: rest },
        progType: p.progType,
        expectedAttachType: p.attachType,
        sleepable,
      };
    }
  }
  return {
    attach: { kind: "other", section },
    progType: ProgType.UNSPEC,
    expectedAttachType: 0,
    sleepable: false,
  };
}
