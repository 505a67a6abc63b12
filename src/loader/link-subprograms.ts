// BPF-to-BPF calls: builds one program's final instruction stream by appending the
// subprograms it calls (transitively, each once), fixing each call's relative offset and
// each function pointer (ld_imm64 BPF_PSEUDO_FUNC), and carrying func_info / line_info
// along, as libbpf's bpf_object__reloc_code does. Pure: works on function copies whose map
// and CO-RE relocations are already applied.

import { TracerError } from "../errors.ts";
import { InsnBuffer } from "../asm/insn.ts";
import * as op from "../asm/opcodes.ts";
import type { ProgramSpec } from "../object/types.ts";

export class LinkError extends TracerError {}

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
  /** The functions placed, in order, with their first instruction in the final stream. */
  layout: { name: string; start: number }[];
}

const CALL = op.BPF_JMP | op.BPF_CALL;

/**
 * Calls `onCall(i, callee)` for each BPF-to-BPF call and function pointer of `f` (instruction
 * `i`), the callee found in `pool`. Reads the instruction bytes directly: it runs at every
 * start, cold, over every instruction of the functions a load reaches.
 */
function forEachCall(
  entry: ProgramSpec,
  f: ProgramSpec,
  pool: readonly ProgramSpec[],
  onCall: (i: number, callee: ProgramSpec) => void,
): void {
  const where = (i: number) => `program ${entry.name}, function ${f.name}, instruction ${i}`;
  const findFn = (sectionIndex: number, insn: number, i: number): ProgramSpec => {
    const g = pool.find((g) => g.sectionIndex === sectionIndex && g.offset / 8 === insn);
    if (!g) {
      throw new LinkError(
        `${where(i)}: target is instruction ${insn} of section ${sectionIndex}, ` +
          "which starts no function",
      );
    }
    return g;
  };
  const rels = new Map(f.relocations.map((r) => [r.insn, r]));
  const b = f.insns;
  const count = b.length / 8;
  for (let i = 0; i < count; i++) {
    const code = b[i * 8];
    const rel = rels.size ? rels.get(i) : undefined;
    if (rel?.kind === "extern") {
      // A kfunc call (or a ksym's address): relocate-maps.ts patches it, nothing to place.
    } else if (code === CALL && b[i * 8 + 1] >> 4 === op.BPF_PSEUDO_CALL) {
      const imm = b[i * 8 + 4] | b[i * 8 + 5] << 8 | b[i * 8 + 6] << 16 | b[i * 8 + 7] << 24;
      onCall(
        i,
        rel
          ? findFn(rel.sectionIndex, rel.addend, i)
          // A call within the same section carries no relocation: imm is relative.
          : findFn(f.sectionIndex, f.offset / 8 + i + imm + 1, i),
      );
    } else if (rel?.kind === "func_ptr") {
      onCall(i, findFn(rel.sectionIndex, rel.addend, i));
    } else if (rel?.kind === "call") {
      throw new LinkError(`${where(i)}: call relocation on a non-call instruction`);
    }
    if (op.isLdImm64(code)) i++;
  }
}

/** The functions of `pool` that `entries` reach (themselves included), in no set order. */
export function reachedFunctions(
  entries: readonly ProgramSpec[],
  pool: readonly ProgramSpec[],
): Set<ProgramSpec> {
  const reached = new Set<ProgramSpec>();
  for (const entry of entries) {
    const todo = [entry];
    reached.add(entry);
    while (todo.length) {
      forEachCall(entry, todo.pop()!, pool, (_, callee) => {
        if (!reached.has(callee)) {
          reached.add(callee);
          todo.push(callee);
        }
      });
    }
  }
  return reached;
}

/**
 * Links the entry function `entry`: its own instructions first, then each function it
 * reaches (from `pool`: entry programs and .text subprograms, already relocated copies).
 */
export function linkProgram(entry: ProgramSpec, pool: ProgramSpec[]): LinkedProgram {
  const placed = new Map<ProgramSpec, number>();
  const order: ProgramSpec[] = [];
  let total = 0;
  const place = (f: ProgramSpec): number => {
    let at = placed.get(f);
    if (at === undefined) {
      at = total;
      placed.set(f, at);
      order.push(f);
      total += f.insns.length / 8;
    }
    return at;
  };

  place(entry);
  const fixups: { f: ProgramSpec; i: number; callee: ProgramSpec }[] = [];
  for (let k = 0; k < order.length; k++) {
    const f = order[k];
    forEachCall(entry, f, pool, (i, callee) => {
      place(callee);
      fixups.push({ f, i, callee });
    });
  }

  const out = new InsnBuffer(new Uint8Array(total * 8));
  for (const f of order) out.bytes.set(f.insns, placed.get(f)! * 8);
  for (const { f, i, callee } of fixups) {
    const at = placed.get(f)! + i;
    if (out.isLdImm64(at)) {
      out.setSrc(at, op.BPF_PSEUDO_FUNC);
      out.setImm(at + 1, 0);
    }
    out.setImm(at, placed.get(callee)! - at - 1);
  }

  const funcInfo: KernelFuncInfo[] = [];
  const lineInfo: KernelLineInfo[] = [];
  for (const f of order) {
    const base = placed.get(f)!;
    for (const r of f.funcInfo) funcInfo.push({ insnOff: base + r.insnOff, typeId: r.typeId });
    for (const r of f.lineInfo) {
      lineInfo.push({
        insnOff: base + r.insnOff,
        fileNameOff: r.fileNameOff,
        lineOff: r.lineOff,
        line: r.line,
        col: r.col,
      });
    }
  }
  return {
    insns: out.bytes,
    funcInfo,
    lineInfo,
    layout: order.map((f) => ({ name: f.name, start: placed.get(f)! })),
  };
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
