// Map specs of a BPF object: BTF-defined maps (".maps": __uint/__type members), legacy
// "maps" (struct bpf_map_def) and global-data maps (.rodata*, .data*, .bss*), named as
// libbpf names them. Pure.

import type { Btf } from "../btf/reader.ts";
import { Kind } from "../btf/types.ts";
import type { ElfFile, Section } from "../elf/reader.ts";
import { SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS, STT_SECTION } from "../elf/constants.ts";
import { FormatError } from "../errors.ts";
import { MapType } from "../kernel/constants.ts";
import type { MapSpec, MapVar } from "./types.ts";

const BPF_F_RDONLY_PROG = 0x80;
const BPF_F_MMAPABLE = 0x400;
const OBJ_NAME_LEN = 16;
/**
 * The largest global-data section taken as a map. The kernel refuses array values over
 * KMALLOC_MAX_SIZE (4 MiB on x86-64); a mutated .bss size could otherwise ask for terabytes.
 */
const DATA_SECTION_MAX = 64 << 20;

/** The value of `__uint(name, N)`: a pointer to an array of N elements. */
function uintMember(btf: Btf, typeId: number): number | undefined {
  const p = btf.resolve(typeId);
  if (btf.kind(p) !== Kind.PTR) return undefined;
  const target = btf.resolve((btf.type(p) as { type: number }).type);
  if (target === 0) return undefined; // a pointer to void
  const a = btf.type(target);
  return a.kind === Kind.ARRAY ? a.nelems : undefined;
}

/** btf.type(id), or a FormatError naming `role` when the id is void (0, which has no record). */
function typeOf(btf: Btf, id: number, what: string, at: number, role: string) {
  if (id === 0) throw new FormatError(what, at, `${role} has type 0 (void)`);
  return btf.type(id);
}

/** The type of `__type(name, T)`: a pointer to T. */
function typeMember(btf: Btf, typeId: number): number | undefined {
  const p = btf.resolve(typeId);
  if (btf.kind(p) !== Kind.PTR) return undefined;
  return (btf.type(p) as { type: number }).type;
}

function btfDefinedMaps(what: string, btf: Btf, section: Section): MapSpec[] {
  const out: MapSpec[] = [];
  for (const id of btf.byName(".maps", Kind.DATASEC)) {
    const ds = btf.type(id);
    if (ds.kind !== Kind.DATASEC) continue;
    for (const v of ds.vars) {
      const at = section.offset + v.offset;
      const variable = typeOf(btf, v.type, what, at, "a .maps variable");
      if (variable.kind !== Kind.VAR) continue;
      const def = typeOf(btf, btf.resolve(variable.type), what, at, `map '${variable.name}'`);
      if (def.kind !== Kind.STRUCT) {
        throw new FormatError(
          what,
          section.offset + v.offset,
          `map '${variable.name}' is not a struct`,
        );
      }
      const m: MapSpec = {
        name: variable.name,
        type: 0,
        keySize: 0,
        valueSize: 0,
        maxEntries: 0,
        flags: 0,
        section: section.name,
        symbol: variable.name,
      };
      for (const member of def.members) {
        switch (member.name) {
          case "type":
            m.type = uintMember(btf, member.type) ?? 0;
            break;
          case "max_entries":
            m.maxEntries = uintMember(btf, member.type) ?? 0;
            break;
          case "map_flags":
            m.flags = uintMember(btf, member.type) ?? 0;
            break;
          case "key_size":
            m.keySize = uintMember(btf, member.type) ?? 0;
            break;
          case "value_size":
            m.valueSize = uintMember(btf, member.type) ?? 0;
            break;
          case "key": {
            const t = typeMember(btf, member.type);
            if (t !== undefined) {
              m.keyTypeId = t;
              m.keySize = btf.sizeOf(t);
            }
            break;
          }
          case "value": {
            const t = typeMember(btf, member.type);
            if (t !== undefined) {
              m.valueTypeId = t;
              m.valueSize = btf.sizeOf(t);
            }
            break;
          }
        }
      }
      out.push(m);
    }
  }
  return out;
}

function legacyMaps(what: string, elf: ElfFile, section: Section): MapSpec[] {
  const syms = elf.symbols.filter((s) =>
    s.shndx === section.index && s.type !== STT_SECTION && s.name
  );
  const dv = new DataView(section.data.buffer, section.data.byteOffset, section.data.byteLength);
  return syms.map((s) => {
    if (s.value + 20 > section.data.length) {
      throw new FormatError(what, section.offset + s.value, `legacy map '${s.name}' is truncated`);
    }
    return {
      name: s.name,
      type: dv.getUint32(s.value, true),
      keySize: dv.getUint32(s.value + 4, true),
      valueSize: dv.getUint32(s.value + 8, true),
      maxEntries: dv.getUint32(s.value + 12, true),
      flags: dv.getUint32(s.value + 16, true),
      section: section.name,
      symbol: s.name,
    };
  });
}

/** libbpf's internal_map_name: object-name prefix + section name, 15 characters at most. */
export function internalMapName(objectName: string, section: string): string {
  const objName = objectName.split(".")[0];
  const sfx = Math.min(Math.max(7, section.length), OBJ_NAME_LEN - 1);
  const pfx = section.indexOf(".", 1) >= 0 ? 0 : Math.min(OBJ_NAME_LEN - sfx - 1, objName.length);
  const name = objName.slice(0, pfx) + section.slice(0, sfx);
  return name.replace(/[^A-Za-z0-9_.]/g, "_");
}

function isDataSection(s: Section): boolean {
  if ((s.flags & SHF_ALLOC) === 0n || (s.flags & SHF_EXECINSTR) !== 0n) return false;
  return /^\.(rodata|data|bss)(\.|$)/.test(s.name);
}

/**
 * The variables of a data section, from its BTF DATASEC. The offset comes from the variable's
 * ELF symbol when there is one: clang leaves DATASEC offsets at 0 in the object (libbpf fixes
 * them up from the symbols the same way before loading).
 */
function dataVars(what: string, btf: Btf, elf: ElfFile, section: Section): MapVar[] {
  const vars: MapVar[] = [];
  for (const id of btf.byName(section.name, Kind.DATASEC)) {
    const ds = btf.type(id);
    if (ds.kind !== Kind.DATASEC) continue;
    for (const v of ds.vars) {
      const t = typeOf(
        btf,
        v.type,
        what,
        section.offset + v.offset,
        `a variable of ${section.name}`,
      );
      if (t.kind !== Kind.VAR) continue;
      const sym = elf.symbols.find((s) => s.shndx === section.index && s.name === t.name);
      vars.push({ name: t.name, offset: sym?.value ?? v.offset, size: v.size, typeId: t.type });
    }
  }
  return vars;
}

export function collectMaps(what: string, objectName: string, elf: ElfFile, btf: Btf): MapSpec[] {
  const maps: MapSpec[] = [];
  for (const s of elf.sections) {
    if (s.name === ".maps") maps.push(...btfDefinedMaps(what, btf, s));
    else if (s.name === "maps") maps.push(...legacyMaps(what, elf, s));
    else if (isDataSection(s) && s.size > 0) {
      if (s.size > DATA_SECTION_MAX) {
        throw new FormatError(
          what,
          s.offset,
          `data section ${s.name} of ${s.size} bytes is larger than a BPF map value can be`,
        );
      }
      const readonly = (s.flags & SHF_WRITE) === 0n;
      // libbpf's map_is_mmapable: only a section whose DATASEC has a non-static variable.
      const mmapable = btf.byName(s.name, Kind.DATASEC).some((id) => {
        const ds = btf.type(id);
        return ds.kind === Kind.DATASEC && ds.vars.some((v) => {
          const t = v.type === 0 ? null : btf.type(v.type);
          return t?.kind === Kind.VAR && t.linkage !== 0;
        });
      });
      maps.push({
        name: internalMapName(objectName, s.name),
        type: MapType.ARRAY,
        keySize: 4,
        valueSize: s.size,
        maxEntries: 1,
        flags: (readonly ? BPF_F_RDONLY_PROG : 0) | (mmapable ? BPF_F_MMAPABLE : 0),
        section: s.name,
        symbol: s.name,
        data: {
          section: s.name,
          bytes: s.type === SHT_NOBITS ? new Uint8Array(s.size) : s.data.slice(),
          vars: dataVars(what, btf, elf, s),
        },
      });
    }
  }
  return maps;
}

/**
 * The ".kconfig" map libbpf makes for kconfig externs: one read-only, mmapable array value of
 * `size` bytes (their layout: externs.ts), filled in by the loader, frozen.
 */
export function kconfigMap(objectName: string, size: number): MapSpec {
  return {
    name: internalMapName(objectName, ".kconfig"),
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: size,
    maxEntries: 1,
    flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
    section: ".kconfig",
    symbol: ".kconfig",
    data: { section: ".kconfig", bytes: new Uint8Array(size), vars: [] },
  };
}
