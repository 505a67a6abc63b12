// loadObjectSpec: a BPF ELF object's bytes -> ObjectSpec (programs with their instructions,
// ELF relocations, func/line info; .text subprograms; maps; BTF and .BTF.ext). Pure.

import { parseElf, type Rel, type Section, type Sym } from "../elf/reader.ts";
import { SHF_EXECINSTR, SHN_UNDEF, SHT_PROGBITS, STT_FUNC, STT_SECTION } from "../elf/constants.ts";
import { Btf } from "../btf/reader.ts";
import { type BtfExt, type FuncInfoRecord, type LineInfoRecord, parseBtfExt } from "../btf/ext.ts";
import { FormatError } from "../errors.ts";
import * as op from "../asm/opcodes.ts";
import { INSN_SIZE, InsnBuffer } from "../asm/insn.ts";
import { sectionDef } from "./sections.ts";
import { collectMaps, kconfigMap } from "./maps.ts";
import { collectExterns } from "./externs.ts";
import type { ObjectSpec, ProgramRelocation, ProgramSpec, RelocationKind } from "./types.ts";

const decoder = new TextDecoder();

function isExec(s: Section): boolean {
  return s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0n && s.size > 0;
}

function relocationKind(
  elfSections: Section[],
  sym: Sym,
  buf: InsnBuffer,
  i: number,
): RelocationKind {
  // An undefined symbol is an extern, also on a call (a kfunc: clang emits a pseudo call).
  if (sym.shndx === SHN_UNDEF) return "extern";
  const code = buf.code(i);
  if (code === (op.BPF_JMP | op.BPF_CALL) && buf.src(i) === op.BPF_PSEUDO_CALL) return "call";
  const target = elfSections[sym.shndx];
  if (target && isExec(target)) return "func_ptr";
  if (target && (target.name === ".maps" || target.name === "maps")) return "map";
  return "data";
}

function functionsIn(syms: Sym[], s: Section): Sym[] {
  return syms
    .filter((y) => y.shndx === s.index && y.type === STT_FUNC)
    .sort((a, b) => a.value - b.value);
}

/** func_info of the function at bytes [start, end) of its section, in its own instructions. */
export function functionFuncInfo(
  section: readonly FuncInfoRecord[],
  start: number,
  end: number,
): ProgramSpec["funcInfo"] {
  return section.filter((r) => r.insnOff >= start && r.insnOff < end)
    .map((r) => ({ insnOff: (r.insnOff - start) / INSN_SIZE, typeId: r.typeId }));
}

/** line_info of the function at bytes [start, end) of its section, in its own instructions. */
export function functionLineInfo(
  section: readonly LineInfoRecord[],
  start: number,
  end: number,
): LineInfoRecord[] {
  return section.filter((r) => r.insnOff >= start && r.insnOff < end)
    .map((r) => ({ ...r, insnOff: (r.insnOff - start) / INSN_SIZE }));
}

export function loadObjectSpec(bytes: Uint8Array, name: string): ObjectSpec {
  const what = `BPF object ${name}`;
  const elf = parseElf(bytes, what);
  const btfSection = elf.sectionByName(".BTF");
  if (!btfSection) throw new FormatError(what, 0, "no .BTF section (compile with -g)");
  const btf = Btf.parse(btfSection.data, { what: `${name} .BTF` });
  const extSection = elf.sectionByName(".BTF.ext");
  const ext: BtfExt | null = extSection
    ? parseBtfExt(extSection.data, btf, `${name} .BTF.ext`)
    : null;

  const licenseSection = elf.sectionByName("license");
  const license = licenseSection
    ? decoder.decode(licenseSection.data).replace(/\0[\s\S]*$/, "")
    : "";
  const versionSection = elf.sectionByName("version");
  const kernelVersion = versionSection && versionSection.data.length >= 4
    ? new DataView(versionSection.data.buffer, versionSection.data.byteOffset, 4).getUint32(0, true)
    : 0;

  const programs: ProgramSpec[] = [];
  const subprograms: ProgramSpec[] = [];
  for (const s of elf.sections) {
    if (!isExec(s)) continue;
    if (s.size % INSN_SIZE !== 0) {
      throw new FormatError(
        what,
        s.offset,
        `section ${s.name} size ${s.size} is not a multiple of 8`,
      );
    }
    const isText = s.name === ".text";
    const def = sectionDef(s.name);
    const funcs = functionsIn(elf.symbols, s);
    if (funcs.length === 0) {
      throw new FormatError(what, s.offset, `section ${s.name} has code but no function symbol`);
    }
    // Each relocation goes to the function holding it (functions are sorted by address).
    const relsOf: Rel[][] = funcs.map(() => []);
    for (const r of elf.relocationsFor(s.index)) {
      let lo = 0;
      let hi = funcs.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (funcs[mid].value <= r.offset) lo = mid;
        else hi = mid - 1;
      }
      relsOf[lo].push(r);
    }
    const sectionFuncInfo = ext?.funcInfo.get(s.name) ?? [];
    const sectionLineInfo = ext?.lineInfo.get(s.name) ?? [];
    for (let f = 0; f < funcs.length; f++) {
      const sym = funcs[f];
      const end = sym.size > 0 ? sym.value + sym.size : (funcs[f + 1]?.value ?? s.size);
      if (
        sym.value % INSN_SIZE !== 0 || end % INSN_SIZE !== 0 || end > s.size || end <= sym.value
      ) {
        throw new FormatError(
          what,
          s.offset + sym.value,
          `function ${sym.name} (${sym.value}..${end}) does not fit section ${s.name} of ${s.size} bytes`,
        );
      }
      const insns = s.data.slice(sym.value, end);
      const buf = new InsnBuffer(insns);
      const relocations: ProgramRelocation[] = [];
      for (const r of relsOf[f]) {
        if (r.offset < sym.value || r.offset >= end) continue;
        if ((r.offset - sym.value) % INSN_SIZE !== 0) {
          throw new FormatError(
            what,
            r.offset,
            `relocation in ${s.name} not on an instruction boundary`,
          );
        }
        const y = elf.symbols[r.symbolIndex];
        if (!y) {
          throw new FormatError(
            what,
            r.offset,
            `relocation in ${s.name} names symbol ${r.symbolIndex}`,
          );
        }
        const insn = (r.offset - sym.value) / INSN_SIZE;
        const kind = relocationKind(elf.sections, y, buf, insn);
        const imm = buf.imm(insn);
        let addend = 0;
        if (kind === "data") addend = imm + y.value;
        else if (kind === "call") addend = y.value / INSN_SIZE + imm + 1;
        else if (kind === "func_ptr") addend = Math.floor((y.value + imm) / INSN_SIZE);
        const target = elf.sections[y.shndx];
        relocations.push({
          insn,
          kind,
          symbol: y.type === STT_SECTION && target ? target.name : y.name,
          symbolValue: y.value,
          symbolType: y.type,
          section: y.shndx === SHN_UNDEF ? "" : target?.name ?? "",
          sectionIndex: y.shndx,
          addend,
        });
      }
      // func_info and line_info are made when first read: a load reads only the functions it
      // reaches (a tracer's object holds the programs of all its strategies).
      let funcInfo: ProgramSpec["funcInfo"] | undefined;
      let lineInfo: ProgramSpec["lineInfo"] | undefined;
      const spec: ProgramSpec = {
        name: sym.name,
        section: s.name,
        sectionIndex: s.index,
        offset: sym.value,
        sectionSize: s.size,
        insns,
        attach: def.attach,
        progType: def.progType,
        expectedAttachType: def.expectedAttachType,
        sleepable: def.sleepable,
        autoload: def.autoload,
        isSubprogram: isText,
        relocations,
        get funcInfo() {
          return funcInfo ??= functionFuncInfo(sectionFuncInfo, sym.value, end);
        },
        get lineInfo() {
          return lineInfo ??= functionLineInfo(sectionLineInfo, sym.value, end);
        },
      };
      (isText ? subprograms : programs).push(spec);
    }
  }

  const maps = collectMaps(what, name, elf, btf);
  const { externs, kconfigSize } = collectExterns(what, elf, btf);
  if (kconfigSize > 0) maps.push(kconfigMap(name, kconfigSize));
  return { name, license, kernelVersion, btf, ext, elf, programs, subprograms, maps, externs };
}

/** The function (entry program or subprogram) holding a section-relative byte offset. */
export function functionAt(
  spec: ObjectSpec,
  section: string,
  byteOffset: number,
): ProgramSpec | undefined {
  for (const p of spec.programs.concat(spec.subprograms)) {
    if (p.section === section && byteOffset >= p.offset && byteOffset < p.offset + p.insns.length) {
      return p;
    }
  }
  return undefined;
}
