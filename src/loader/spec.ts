// What the loader needs to know about a parsed BPF object: the agreed ObjectSpec shape
// (src/object/, owned by the CO-RE engineer), written here structurally so the loader
// accepts that spec as it is, and so spec-from-elf.ts can build the same shape. Pure.

import type { Btf } from "../btf/reader.ts";
import type { BtfExt } from "../btf/ext.ts";
import type { ElfFile } from "../elf/reader.ts";

export type AttachSpec =
  | { kind: "tracepoint"; category: string; name: string }
  | {
    kind: "raw_tp" | "tp_btf" | "fentry" | "fexit" | "kprobe" | "kretprobe" | "lsm";
    target: string;
  }
  | { kind: "none" };

export interface LoaderProgramSpec {
  /** The function symbol's name. */
  name: string;
  /** ELF section, e.g. "tp/sched/sched_process_exec". */
  section: string;
  sectionIndex: number;
  attach: AttachSpec;
  progType: number;
  expectedAttachType: number;
}

export interface LoaderMapData {
  section: string;
  /** Initial contents (zeros for .bss). */
  bytes: Uint8Array;
  vars: { name: string; offset: number; size: number; typeId: number }[];
}

export interface LoaderMapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  keyTypeId?: number;
  valueTypeId?: number;
  /** Global-data maps (.rodata, .data, .bss ...): one entry holding the section. */
  data?: LoaderMapData;
}

export interface LoaderObjectSpec {
  name: string;
  license: string;
  btf: Btf;
  ext: BtfExt | null;
  elf: ElfFile;
  programs: LoaderProgramSpec[];
  maps: LoaderMapSpec[];
}
