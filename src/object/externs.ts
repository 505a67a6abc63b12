// Extern symbols of a BPF object (`extern ... __kconfig`, `extern ... __ksym`), collected by
// libbpf's rules (bpf_object__collect_externs): each undefined global or weak symbol has a
// BTF VAR or FUNC of extern linkage, in the ".kconfig" or the ".ksyms" DATASEC. Kconfig
// externs get their type class (bool, tristate, char, char array, integer), size and
// alignment, and their place in the ".kconfig" map: sorted by alignment (largest first),
// size, then name, each at the next offset its alignment allows. Pure.

import type { Btf } from "../btf/reader.ts";
import { INT_BOOL, INT_SIGNED, Kind } from "../btf/types.ts";
import { essentialName } from "../btf/types.ts";
import type { ElfFile } from "../elf/reader.ts";
import { SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_NOTYPE } from "../elf/constants.ts";
import { FormatError } from "../errors.ts";

export type KconfigType = "bool" | "tristate" | "char" | "char_array" | "int";

export interface KconfigExtern {
  kind: "kconfig";
  name: string;
  weak: boolean;
  /** ELF symbol index (relocations name it). */
  symbolIndex: number;
  /** The BTF VAR. */
  btfId: number;
  type: KconfigType;
  size: number;
  align: number;
  signed: boolean;
  /** Byte offset in the .kconfig map's value. */
  offset: number;
}

export interface KsymExtern {
  kind: "ksym";
  name: string;
  /** The name cut at a "___" flavor suffix: the kernel symbol looked up for a kfunc. */
  essentialName: string;
  weak: boolean;
  symbolIndex: number;
  /** The BTF VAR or FUNC. */
  btfId: number;
  isFunc: boolean;
  /**
   * The local type (FUNC_PROTO of a kfunc; the variable's type, through modifiers and
   * typedefs, of a typed ksym), 0 for an untyped `extern const void sym __ksym` (resolved
   * through /proc/kallsyms).
   */
  typeId: number;
}

export type ExternSpec = KconfigExtern | KsymExtern;

/** The .kconfig map's name is made from this section name, like libbpf's. */
export const KCONFIG_SECTION = ".kconfig";
export const KSYMS_SECTION = ".ksyms";

/** The BTF VAR or FUNC named `name`: it must be extern (libbpf's find_extern_btf_id). */
function externBtfId(btf: Btf, name: string, what: string): number {
  for (let id = 1; id < btf.count; id++) {
    const k = btf.kind(id);
    if (k !== Kind.VAR && k !== Kind.FUNC) continue;
    if (btf.name(id) !== name) continue;
    const t = btf.type(id) as { linkage: number };
    if (t.linkage !== 2) {
      throw new FormatError(what, 0, `extern '${name}': its BTF ${Kind[k]} is not extern`);
    }
    return id;
  }
  throw new FormatError(what, 0, `extern '${name}' has no BTF VAR or FUNC`);
}

/** The DATASEC listing type `id`, by name. */
function datasecOf(btf: Btf, id: number): string | null {
  for (let s = 1; s < btf.count; s++) {
    if (btf.kind(s) !== Kind.DATASEC) continue;
    const t = btf.type(s);
    if (t.kind === Kind.DATASEC && t.vars.some((v) => v.type === id)) return t.name;
  }
  return null;
}

/** libbpf's find_kcfg_type; null for a type kconfig values cannot be written to. */
function kcfgType(
  btf: Btf,
  id: number,
  depth = 0,
): { type: KconfigType; signed: boolean } | null {
  const r = btf.resolve(id);
  if (r === 0 || depth > 8) return null; // void, or an array of arrays of ... (or a loop)
  const t = btf.type(r);
  switch (t.kind) {
    case Kind.INT:
      if (t.encoding & INT_BOOL) return t.size === 1 ? { type: "bool", signed: false } : null;
      if (t.size === 1) return { type: "char", signed: (t.encoding & INT_SIGNED) !== 0 };
      if (t.size < 1 || t.size > 8 || (t.size & (t.size - 1))) return null;
      return { type: "int", signed: (t.encoding & INT_SIGNED) !== 0 };
    case Kind.ENUM:
      if (t.kind === Kind.ENUM && t.size !== 4) return null;
      return t.name === "libbpf_tristate" ? { type: "tristate", signed: false } : null;
    case Kind.ENUM64:
      return t.name === "libbpf_tristate" ? { type: "tristate", signed: false } : null;
    case Kind.ARRAY:
      if (t.nelems === 0 || kcfgType(btf, t.elemType, depth + 1)?.type !== "char") return null;
      return { type: "char_array", signed: false };
    default:
      return null;
  }
}

/** Alignment of the types a kconfig extern may have (btf__align_of for them). */
function alignOf(btf: Btf, id: number, depth = 0): number {
  const r = btf.resolve(id);
  if (r === 0 || depth > 32) return 0; // void, or nesting deeper than any real type (a loop)
  const t = btf.type(r);
  switch (t.kind) {
    case Kind.INT:
    case Kind.ENUM:
    case Kind.ENUM64:
    case Kind.FLOAT:
      return Math.min(t.size, 8);
    case Kind.PTR:
      return 8;
    case Kind.ARRAY:
      return alignOf(btf, t.elemType, depth + 1);
    case Kind.STRUCT:
    case Kind.UNION:
      return t.members.reduce((a, m) => Math.max(a, alignOf(btf, m.type, depth + 1)), 1);
    default:
      return 0;
  }
}

/** The externs of an object, kconfig ones laid out; and the .kconfig map's value size. */
export function collectExterns(
  what: string,
  elf: ElfFile,
  btf: Btf,
): { externs: ExternSpec[]; kconfigSize: number } {
  const externs: ExternSpec[] = [];
  for (const sym of elf.symbols) {
    if (sym.shndx !== SHN_UNDEF || sym.type !== STT_NOTYPE || !sym.name) continue;
    if (sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK) continue;
    const btfId = externBtfId(btf, sym.name, what);
    const sec = datasecOf(btf, btfId);
    const isFunc = btf.kind(btfId) === Kind.FUNC;
    const weak = sym.bind === STB_WEAK;
    const name = sym.name;
    if (sec === KCONFIG_SECTION) {
      if (isFunc) {
        throw new FormatError(what, 0, `extern function '${name}' in ${KCONFIG_SECTION}`);
      }
      const varType = (btf.type(btfId) as { type: number }).type;
      const size = btf.sizeOf(varType);
      const align = alignOf(btf, varType);
      const k = kcfgType(btf, varType);
      if (size <= 0 || align <= 0 || !k) {
        throw new FormatError(
          what,
          0,
          `extern '${name}' ${KCONFIG_SECTION}: its type is not a bool, tristate, char, ` +
            `char array or 1/2/4/8-byte integer`,
        );
      }
      externs.push({
        kind: "kconfig",
        name,
        weak,
        symbolIndex: sym.index,
        btfId,
        type: k.type,
        signed: k.signed,
        size,
        align,
        offset: 0,
      });
    } else if (sec === KSYMS_SECTION) {
      const ref = (btf.type(btfId) as { type: number }).type;
      externs.push({
        kind: "ksym",
        name,
        essentialName: essentialName(name),
        weak,
        symbolIndex: sym.index,
        btfId,
        isFunc,
        typeId: isFunc ? ref : btf.resolve(ref),
      });
    } else {
      throw new FormatError(
        what,
        0,
        `extern '${name}' is in ${sec ? `section ${sec}` : "no DATASEC"}: ` +
          `only ${KCONFIG_SECTION} and ${KSYMS_SECTION} externs exist`,
      );
    }
  }
  // libbpf's cmp_externs: kconfig first; by alignment (largest first), size, then name.
  const kcfg = externs.filter((e): e is KconfigExtern => e.kind === "kconfig").sort((a, b) =>
    b.align - a.align || a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  let off = 0;
  for (const e of kcfg) {
    e.offset = Math.ceil(off / e.align) * e.align;
    off = e.offset + e.size;
  }
  const ksyms = externs.filter((e) => e.kind === "ksym").sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  );
  return { externs: [...kcfg, ...ksyms], kconfigSize: off };
}
