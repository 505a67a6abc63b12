// Map relocations in a function copy: an ld_imm64 naming a map (a ".maps" symbol) becomes
// BPF_PSEUDO_MAP_FD with the map's fd; one naming a global variable (.rodata/.data/.bss,
// by symbol or section + offset) becomes BPF_PSEUDO_MAP_VALUE with the data map's fd and
// the byte offset in the second slot's imm. Calls and function pointers are the linker's
// (link-subprograms.ts). Pure.

import { TracerError } from "../errors.ts";
import { InsnBuffer } from "../asm/insn.ts";
import * as op from "../asm/opcodes.ts";
import type { ProgramSpec } from "../object/types.ts";

export class RelocationError extends TracerError {}

export interface MapResolver {
  /** The fd of the map defined by symbol `symbol` in section `section`, or undefined. */
  mapFd(section: string, symbol: string): number | undefined;
  /** The fd of the global-data map of section `section`, or undefined. */
  dataFd(section: string): number | undefined;
}

/** Applies the function's map and global-data relocations in place. Returns how many. */
export function relocateMaps(fn: ProgramSpec, maps: MapResolver): number {
  const buf = new InsnBuffer(fn.insns);
  let n = 0;
  for (const r of fn.relocations) {
    if (r.kind === "call" || r.kind === "func_ptr") continue;
    const where = `function ${fn.name}, instruction ${r.insn}`;
    if (r.kind === "extern") {
      throw new RelocationError(
        `${where}: extern symbol '${r.symbol}' (.kconfig/.ksyms externs are not supported)`,
      );
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
