// BPF-to-BPF calls: builds one program's final instruction stream by appending the
// subprograms it calls (transitively), fixing each call's relative offset, and carrying
// func_info / line_info along, as libbpf's bpf_object__reloc_code does.
// Pure: works on section copies whose map and CO-RE relocations are already applied.

import { TracerError } from "../errors.ts";
import { InsnBuffer } from "../asm/insn.ts";
import * as op from "../asm/opcodes.ts";
import type { ElfFile, Rel } from "../elf/reader.ts";
import { STT_FUNC } from "../elf/constants.ts";
import type { FuncInfoRecord, LineInfoRecord } from "../btf/ext.ts";

export class LinkError extends TracerError {}

/** A code section being prepared: a private copy of its instructions. */
export interface CodeSection {
  index: number;
  name: string;
  insns: InsnBuffer;
  /** Relocations by instruction index. */
  rels: Map<number, Rel>;
  /** func_info / line_info of the section (offsets in bytes, from .BTF.ext). */
  funcInfo: FuncInfoRecord[];
  lineInfo: LineInfoRecord[];
}

/** A function: a symbol's instructions within a code section. */
export interface Func {
  name: string;
  section: CodeSection;
  /** First and one-past-last instruction index within the section. */
  start: number;
  end: number;
}

/** func_info / line_info in the kernel's units (insn_off in instructions). */
export interface KernelFuncInfo {
  insnOff: number;
  typeId: number;
}
export interface KernelLineInfo {
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  line: number;
  col: number;
}

export interface LinkedProgram {
  insns: Uint8Array;
  funcInfo: KernelFuncInfo[];
  lineInfo: KernelLineInfo[];
  /** The functions placed, in order, with their start in the final stream. */
  layout: { name: string; start: number }[];
}

/** The functions of every code section, from the ELF symbol table. */
export function functionsOf(elf: ElfFile, sections: Map<number, CodeSection>): Func[] {
  const funcs: Func[] = [];
  for (const s of elf.symbols) {
    if (s.type !== STT_FUNC) continue;
    const sec = sections.get(s.shndx);
    if (!sec) continue;
    if (s.value % 8 || s.size % 8) {
      throw new LinkError(`function ${s.name} in ${sec.name} is not instruction-aligned`);
    }
    funcs.push({ name: s.name, section: sec, start: s.value / 8, end: (s.value + s.size) / 8 });
  }
  return funcs;
}

const CALL = op.BPF_JMP | op.BPF_CALL;

function isSubprogCall(buf: InsnBuffer, i: number): boolean {
  return buf.code(i) === CALL && buf.src(i) === op.BPF_PSEUDO_CALL;
}

function isFuncAddr(buf: InsnBuffer, i: number): boolean {
  return buf.isLdImm64(i) && buf.src(i) === op.BPF_PSEUDO_FUNC;
}

/**
 * Links the entry function `entry`: its own instructions first, then each subprogram it
 * reaches, once. `elf` resolves relocation symbols; `funcs` are all known functions.
 */
export function linkProgram(entry: Func, funcs: Func[], elf: ElfFile): LinkedProgram {
  const placed = new Map<Func, number>();
  const order: Func[] = [];
  let total = 0;
  const place = (f: Func) => {
    if (!placed.has(f)) {
      placed.set(f, total);
      order.push(f);
      total += f.end - f.start;
    }
    return placed.get(f)!;
  };
  const findFunc = (sectionIndex: number, insn: number, from: string): Func => {
    const f = funcs.find((g) => g.section.index === sectionIndex && g.start === insn);
    if (!f) {
      throw new LinkError(
        `${from}: call to instruction ${insn} of section ${sectionIndex}, which starts no function`,
      );
    }
    return f;
  };

  place(entry);
  // Calls to fix once every callee has its place: [function, insn index in section, callee].
  const fixups: { f: Func; i: number; callee: Func }[] = [];
  for (let k = 0; k < order.length; k++) {
    const f = order[k];
    const buf = f.section.insns;
    for (let i = f.start; i < f.end; i++) {
      const call = isSubprogCall(buf, i);
      const rel = f.section.rels.get(i);
      const funcAddr = isFuncAddr(buf, i) ||
        (rel !== undefined && buf.isLdImm64(i) && isCodeSymbol(elf, rel, funcs));
      if (!call && !funcAddr) {
        if (buf.isLdImm64(i)) i++;
        continue;
      }
      const where = `program ${entry.name}, function ${f.name}, instruction ${i - f.start}`;
      let target: Func;
      if (rel) {
        const sym = elf.symbols[rel.symbolIndex];
        if (!sym) {
          throw new LinkError(`${where}: relocation names missing symbol ${rel.symbolIndex}`);
        }
        // Calls: imm counts instructions after the call; function addresses: imm is in bytes.
        const idx = call ? sym.value / 8 + buf.imm(i) + 1 : (sym.value + buf.imm(i)) / 8;
        target = findFunc(sym.shndx, idx, where);
      } else {
        // A call within the same section needs no relocation: imm is relative.
        target = findFunc(f.section.index, i + buf.imm(i) + 1, where);
      }
      place(target);
      fixups.push({ f, i, callee: target });
      if (funcAddr) {
        buf.setSrc(i, op.BPF_PSEUDO_FUNC);
        i++;
      }
    }
  }

  const out = new InsnBuffer(new Uint8Array(total * 8));
  for (const f of order) {
    const src = f.section.insns.bytes.subarray(f.start * 8, f.end * 8);
    out.bytes.set(src, placed.get(f)! * 8);
  }
  for (const { f, i, callee } of fixups) {
    const at = placed.get(f)! + (i - f.start);
    out.setImm(at, placed.get(callee)! - at - 1);
    if (out.isLdImm64(at)) out.setImm(at + 1, 0);
  }

  const funcInfo: KernelFuncInfo[] = [];
  const lineInfo: KernelLineInfo[] = [];
  for (const f of order) {
    const base = placed.get(f)!;
    for (const r of f.section.funcInfo) {
      const idx = r.insnOff / 8;
      if (idx >= f.start && idx < f.end) {
        funcInfo.push({ insnOff: base + idx - f.start, typeId: r.typeId });
      }
    }
    for (const r of f.section.lineInfo) {
      const idx = r.insnOff / 8;
      if (idx >= f.start && idx < f.end) {
        lineInfo.push({ ...r, insnOff: base + idx - f.start });
      }
    }
  }
  return {
    insns: out.bytes,
    funcInfo,
    lineInfo,
    layout: order.map((f) => ({ name: f.name, start: placed.get(f)! })),
  };
}

function isCodeSymbol(elf: ElfFile, rel: Rel, funcs: Func[]): boolean {
  const sym = elf.symbols[rel.symbolIndex];
  return sym !== undefined && funcs.some((f) => f.section.index === sym.shndx);
}

/** func_info records as the kernel reads them (bpf_func_info: u32 insn_off, u32 type_id). */
export function encodeFuncInfo(recs: KernelFuncInfo[]): { recSize: number; bytes: Uint8Array } {
  const bytes = new Uint8Array(recs.length * 8);
  const dv = new DataView(bytes.buffer);
  recs.forEach((r, i) => {
    dv.setUint32(i * 8, r.insnOff, true);
    dv.setUint32(i * 8 + 4, r.typeId, true);
  });
  return { recSize: 8, bytes };
}

/** bpf_line_info: u32 insn_off, file_name_off, line_off, line_col (line << 10 | col). */
export function encodeLineInfo(recs: KernelLineInfo[]): { recSize: number; bytes: Uint8Array } {
  const bytes = new Uint8Array(recs.length * 16);
  const dv = new DataView(bytes.buffer);
  recs.forEach((r, i) => {
    dv.setUint32(i * 16, r.insnOff, true);
    dv.setUint32(i * 16 + 4, r.fileNameOff, true);
    dv.setUint32(i * 16 + 8, r.lineOff, true);
    dv.setUint32(i * 16 + 12, ((r.line << 10) | (r.col & 0x3ff)) >>> 0, true);
  });
  return { recSize: 16, bytes };
}
