// ELF section names of BPF programs -> program type, expected attach type, sleepable flag
// and attach point, by libbpf's SEC() rules (its section_defs[] table): a "+" definition
// matches its name alone or followed by "/"; the others match exactly; a leading "?" turns
// autoload off (the program is loaded only when asked for by name). Pure.

import { AttachType, ProgType } from "../kernel/constants.ts";
import type { AttachKind, AttachPoint } from "./types.ts";

export interface SectionDef {
  attach: AttachPoint;
  progType: number;
  expectedAttachType: number;
  sleepable: boolean;
  /** False for a section written "?name": libbpf leaves such a program out of a load. */
  autoload: boolean;
}

/** enum bpf_attach_type values of the section kinds below that src/kernel does not name. */
const BPF_TRACE_KPROBE_SESSION = 56;
const BPF_TRACE_UPROBE_SESSION = 57;

interface Def {
  /** The section name, or its prefix when `plus` (libbpf's "name+"). */
  name: string;
  plus: boolean;
  progType: number;
  attachType: number;
  sleepable: boolean;
  /** The attach point kind ("other": a program type a tracer does not attach). */
  kind: AttachKind | "tracepoint" | "other";
}

const T = ProgType;
const A = AttachType;

/** [section, program type, expected attach type, kind]; ".s" variants are derived. */
const TABLE: [string, number, number, Def["kind"]][] = [
  ["kprobe+", T.KPROBE, 0, "kprobe"],
  ["kretprobe+", T.KPROBE, 0, "kretprobe"],
  ["uprobe+", T.KPROBE, 0, "uprobe"],
  ["uprobe.s+", T.KPROBE, 0, "uprobe"],
  ["uretprobe+", T.KPROBE, 0, "uretprobe"],
  ["uretprobe.s+", T.KPROBE, 0, "uretprobe"],
  ["kprobe.multi+", T.KPROBE, A.TRACE_KPROBE_MULTI, "kprobe.multi"],
  ["kretprobe.multi+", T.KPROBE, A.TRACE_KPROBE_MULTI, "kretprobe.multi"],
  ["kprobe.session+", T.KPROBE, BPF_TRACE_KPROBE_SESSION, "kprobe.session"],
  ["uprobe.multi+", T.KPROBE, A.TRACE_UPROBE_MULTI, "uprobe.multi"],
  ["uretprobe.multi+", T.KPROBE, A.TRACE_UPROBE_MULTI, "uretprobe.multi"],
  ["uprobe.multi.s+", T.KPROBE, A.TRACE_UPROBE_MULTI, "uprobe.multi"],
  ["uretprobe.multi.s+", T.KPROBE, A.TRACE_UPROBE_MULTI, "uretprobe.multi"],
  ["uprobe.session+", T.KPROBE, BPF_TRACE_UPROBE_SESSION, "uprobe.session"],
  ["uprobe.session.s+", T.KPROBE, BPF_TRACE_UPROBE_SESSION, "uprobe.session"],
  ["ksyscall+", T.KPROBE, 0, "ksyscall"],
  ["kretsyscall+", T.KPROBE, 0, "kretsyscall"],
  ["usdt+", T.KPROBE, 0, "usdt"],
  ["usdt.s+", T.KPROBE, 0, "usdt"],
  ["tracepoint+", T.TRACEPOINT, 0, "tracepoint"],
  ["tp+", T.TRACEPOINT, 0, "tracepoint"],
  ["tracepoint.s+", T.TRACEPOINT, 0, "tracepoint"],
  ["tp.s+", T.TRACEPOINT, 0, "tracepoint"],
  ["raw_tracepoint+", T.RAW_TRACEPOINT, 0, "raw_tp"],
  ["raw_tp+", T.RAW_TRACEPOINT, 0, "raw_tp"],
  ["raw_tracepoint.s+", T.RAW_TRACEPOINT, 0, "raw_tp"],
  ["raw_tp.s+", T.RAW_TRACEPOINT, 0, "raw_tp"],
  ["raw_tracepoint.w+", T.RAW_TRACEPOINT_WRITABLE, 0, "raw_tp.w"],
  ["raw_tp.w+", T.RAW_TRACEPOINT_WRITABLE, 0, "raw_tp.w"],
  ["tp_btf+", T.TRACING, A.TRACE_RAW_TP, "tp_btf"],
  ["tp_btf.s+", T.TRACING, A.TRACE_RAW_TP, "tp_btf"],
  ["fentry+", T.TRACING, A.TRACE_FENTRY, "fentry"],
  ["fmod_ret+", T.TRACING, A.MODIFY_RETURN, "fmod_ret"],
  ["fexit+", T.TRACING, A.TRACE_FEXIT, "fexit"],
  ["fentry.s+", T.TRACING, A.TRACE_FENTRY, "fentry"],
  ["fmod_ret.s+", T.TRACING, A.MODIFY_RETURN, "fmod_ret"],
  ["fexit.s+", T.TRACING, A.TRACE_FEXIT, "fexit"],
  ["lsm+", T.LSM, A.LSM_MAC, "lsm"],
  ["lsm.s+", T.LSM, A.LSM_MAC, "lsm"],
  ["iter+", T.TRACING, A.TRACE_ITER, "iter"],
  ["iter.s+", T.TRACING, A.TRACE_ITER, "iter"],
  ["struct_ops+", T.STRUCT_OPS, 0, "struct_ops"],
  ["struct_ops.s+", T.STRUCT_OPS, 0, "struct_ops"],
  ["perf_event", T.PERF_EVENT, 0, "perf_event"],
  ["syscall", T.SYSCALL, 0, "other"],
  ["socket", T.SOCKET_FILTER, 0, "other"],
  ["tc", T.SCHED_CLS, 0, "other"],
  ["classifier", T.SCHED_CLS, 0, "other"],
  ["action", T.SCHED_ACT, 0, "other"],
  ["xdp", T.XDP, 37, /* BPF_XDP */ "other"],
];

const DEFS: Def[] = TABLE.map(([sec, progType, attachType, kind]) => {
  const plus = sec.endsWith("+");
  const name = plus ? sec.slice(0, -1) : sec;
  return {
    name,
    plus,
    progType,
    attachType,
    // libbpf's SEC_SLEEPABLE: the ".s" variants (and "syscall" programs, always sleepable).
    sleepable: name.endsWith(".s") || name === "syscall",
    kind,
  };
});

function matches(d: Def, section: string): boolean {
  if (section === d.name) return true;
  return d.plus && section.startsWith(d.name + "/");
}

/** Decodes a program section name ("tp/sched/sched_process_exec", "?fentry.s/do_x" ...). */
export function sectionDef(section: string): SectionDef {
  const autoload = !section.startsWith("?");
  const name = autoload ? section : section.slice(1);
  const d = DEFS.find((x) => matches(x, name));
  if (!d) {
    return {
      attach: { kind: "other", section },
      progType: ProgType.UNSPEC,
      expectedAttachType: 0,
      sleepable: false,
      autoload,
    };
  }
  const rest = name.length > d.name.length ? name.slice(d.name.length + 1) : "";
  let attach: AttachPoint;
  if (d.kind === "tracepoint") {
    const i = rest.indexOf("/");
    attach = i > 0
      ? { kind: "tracepoint", category: rest.slice(0, i), name: rest.slice(i + 1) }
      : { kind: "other", section };
  } else if (d.kind === "other") {
    attach = { kind: "other", section };
  } else {
    attach = { kind: d.kind, target: rest };
  }
  return {
    attach,
    progType: d.progType,
    expectedAttachType: d.attachType,
    sleepable: d.sleepable,
    autoload,
  };
}
