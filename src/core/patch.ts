// Applying a relocation's result to its instruction (libbpf's bpf_core_patch_insn):
// ALU/ALU64 immediates, LDX/ST/STX offsets (with the memory-size adjustment rules) and
// ld_imm64, each checked against the value the compiler put there; or poisoning
// (call 0xbad2310) when the relocation could not be resolved. Pure.

import { InsnBuffer } from "../asm/insn.ts";
import * as op from "../asm/opcodes.ts";
import { CoreStepError } from "./errors.ts";
import type { RelocationValues } from "./calc.ts";

/** The helper id of a poisoned instruction: "invalid func unknown#195896080". */
export const POISON_HELPER_ID = 0xbad2310;

export interface PatchOutcome {
  /** The value found in the instruction before patching (u64, as libbpf prints it). */
  old: bigint;
  poisoned: boolean;
  /** New load/store size when it was changed. */
  memSize?: { old: number; new: number };
  /** Why a poisoning was chosen at patch time (memory size could not be adjusted). */
  note?: string;
}

function poisonOne(buf: InsnBuffer, i: number): void {
  buf.set(i, { code: op.BPF_JMP | op.BPF_CALL, dst: 0, src: 0, off: 0, imm: POISON_HELPER_ID });
}

/** Poisons instruction i (and the second half of an ld_imm64). */
export function poisonInsn(buf: InsnBuffer, i: number): void {
  if (buf.isLdImm64(i) && i + 1 < buf.count) poisonOne(buf, i + 1);
  poisonOne(buf, i);
}

const u64 = (n: number): bigint => BigInt.asUintN(64, BigInt(n));

export function patchInsn(buf: InsnBuffer, i: number, res: RelocationValues): PatchOutcome {
  if (i < 0 || i >= buf.count) throw new CoreStepError(`instruction #${i} outside the program`);
  const insn = buf.get(i);
  const cls = op.cls(insn.code);
  if (res.poison) {
    const old = cls === op.BPF_LD && buf.isLdImm64(i) && i + 1 < buf.count
      ? buf.imm64(i)
      : u64(cls === op.BPF_LDX || cls === op.BPF_ST || cls === op.BPF_STX ? insn.off : insn.imm);
    poisonInsn(buf, i);
    return { old, poisoned: true };
  }
  switch (cls) {
    case op.BPF_ALU:
    case op.BPF_ALU64: {
      if (op.src(insn.code) !== op.BPF_K) {
        throw new CoreStepError(`insn #${i} (ALU/ALU64) has a register operand, not an immediate`);
      }
      const old = u64(insn.imm);
      if (res.validate && old !== res.orig) {
        throw new CoreStepError(
          `unexpected insn #${i} (ALU/ALU64) value: got ${insn.imm}, exp ${res.orig} -> ${res.new}`,
        );
      }
      buf.setImm(i, Number(BigInt.asIntN(32, res.new)));
      return { old, poisoned: false };
    }
    case op.BPF_LDX:
    case op.BPF_ST:
    case op.BPF_STX: {
      const old = u64(insn.off);
      if (res.validate && old !== res.orig) {
        throw new CoreStepError(
          `unexpected insn #${i} (LDX/ST/STX) value: got ${insn.off}, exp ${res.orig} -> ${res.new}`,
        );
      }
      if (res.new > 0x7fffn) {
        throw new CoreStepError(`insn #${i} (LDX/ST/STX) value too big: ${res.new} (ERANGE)`);
      }
      if (res.failMemSizeAdjust) {
        poisonInsn(buf, i);
        return {
          old,
          poisoned: true,
          note: "accesses field incorrectly: the field's size changed and it is not a pointer " +
            "or an unsigned integer",
        };
      }
      buf.setOff(i, Number(res.new));
      const out: PatchOutcome = { old, poisoned: false };
      if (res.newSize !== res.origSize) {
        const bytes = op.sizeBytes(op.size(insn.code));
        if (bytes !== res.origSize) {
          throw new CoreStepError(
            `insn #${i} (LDX/ST/STX) unexpected mem size: got ${bytes}, exp ${res.origSize}`,
          );
        }
        const field = op.sizeField(res.newSize);
        if (field < 0) {
          throw new CoreStepError(`insn #${i} (LDX/ST/STX) invalid new mem size: ${res.newSize}`);
        }
        buf.setCode(i, op.mode(insn.code) | field | op.cls(insn.code));
        out.memSize = { old: res.origSize, new: res.newSize };
      }
      return out;
    }
    case op.BPF_LD: {
      if (!buf.isLdImm64(i) || i + 1 >= buf.count) {
        throw new CoreStepError(`insn #${i} (LDIMM64) has unexpected form`);
      }
      const second = buf.get(i + 1);
      if (
        insn.src !== 0 || insn.off !== 0 || second.code !== 0 || second.dst !== 0 ||
        second.src !== 0 || second.off !== 0
      ) {
        throw new CoreStepError(`insn #${i} (LDIMM64) has unexpected form`);
      }
      const old = buf.imm64(i);
      if (res.validate && old !== res.orig) {
        throw new CoreStepError(
          `unexpected insn #${i} (LDIMM64) value: got ${old}, exp ${res.orig} -> ${res.new}`,
        );
      }
      buf.setImm64(i, res.new);
      return { old, poisoned: false };
    }
    default:
      throw new CoreStepError(
        `trying to relocate unrecognized insn #${i}, code:0x${insn.code.toString(16)}, ` +
          `src:0x${insn.src.toString(16)}, dst:0x${insn.dst.toString(16)}, off:0x${
            (insn.off & 0xffff).toString(16)
          }, imm:0x${(insn.imm >>> 0).toString(16)}`,
      );
  }
}
