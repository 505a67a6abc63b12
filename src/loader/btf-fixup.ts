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

const VAR_GLOBAL_ALLOCATED = 1;
const FUNC_GLOBAL = 1;
const DUMMY_KSYM = "dummy_ksym";

/**
 * The .kconfig and .ksyms DATASECs rewritten as libbpf's bpf_object__collect_externs rewrites
 * them, so the kernel accepts the BTF: .kconfig's variables become allocated ones at their
 * offsets in the .kconfig map, the section its size; each .ksyms variable an allocated 4-byte
 * int at 4 * its index; each kfunc a global FUNC whose unnamed parameters take the name
 * "dummy_ksym", its DATASEC slot a new 4-byte VAR "dummy_ksym" (appended). `bytes` is the
 * output of fixDatasecs; returned unchanged when the object has no externs.
 */
export function fixExternDatasecs(
  btf: Btf,
  bytes: Uint8Array,
  kconfig: { name: string; offset: number }[],
  kconfigSize: number,
): Uint8Array {
  const kcfgId = btf.byName(".kconfig", Kind.DATASEC)[0];
  const ksymId = btf.byName(".ksyms", Kind.DATASEC)[0];
  if (kcfgId === undefined && ksymId === undefined) return bytes;
  const ksyms = ksymId === undefined ? null : btf.type(ksymId);
  const h = btf.header;
  // The dummy VAR is appended where clang's layout allows it: strings right after the types,
  // at the end of the blob (else the kfuncs stay extern and the kernel may refuse the BTF).
  const appendable = h.strOff === h.typeOff + h.typeLen &&
    h.hdrLen + h.strOff + h.strLen === bytes.length;
  const hasFunc = appendable && ksyms?.kind === Kind.DATASEC &&
    ksyms.vars.some((v) => btf.kind(v.type) === Kind.FUNC);
  const typesEnd = h.hdrLen + h.typeOff + h.typeLen;
  // A new VAR (16 bytes) at the end of the types, and its name at the end of the strings.
  const name = new TextEncoder().encode(DUMMY_KSYM + "\0");
  const out = new Uint8Array(bytes.length + (hasFunc ? 16 + name.length : 0));
  out.set(bytes.subarray(0, typesEnd));
  const dv = new DataView(out.buffer);
  let dummyId = 0;
  let dummyName = 0;
  if (hasFunc) {
    // int: the first 32-bit INT, as libbpf's find_int_btf_id.
    dummyId = btf.count;
    dummyName = h.strLen;
    out.set(bytes.subarray(typesEnd), typesEnd + 16);
    out.set(name, typesEnd + 16 + h.strLen);
    dv.setUint32(typesEnd, dummyName, true);
    dv.setUint32(typesEnd + 4, Kind.VAR << 24, true);
    dv.setUint32(typesEnd + 8, firstInt32(btf), true);
    dv.setUint32(typesEnd + 12, VAR_GLOBAL_ALLOCATED, true);
    dv.setUint32(12, h.typeLen + 16, true); // type_len
    dv.setUint32(16, h.strOff + 16, true); // str_off (strings follow the types)
    dv.setUint32(20, h.strLen + name.length, true); // str_len
  } else {
    out.set(bytes.subarray(typesEnd), typesEnd);
  }
  if (kcfgId !== undefined) {
    const t = btf.type(kcfgId);
    if (t.kind === Kind.DATASEC) {
      const rec = btf.recordOffset(kcfgId);
      dv.setUint32(rec + 8, kconfigSize, true);
      // Sorted by offset: the kernel wants a DATASEC's variables in order.
      const vars = t.vars.map((v) => ({
        ...v,
        offset: kconfig.find((k) => k.name === btf.name(v.type))?.offset ?? 0,
      })).sort((a, b) => a.offset - b.offset);
      vars.forEach((v, i) => {
        const at = rec + 12 + i * VAR_SECINFO_SIZE;
        dv.setUint32(at, v.type, true);
        dv.setUint32(at + 4, v.offset, true);
        dv.setUint32(at + 8, v.size, true);
        dv.setUint32(btf.recordOffset(v.type) + 12, VAR_GLOBAL_ALLOCATED, true);
      });
    }
  }
  if (ksyms?.kind === Kind.DATASEC) {
    const rec = btf.recordOffset(ksymId!);
    const int = firstInt32(btf);
    ksyms.vars.forEach((v, i) => {
      const at = rec + 12 + i * VAR_SECINFO_SIZE;
      const vrec = btf.recordOffset(v.type);
      const vt = btf.type(v.type);
      if (vt.kind === Kind.FUNC && !hasFunc) return;
      if (vt.kind === Kind.FUNC) {
        const proto = btf.type(vt.type);
        if (proto.kind === Kind.FUNC_PROTO) {
          const prec = btf.recordOffset(vt.type);
          proto.params.forEach((param, j) => {
            if (param.type && !param.name) dv.setUint32(prec + 12 + j * 8, dummyName, true);
          });
        }
        dv.setUint32(at, dummyId, true);
        // info: kind FUNC, vlen = linkage.
        dv.setUint32(vrec + 4, (Kind.FUNC << 24) | FUNC_GLOBAL, true);
      } else {
        dv.setUint32(vrec + 8, int, true);
        dv.setUint32(vrec + 12, VAR_GLOBAL_ALLOCATED, true);
      }
      dv.setUint32(at + 4, i * 4, true);
      dv.setUint32(at + 8, 4, true);
    });
    dv.setUint32(rec + 8, ksyms.vars.length * 4, true);
  }
  return out;
}

function firstInt32(btf: Btf): number {
  for (let id = 1; id < btf.count; id++) {
    if (btf.kind(id) !== Kind.INT) continue;
    const t = btf.type(id);
    if (t.kind === Kind.INT && t.bits === 32) return id;
  }
  return 0;
}
