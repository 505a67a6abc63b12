// Makes an object's BTF acceptable to BPF_BTF_LOAD, as libbpf's btf_finalize_data does:
// clang leaves every DATASEC's size at 0 and its variables' offsets at 0 (the linker would
// have set them); the kernel rejects that. Sizes come from the ELF sections, offsets from
// the ELF symbols of the variables. Pure: works on a copy of the raw bytes.

import { FormatError } from "../errors.ts";
import type { Btf } from "../btf/reader.ts";
import { Kind } from "../btf/types.ts";
import type { ElfFile } from "../elf/reader.ts";
import { STT_OBJECT } from "../elf/constants.ts";

const VAR_SECINFO_SIZE = 12;

/**
 * Returns a copy of `btf.bytes` where each DATASEC has its ELF section's size and each of its
 * variables the offset of its symbol, variables sorted by offset (the kernel requires it).
 * DATASECs without an ELF section (e.g. ".kconfig", ".ksyms") keep what clang wrote.
 */
export function fixDatasecs(btf: Btf, elf: ElfFile): Uint8Array {
  const out = btf.bytes.slice();
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let id = btf.firstId; id < btf.count; id++) {
    if (btf.kind(id) !== Kind.DATASEC) continue;
    const t = btf.type(id);
    if (t.kind !== Kind.DATASEC) continue;
    const sec = elf.sectionByName(t.name);
    if (!sec) continue;
    const rec = btf.recordOffset(id);
    dv.setUint32(rec + 8, sec.size, true);
    const vars = t.vars.map((v) => {
      const name = btf.name(v.type);
      const sym = elf.symbols.find((s) =>
        s.shndx === sec.index && s.name === name && (s.type === STT_OBJECT || s.type === 0)
      );
      if (!sym) {
        throw new FormatError(
          btf.what,
          rec,
          `DATASEC ${t.name}: no ELF symbol for variable '${name}'`,
        );
      }
      return { type: v.type, offset: sym.value, size: v.size };
    }).sort((a, b) => a.offset - b.offset);
    vars.forEach((v, i) => {
      const at = rec + 12 + i * VAR_SECINFO_SIZE;
      dv.setUint32(at, v.type, true);
      dv.setUint32(at + 4, v.offset, true);
      dv.setUint32(at + 8, v.size, true);
    });
  }
  return out;
}
