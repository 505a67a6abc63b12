// Map relocations in a code section copy: an ld_imm64 naming a map (a ".maps" symbol)
// becomes BPF_PSEUDO_MAP_FD with the map's fd; one naming a global variable (a symbol in
// .rodata/.data/.bss, or the section itself plus an offset in imm) becomes
// BPF_PSEUDO_MAP_VALUE with the data map's fd and the offset in the next slot's imm.
// Calls and function addresses are left to link-subprograms.ts. Pure.

import { TracerError } from "../errors.ts";
import * as op from "../asm/opcodes.ts";
import type { ElfFile } from "../elf/reader.ts";
import { SHN_UNDEF } from "../elf/constants.ts";
import type { CodeSection } from "./link-subprograms.ts";

export class RelocationError extends TracerError {}

export interface MapResolver {
  /** The fd of the BTF-defined map named `name`, or undefined. */
  mapFd(name: string): number | undefined;
  /** The fd of the global-data map of section `section`, or undefined. */
  dataFd(section: string): number | undefined;
}

/** Applies the section's map and global-data relocations in place. Returns how many. */
export function relocateMaps(
  sec: CodeSection,
  elf: ElfFile,
  codeSections: Set<number>,
  maps: MapResolver,
): number {
  let n = 0;
  const buf = sec.insns;
  for (const [i, rel] of sec.rels) {
    const sym = elf.symbols[rel.symbolIndex];
    const where = `section ${sec.name}, instruction ${i}`;
    if (!sym) {
      throw new RelocationError(`${where}: relocation names missing symbol ${rel.symbolIndex}`);
    }
    if (codeSections.has(sym.shndx)) continue; // calls / function pointers: the linker's
    if (sym.shndx === SHN_UNDEF) {
      throw new RelocationError(
        `${where}: extern symbol '${sym.name}' (.kconfig/.ksyms externs are not supported)`,
      );
    }
    if (!buf.isLdImm64(i)) {
      throw new RelocationError(
        `${where}: relocation against '${sym.name}' on an instruction that is not ld_imm64 (code 0x${
          buf.code(i).toString(16)
        })`,
      );
    }
    const target = elf.sections[sym.shndx];
    if (!target) throw new RelocationError(`${where}: symbol '${sym.name}' in no section`);
    if (target.name === ".maps") {
      const fd = maps.mapFd(sym.name);
      if (fd === undefined) throw new RelocationError(`${where}: unknown map '${sym.name}'`);
      buf.setSrc(i, op.BPF_PSEUDO_MAP_FD);
      buf.setImm(i, fd);
      buf.setImm(i + 1, 0);
    } else {
      const fd = maps.dataFd(target.name);
      if (fd === undefined) {
        throw new RelocationError(
          `${where}: '${
            sym.name || target.name
          }' lives in section ${target.name}, which has no map`,
        );
      }
      const offset = sym.value + buf.imm(i);
      buf.setSrc(i, op.BPF_PSEUDO_MAP_VALUE);
      buf.setImm(i, fd);
      buf.setImm(i + 1, offset);
    }
    n++;
  }
  return n;
}
