// Map and extern relocations in a function copy: an ld_imm64 naming a map (a ".maps" symbol)
// becomes BPF_PSEUDO_MAP_FD with the map's fd; one naming a global variable
// (.rodata/.data/.bss, by symbol or section + offset) becomes BPF_PSEUDO_MAP_VALUE with the
// data map's fd and the byte offset in the second slot's imm. Externs, as libbpf's
// bpf_object__relocate_data patches them: a kconfig extern is a BPF_PSEUDO_MAP_VALUE into the
// .kconfig map; a resolved typed ksym a BPF_PSEUDO_BTF_ID; an untyped or unresolved one its
// address (0: bpf_ksym_exists() false); a kfunc call a BPF_PSEUDO_KFUNC_CALL, or, when the
// kernel lacks a weak kfunc, a call of the invalid helper 2002000000 + the extern's index (dead
// code the verifier drops, or an error naming it). Calls and function pointers are the
// linker's (link-subprograms.ts). Pure.

import { TracerError } from "../errors.ts";
import { InsnBuffer } from "../asm/insn.ts";
import * as op from "../asm/opcodes.ts";
import type { ProgramSpec } from "../object/types.ts";
import type { ResolvedKsym } from "./ksyms.ts";

export class RelocationError extends TracerError {}

export interface MapResolver {
  /** The fd of the map defined by symbol `symbol` in section `section`, or undefined. */
  mapFd(section: string, symbol: string): number | undefined;
  /** The fd of the global-data map of section `section`, or undefined. */
  dataFd(section: string): number | undefined;
  /** An extern by name: where it is in .kconfig (fd and offset) or its ksym resolution. */
  extern?(name: string):
    | { kind: "kconfig"; fd: number; offset: number; index: number }
    | { kind: "ksym"; ksym: ResolvedKsym; index: number }
    | undefined;
}

/** libbpf's POISON_CALL_KFUNC_BASE: a call of a missing weak kfunc becomes helper 2002000000+i. */
export const POISON_CALL_KFUNC_BASE = 2002000000;
const CALL = op.BPF_JMP | op.BPF_CALL;

function relocateExtern(
  fn: ProgramSpec,
  buf: InsnBuffer,
  r: ProgramSpec["relocations"][number],
  maps: MapResolver,
): void {
  const where = `function ${fn.name}, instruction ${r.insn}`;
  const ext = maps.extern?.(r.symbol);
  if (!ext) throw new RelocationError(`${where}: extern '${r.symbol}' is not resolved`);
  if (buf.code(r.insn) === CALL) {
    if (ext.kind !== "ksym" || ext.ksym.kind === "addr") {
      throw new RelocationError(`${where}: call of '${r.symbol}', which is not a kfunc`);
    }
    if (ext.ksym.kind === "missing") {
      buf.setSrc(r.insn, 0);
      buf.setDst(r.insn, 0);
      buf.setOff(r.insn, 0);
      buf.setImm(r.insn, POISON_CALL_KFUNC_BASE + ext.index);
    } else {
      buf.setSrc(r.insn, op.BPF_PSEUDO_KFUNC_CALL);
      buf.setImm(r.insn, ext.ksym.id);
      buf.setOff(r.insn, ext.ksym.fdIndex);
    }
    return;
  }
  if (!buf.isLdImm64(r.insn)) {
    throw new RelocationError(
      `${where}: extern '${r.symbol}' used by an instruction that is neither ld_imm64 nor a call`,
    );
  }
  if (ext.kind === "kconfig") {
    buf.setSrc(r.insn, op.BPF_PSEUDO_MAP_VALUE);
    buf.setImm(r.insn, ext.fd);
    buf.setImm(r.insn + 1, ext.offset);
  } else if (ext.ksym.kind === "btf") {
    buf.setSrc(r.insn, op.BPF_PSEUDO_BTF_ID);
    buf.setImm(r.insn, ext.ksym.id);
    buf.setImm(r.insn + 1, ext.ksym.btfFd);
  } else {
    buf.setImm64(r.insn, ext.ksym.kind === "addr" ? ext.ksym.addr : 0n);
  }
}

/** Applies the function's map and global-data relocations in place. Returns how many. */
export function relocateMaps(fn: ProgramSpec, maps: MapResolver): number {
  const buf = new InsnBuffer(fn.insns);
  let n = 0;
  for (const r of fn.relocations) {
    if (r.kind === "call" || r.kind === "func_ptr") continue;
    const where = `function ${fn.name}, instruction ${r.insn}`;
    if (r.kind === "extern") {
      relocateExtern(fn, buf, r, maps);
      n++;
      continue;
    }
    if (!buf.isLdImm64(r.insn)) {
      throw new RelocationError(
        `${where}: relocation against '${r.symbol}' on an instruction that is not ld_imm64`,
      );
    }
    if (r.kind === "map") {
      const fd = maps.mapFd(r.section, r.symbol);
      if (fd === undefined) throw new RelocationError(`${where}: unknown map '${r.symbol}'`);
      buf.setSrc(r.insn, op.BPF_PSEUDO_MAP_FD);
      buf.setImm(r.insn, fd);
      buf.setImm(r.insn + 1, 0);
    } else {
      const fd = maps.dataFd(r.section);
      if (fd === undefined) {
        throw new RelocationError(
          `${where}: '${r.symbol || r.section}' lives in section ${r.section}, which has no map`,
        );
      }
      buf.setSrc(r.insn, op.BPF_PSEUDO_MAP_VALUE);
      buf.setImm(r.insn, fd);
      buf.setImm(r.insn + 1, r.addend);
    }
    n++;
  }
  return n;
}
