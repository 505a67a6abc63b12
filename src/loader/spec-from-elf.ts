// Builds the loader's view of an object (spec.ts) straight from its ELF and BTF: programs
// from executable sections, maps from the BTF-defined ".maps" section and the global-data
// sections. The object engineer's loadObjectSpec (src/object/) yields the same shape; this
// one keeps the loader usable and testable on its own. Pure.

import { FormatError } from "../errors.ts";
import { Btf } from "../btf/reader.ts";
import { parseBtfExt } from "../btf/ext.ts";
import { Kind } from "../btf/types.ts";
import { parseElf } from "../elf/reader.ts";
import { SHF_EXECINSTR, SHT_NOBITS, STB_GLOBAL, STT_FUNC } from "../elf/constants.ts";
import { AttachType, MapFlags, MapType, ProgType } from "../kernel/constants.ts";
import type { AttachSpec, LoaderMapSpec, LoaderObjectSpec, LoaderProgramSpec } from "./spec.ts";

/** Section prefix → program type, expected attach type, attach kind (libbpf's section_defs). */
const SECTION_KINDS: [string, number, number, AttachSpec["kind"]][] = [
  ["tp_btf/", ProgType.TRACING, AttachType.TRACE_RAW_TP, "tp_btf"],
  ["tp/", ProgType.TRACEPOINT, 0, "tracepoint"],
  ["tracepoint/", ProgType.TRACEPOINT, 0, "tracepoint"],
  ["raw_tp/", ProgType.RAW_TRACEPOINT, 0, "raw_tp"],
  ["raw_tracepoint/", ProgType.RAW_TRACEPOINT, 0, "raw_tp"],
  ["fentry/", ProgType.TRACING, AttachType.TRACE_FENTRY, "fentry"],
  ["fexit/", ProgType.TRACING, AttachType.TRACE_FEXIT, "fexit"],
  ["kprobe/", ProgType.KPROBE, 0, "kprobe"],
  ["kretprobe/", ProgType.KPROBE, 0, "kretprobe"],
  ["lsm/", ProgType.LSM, AttachType.LSM_MAC, "lsm"],
];

export function programKind(section: string): {
  progType: number;
  expectedAttachType: number;
  attach: AttachSpec;
} | null {
  for (const [prefix, progType, expectedAttachType, kind] of SECTION_KINDS) {
    if (!section.startsWith(prefix)) continue;
    const target = section.slice(prefix.length);
    if (kind === "tracepoint") {
      const slash = target.indexOf("/");
      if (slash <= 0) return null;
      return {
        progType,
        expectedAttachType,
        attach: { kind, category: target.slice(0, slash), name: target.slice(slash + 1) },
      };
    }
    return { progType, expectedAttachType, attach: { kind, target } };
  }
  return null;
}

const DATA_SECTION = /^\.(rodata|data|bss)(\..*)?$/;

/** The kernel map name libbpf gives a global-data map: object prefix + section. */
export function dataMapName(object: string, section: string): string {
  const prefix = object.replace(/\.bpf\.o$|\.o$/, "").replace(/[^A-Za-z0-9_]/g, "_")
    .slice(0, Math.max(0, 15 - section.length));
  return (prefix + section).slice(0, 15);
}

export function specFromElf(bytes: Uint8Array, name: string): LoaderObjectSpec {
  const elf = parseElf(bytes, name);
  const btfSec = elf.sectionByName(".BTF");
  if (!btfSec) throw new FormatError(name, 0, "no .BTF section (build with clang -g)");
  const btf = Btf.parse(btfSec.data, { what: `${name} .BTF` });
  const extSec = elf.sectionByName(".BTF.ext");
  const ext = extSec ? parseBtfExt(extSec.data, btf, `${name} .BTF.ext`) : null;
  const licSec = elf.sectionByName("license");
  const license = licSec ? new TextDecoder().decode(licSec.data).replace(/\0.*$/s, "") : "";

  const programs: LoaderProgramSpec[] = [];
  for (const sym of elf.symbols) {
    if (sym.type !== STT_FUNC || sym.bind !== STB_GLOBAL) continue;
    const sec = elf.sections[sym.shndx];
    if (!sec || !(sec.flags & SHF_EXECINSTR) || sec.name === ".text") continue;
    const kind = programKind(sec.name);
    if (!kind) {
      throw new FormatError(name, sec.offset, `program ${sym.name}: unknown section '${sec.name}'`);
    }
    programs.push({ name: sym.name, section: sec.name, sectionIndex: sec.index, ...kind });
  }

  const maps: LoaderMapSpec[] = [];
  for (let id = btf.firstId; id < btf.count; id++) {
    if (btf.kind(id) !== Kind.DATASEC) continue;
    const ds = btf.type(id);
    if (ds.kind !== Kind.DATASEC) continue;
    if (ds.name === ".maps") {
      for (const v of ds.vars) maps.push(btfMap(btf, v.type, name));
    } else if (DATA_SECTION.test(ds.name)) {
      const sec = elf.sectionByName(ds.name);
      if (!sec || sec.size === 0) continue;
      const vars = ds.vars.map((v) => {
        const varName = btf.name(v.type);
        const sym = elf.symbols.find((s) => s.shndx === sec.index && s.name === varName);
        const t = btf.type(v.type);
        return {
          name: varName,
          offset: sym ? sym.value : v.offset,
          size: v.size,
          typeId: t.kind === Kind.VAR ? t.type : 0,
        };
      });
      const init = new Uint8Array(sec.size);
      if (sec.type !== SHT_NOBITS) init.set(sec.data);
      maps.push({
        name: dataMapName(name, ds.name),
        type: MapType.ARRAY,
        keySize: 4,
        valueSize: sec.size,
        maxEntries: 1,
        flags: ds.name.startsWith(".rodata") ? MapFlags.RDONLY_PROG : 0,
        valueTypeId: id,
        data: { section: ds.name, bytes: init, vars },
      });
    }
  }
  return { name, license, btf, ext, elf, programs, maps };
}

/** A BTF-defined map: `struct { __uint(type, ..); __type(key, ..); ... } name SEC(".maps")`. */
function btfMap(btf: Btf, varId: number, object: string): LoaderMapSpec {
  const v = btf.type(varId);
  const mapName = v.name;
  if (v.kind !== Kind.VAR) throw new FormatError(object, 0, `.maps entry ${varId} is not a VAR`);
  const def = btf.type(btf.resolve(v.type));
  if (def.kind !== Kind.STRUCT) {
    throw new FormatError(object, 0, `map ${mapName}: definition is not a struct`);
  }
  const spec: LoaderMapSpec = {
    name: mapName,
    type: 0,
    keySize: 0,
    valueSize: 0,
    maxEntries: 0,
    flags: 0,
  };
  /** __uint(name, N) is `int (*name)[N]`: the array's element count. */
  const uintOf = (typeId: number, field: string): number => {
    const p = btf.type(btf.resolve(typeId));
    const a = p.kind === Kind.PTR ? btf.type(btf.resolve(p.type)) : null;
    if (!a || a.kind !== Kind.ARRAY) {
      throw new FormatError(object, 0, `map ${mapName}: field ${field} is not __uint()`);
    }
    return a.nelems;
  };
  /** __type(name, T) is `T *name`. */
  const typeOf = (typeId: number, field: string): number => {
    const p = btf.type(btf.resolve(typeId));
    if (p.kind !== Kind.PTR) {
      throw new FormatError(object, 0, `map ${mapName}: field ${field} is not __type()`);
    }
    return p.type;
  };
  for (const m of def.members) {
    switch (m.name) {
      case "type":
        spec.type = uintOf(m.type, m.name);
        break;
      case "max_entries":
        spec.maxEntries = uintOf(m.type, m.name);
        break;
      case "map_flags":
        spec.flags = uintOf(m.type, m.name);
        break;
      case "key_size":
        spec.keySize = uintOf(m.type, m.name);
        break;
      case "value_size":
        spec.valueSize = uintOf(m.type, m.name);
        break;
      case "key":
        spec.keyTypeId = typeOf(m.type, m.name);
        spec.keySize = btf.sizeOf(spec.keyTypeId);
        break;
      case "value":
        spec.valueTypeId = typeOf(m.type, m.name);
        spec.valueSize = btf.sizeOf(spec.valueTypeId);
        break;
      case "pinning":
      case "numa_node":
        break;
      default:
        throw new FormatError(object, 0, `map ${mapName}: unsupported field '${m.name}'`);
    }
  }
  return spec;
}
