// CO-RE over a whole code section, for a loader that keeps one private copy of each
// executable section (instruction offsets in .BTF.ext are section-relative). Results still
// name the function (from the ELF symbol table) and the instruction index within it, as
// libbpf reports them. Pure.

import type { Btf } from "../btf/reader.ts";
import type { BtfExt } from "../btf/ext.ts";
import type { ElfFile } from "../elf/reader.ts";
import { STT_FUNC } from "../elf/constants.ts";
import { INSN_SIZE, InsnBuffer } from "../asm/insn.ts";
import { CoreError } from "./errors.ts";
import {
  cacheFor,
  type CoreRelocationResult,
  type FunctionRange,
  relocateRecord,
} from "./relocate.ts";

export interface SectionObject {
  name: string;
  btf: Btf;
  ext: BtfExt | null;
  elf: ElfFile;
}

export interface CodeSection {
  name: string;
  /** ELF section index. */
  index: number;
  /** The section's instructions (patched in place). */
  insns: Uint8Array;
}

function functionsOf(elf: ElfFile, section: CodeSection): FunctionRange[] {
  return elf.symbols
    .filter((s) => s.shndx === section.index && s.type === STT_FUNC)
    .sort((a, b) => a.value - b.value)
    .map((s) => ({ name: s.name, section: section.name, offset: s.value }));
}

/**
 * Relocates every CO-RE record of one code section in place against `target`, in record
 * order. Throws CoreError on bad records or unresolvable ambiguity.
 */
export function relocateSection(
  spec: SectionObject,
  section: CodeSection,
  target: Btf,
): CoreRelocationResult[] {
  const records = spec.ext?.coreRelos.get(section.name) ?? [];
  if (records.length === 0) return [];
  const buf = new InsnBuffer(section.insns);
  const fns = functionsOf(spec.elf, section);
  const cache = cacheFor(spec, target);
  return records.map((rec, i) => {
    if (rec.insnOff % INSN_SIZE !== 0 || rec.insnOff < 0 || rec.insnOff >= section.insns.length) {
      throw new CoreError(
        { object: spec.name, relo: i },
        `record in section ${section.name} at byte ${rec.insnOff} points outside the section ` +
          `(${section.insns.length} bytes) or between instructions`,
      );
    }
    let fn: FunctionRange = { name: section.name, section: section.name, offset: 0 };
    for (const f of fns) if (f.offset <= rec.insnOff) fn = f;
    return relocateRecord(spec, fn, buf, rec, i, target, cache, fn.offset / INSN_SIZE);
  });
}

/** The loader's CoreRelocator shape, bound to a target BTF; results go to `sink`. */
export function sectionRelocator(
  target: Btf,
  sink?: (results: CoreRelocationResult[]) => void,
): (spec: SectionObject, section: CodeSection) => void {
  return (spec, section) => {
    const results = relocateSection(spec, section, target);
    sink?.(results);
  };
}
