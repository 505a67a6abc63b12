// ELF64 little-endian reader for BPF relocatable objects (and, on request, any machine:
// the .BTF section of an x86_64 vmlinux). Bounds-checked: malformed input raises a
// FormatError with the offset. Pure: imports nothing from a runtime.

import { FormatError } from "../errors.ts";
import {
  EHDR_SIZE,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  EM_BPF,
  REL_SIZE,
  SHDR_SIZE,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_REL,
  SHT_SYMTAB,
  SYM_SIZE,
} from "./constants.ts";

export interface Section {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  /** sh_addr: the section's address in memory (0 in a relocatable object; a vmlinux's is past 2^53). */
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** The section's bytes (a subarray of the file), empty for SHT_NOBITS. */
  data: Uint8Array;
}

export interface Sym {
  index: number;
  name: string;
  value: number;
  size: number;
  /** STT_* */
  type: number;
  /** STB_* */
  bind: number;
  /** STV_* */
  visibility: number;
  /** Section index (or SHN_UNDEF / SHN_ABS / SHN_COMMON). */
  shndx: number;
}

export interface Rel {
  /** Byte offset within the target section. */
  offset: number;
  symbolIndex: number;
  /** R_BPF_* */
  type: number;
}

export interface ElfFile {
  /** e_machine (EM_BPF = 247 unless parsed with anyMachine). */
  machine: number;
  /** e_type (ET_REL = 1 for BPF objects). */
  type: number;
  sections: Section[];
  symbols: Sym[];
  sectionByName(name: string): Section | undefined;
  /** The SHT_REL relocations that apply to section `sectionIndex` (empty when none). */
  relocationsFor(sectionIndex: number): Rel[];
}

export interface ParseElfOptions {
  /** Accept any e_machine (e.g. reading the .BTF of an x86_64 vmlinux). Default false. */
  anyMachine?: boolean;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Reads a NUL-terminated string at `off` of a string table, bounds-checked. */
function cString(what: string, table: Uint8Array, tableOffset: number, off: number): string {
  if (off >= table.length) {
    if (off === 0 && table.length === 0) return "";
    throw new FormatError(
      what,
      tableOffset,
      `string offset ${off} past string table of ${table.length} bytes`,
    );
  }
  const end = table.indexOf(0, off);
  if (end < 0) {
    throw new FormatError(what, tableOffset + off, "string not NUL-terminated in its table");
  }
  return decoder.decode(table.subarray(off, end));
}

function u64(view: DataView, what: string, at: number, field: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError(what, at, `${field} ${v} too large`);
  }
  return Number(v);
}

export function parseElf(
  bytes: Uint8Array,
  what = "ELF",
  options: ParseElfOptions = {},
): ElfFile {
  if (bytes.length < EHDR_SIZE) {
    throw new FormatError(what, 0, `file of ${bytes.length} bytes is shorter than an ELF64 header`);
  }
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new FormatError(what, 0, "not an ELF file (bad magic)");
  }
  if (bytes[4] !== ELFCLASS64) {
    throw new FormatError(what, 4, `not ELF64 (EI_CLASS ${bytes[4]})`);
  }
  if (bytes[5] === ELFDATA2MSB) {
    throw new FormatError(
      what,
      5,
      "big-endian ELF is not supported (BPF objects here are little-endian)",
    );
  }
  if (bytes[5] !== ELFDATA2LSB) {
    throw new FormatError(what, 5, `bad EI_DATA ${bytes[5]}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  if (machine !== EM_BPF && !options.anyMachine) {
    throw new FormatError(
      what,
      18,
      `not a BPF object: e_machine ${machine}, expected EM_BPF (247)`,
    );
  }
  const shoff = u64(view, what, 0x28, "e_shoff");
  const shentsize = view.getUint16(0x3a, true);
  let shnum = view.getUint16(0x3c, true);
  let shstrndx = view.getUint16(0x3e, true);
  if (shoff === 0) {
    return makeFile(machine, type, [], [], []);
  }
  if (shentsize !== SHDR_SIZE) {
    throw new FormatError(what, 0x3a, `e_shentsize ${shentsize}, expected ${SHDR_SIZE}`);
  }
  if (shoff + SHDR_SIZE > bytes.length) {
    throw new FormatError(
      what,
      0x28,
      `section headers at ${shoff} past end of file (${bytes.length})`,
    );
  }
  // Extended numbering: section 0 holds the real count and string table index.
  if (shnum === 0) shnum = u64(view, what, shoff + 32, "sh_size of section 0 (section count)");
  if (shstrndx === SHN_XINDEX) shstrndx = view.getUint32(shoff + 44, true);
  if (shoff + shnum * SHDR_SIZE > bytes.length) {
    throw new FormatError(
      what,
      shoff,
      `${shnum} section headers overrun the file (${bytes.length} bytes)`,
    );
  }

  const raw: Section[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * SHDR_SIZE;
    const secType = view.getUint32(h + 4, true);
    const offset = u64(view, what, h + 24, "sh_offset");
    const size = u64(view, what, h + 32, "sh_size");
    let data: Uint8Array = new Uint8Array(0);
    if (secType !== SHT_NOBITS && i !== 0) {
      if (offset > bytes.length || size > bytes.length - offset) {
        throw new FormatError(
          what,
          h,
          `section ${i} data [${offset}, +${size}) past end of file (${bytes.length})`,
        );
      }
      data = bytes.subarray(offset, offset + size);
    }
    nameOffsets.push(view.getUint32(h, true));
    raw.push({
      index: i,
      name: "",
      type: secType,
      flags: view.getBigUint64(h + 8, true),
      addr: view.getBigUint64(h + 16, true),
      offset,
      size,
      link: view.getUint32(h + 40, true),
      info: view.getUint32(h + 44, true),
      addralign: u64(view, what, h + 48, "sh_addralign"),
      entsize: u64(view, what, h + 56, "sh_entsize"),
      data,
    });
  }
  if (shnum > 0) {
    if (shstrndx >= shnum) {
      throw new FormatError(what, 0x3e, `e_shstrndx ${shstrndx} out of range (${shnum} sections)`);
    }
    const strtab = raw[shstrndx];
    for (const s of raw) {
      s.name = cString(`${what} section names`, strtab.data, strtab.offset, nameOffsets[s.index]);
    }
  }

  const symbols = readSymbols(what, view, raw);
  const rels = raw.filter((s) => s.type === SHT_REL);
  return makeFile(machine, type, raw, symbols, rels, what, view);
}

function readSymbols(what: string, view: DataView, sections: Section[]): Sym[] {
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (!symtab) return [];
  if (symtab.link >= sections.length) {
    throw new FormatError(
      what,
      symtab.offset,
      `symbol table's string table index ${symtab.link} out of range`,
    );
  }
  const strtab = sections[symtab.link];
  const count = Math.floor(symtab.size / SYM_SIZE);
  const symbols: Sym[] = [];
  for (let i = 0; i < count; i++) {
    const at = symtab.offset + i * SYM_SIZE;
    const info = view.getUint8(at + 4);
    symbols.push({
      index: i,
      name: cString(
        `${what} symbol ${i} name`,
        strtab.data,
        strtab.offset,
        view.getUint32(at, true),
      ),
      type: info & 0xf,
      bind: info >> 4,
      visibility: view.getUint8(at + 5) & 0x3,
      shndx: view.getUint16(at + 6, true),
      value: u64(view, what, at + 8, "st_value"),
      size: u64(view, what, at + 16, "st_size"),
    });
  }
  return symbols;
}

function makeFile(
  machine: number,
  type: number,
  sections: Section[],
  symbols: Sym[],
  relSections: Section[],
  what = "ELF",
  view?: DataView,
): ElfFile {
  const byName = new Map<string, Section>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);
  const relCache = new Map<number, Rel[]>();
  return {
    machine,
    type,
    sections,
    symbols,
    sectionByName: (name) => byName.get(name),
    relocationsFor(sectionIndex) {
      const cached = relCache.get(sectionIndex);
      if (cached) return cached;
      const out: Rel[] = [];
      for (const rs of relSections) {
        if (rs.info !== sectionIndex || !view) continue;
        const count = Math.floor(rs.size / REL_SIZE);
        for (let i = 0; i < count; i++) {
          const at = rs.offset + i * REL_SIZE;
          const offset = u64(view, what, at, "r_offset");
          const symbolIndex = view.getUint32(at + 12, true);
          const relType = view.getUint32(at + 8, true);
          if (symbolIndex >= symbols.length) {
            throw new FormatError(
              `${what} ${rs.name}`,
              at,
              `relocation ${i} names symbol ${symbolIndex}, only ${symbols.length} symbols`,
            );
          }
          const target = sections[sectionIndex];
          if (target && target.type !== SHT_NOBITS && offset >= target.size) {
            throw new FormatError(
              `${what} ${rs.name}`,
              at,
              `relocation ${i} offset ${offset} past section ${target.name} (${target.size} bytes)`,
            );
          }
          out.push({ offset, symbolIndex, type: relType });
        }
      }
      relCache.set(sectionIndex, out);
      return out;
    },
  };
}
