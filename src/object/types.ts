// The object spec: what a BPF ELF object holds, decoded into programs (with their ELF
// relocations, func/line info), subprograms and maps, ready for CO-RE relocation and
// loading. Pure.

import type { Btf } from "../btf/reader.ts";
import type { BtfExt, LineInfoRecord } from "../btf/ext.ts";
import type { ElfFile } from "../elf/reader.ts";
import type { ExternSpec } from "./externs.ts";

/** Attach kinds named by a target after the section prefix ("kprobe/do_sys_open"). */
export type AttachKind =
  | "raw_tp"
  | "raw_tp.w"
  | "tp_btf"
  | "fentry"
  | "fexit"
  | "fmod_ret"
  | "kprobe"
  | "kretprobe"
  | "kprobe.multi"
  | "kretprobe.multi"
  | "kprobe.session"
  | "ksyscall"
  | "kretsyscall"
  | "uprobe"
  | "uretprobe"
  | "uprobe.multi"
  | "uretprobe.multi"
  | "uprobe.session"
  | "usdt"
  | "perf_event"
  | "lsm"
  | "iter"
  | "struct_ops";

export type AttachPoint =
  | { kind: "tracepoint"; category: string; name: string }
  | { kind: AttachKind; target: string }
  | { kind: "other"; section: string };

export type RelocationKind = "map" | "data" | "call" | "func_ptr" | "extern";

/** One ELF relocation (SHT_REL) that falls inside a program. */
export interface ProgramRelocation {
  /** Instruction index within the program. */
  insn: number;
  kind: RelocationKind;
  /** Symbol name ("" for an unnamed section symbol). */
  symbol: string;
  /** The symbol's value (byte offset within its section) and STT_* type. */
  symbolValue: number;
  symbolType: number;
  /** Section the symbol lives in ("" when undefined: an extern). */
  section: string;
  sectionIndex: number;
  /**
   * map: 0. data: byte offset within the data section (insn imm + symbol value).
   * call / func_ptr: the target's instruction index within `section` (libbpf's rules:
   * call = value/8 + imm + 1, func_ptr = (value + imm)/8). extern: 0.
   */
  addend: number;
}

export interface ProgramSpec {
  /** The function symbol's name. */
  name: string;
  /** ELF section, e.g. "tp/sched/sched_process_exec" (".text" for subprograms). */
  section: string;
  sectionIndex: number;
  /** Byte offset of the function within its section (CO-RE records are section-relative). */
  offset: number;
  /** The size of that section in bytes (CO-RE records past it are refused). */
  sectionSize: number;
  /** This function's instructions, an own copy (relocateCore patches it in place). */
  insns: Uint8Array;
  attach: AttachPoint;
  progType: number;
  expectedAttachType: number;
  sleepable: boolean;
  /** False for a "?section" program: loaded only when asked for by name (libbpf's rule). */
  autoload: boolean;
  /** True for .text functions called by entry programs (not loadable by themselves). */
  isSubprogram: boolean;
  relocations: ProgramRelocation[];
  /** func_info with insnOff in instructions relative to this function. */
  funcInfo: { insnOff: number; typeId: number }[];
  /** line_info with insnOff in instructions relative to this function. */
  lineInfo: LineInfoRecord[];
}

export interface MapVar {
  name: string;
  offset: number;
  size: number;
  typeId: number;
}

export interface MapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  keyTypeId?: number;
  valueTypeId?: number;
  /** ELF section the map comes from (".maps", "maps", ".rodata", ...). */
  section: string;
  /** Symbol name of a BTF-defined or legacy map; the section name for global data. */
  symbol: string;
  /** Global-data maps (.rodata, .data, .bss...): initial bytes and the variables in them. */
  data?: { section: string; bytes: Uint8Array; vars: MapVar[] };
}

export interface ObjectSpec {
  name: string;
  license: string;
  /** Kernel version from the "version" section (0 when absent). */
  kernelVersion: number;
  btf: Btf;
  ext: BtfExt | null;
  elf: ElfFile;
  /** Entry programs, in section then offset order. */
  programs: ProgramSpec[];
  /** .text functions, called from entry programs (the loader appends them to each caller). */
  subprograms: ProgramSpec[];
  maps: MapSpec[];
  /** .kconfig and .ksyms externs (kconfig ones first, in their .kconfig map order). */
  externs: ExternSpec[];
  /**
   * The BTF's bytes with each DATASEC's size and variable offsets filled from the ELF (what
   * the loader's fixDatasecs makes), when known ahead: an embedded object's snapshot.
   */
  datasecBtf?: Uint8Array;
}
