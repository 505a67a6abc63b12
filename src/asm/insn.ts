// One 8-byte BPF instruction, and reading/writing instruction arrays in place.
//
// Layout (little-endian): u8 code; u8 dst_reg:4 (low), src_reg:4 (high); s16 off; s32 imm.
// An ld_imm64 takes two slots: the second slot's imm holds the upper 32 bits.

import * as op from "./opcodes.ts";

export const INSN_SIZE = 8;

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** Mutable view over an instruction buffer. Indices are instruction slots, not bytes. */
export class InsnBuffer {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;

  constructor(bytes: Uint8Array) {
    if (bytes.length % INSN_SIZE !== 0) {
      throw new RangeError(`instruction buffer of ${bytes.length} bytes is not a multiple of 8`);
    }
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get count(): number {
    return this.bytes.length / INSN_SIZE;
  }

  private check(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new RangeError(`instruction index ${i} outside 0..${this.count - 1}`);
    }
    return i * INSN_SIZE;
  }

  get(i: number): Insn {
    const b = this.check(i);
    const regs = this.dv.getUint8(b + 1);
    return {
      code: this.dv.getUint8(b),
      dst: regs & 0x0f,
      src: regs >> 4,
      off: this.dv.getInt16(b + 2, true),
      imm: this.dv.getInt32(b + 4, true),
    };
  }

  set(i: number, insn: Insn): void {
    const b = this.check(i);
    this.dv.setUint8(b, insn.code);
    this.dv.setUint8(b + 1, (insn.dst & 0x0f) | ((insn.src & 0x0f) << 4));
    this.dv.setInt16(b + 2, insn.off, true);
    this.dv.setInt32(b + 4, insn.imm, true);
  }

  code(i: number): number {
    return this.dv.getUint8(this.check(i));
  }
  setCode(i: number, code: number): void {
    this.dv.setUint8(this.check(i), code);
  }
  src(i: number): number {
    return this.dv.getUint8(this.check(i) + 1) >> 4;
  }
  setSrc(i: number, src: number): void {
    const b = this.check(i) + 1;
    this.dv.setUint8(b, (this.dv.getUint8(b) & 0x0f) | ((src & 0x0f) << 4));
  }
  setDst(i: number, dst: number): void {
    const b = this.check(i) + 1;
    this.dv.setUint8(b, (this.dv.getUint8(b) & 0xf0) | (dst & 0x0f));
  }
  off(i: number): number {
    return this.dv.getInt16(this.check(i) + 2, true);
  }
  setOff(i: number, off: number): void {
    this.dv.setInt16(this.check(i) + 2, off, true);
  }
  imm(i: number): number {
    return this.dv.getInt32(this.check(i) + 4, true);
  }
  setImm(i: number, imm: number): void {
    this.dv.setInt32(this.check(i) + 4, imm | 0, true);
  }

  /** The 64-bit immediate of an ld_imm64 at slot i (needs slot i+1). */
  imm64(i: number): bigint {
    const lo = BigInt(this.imm(i) >>> 0);
    const hi = BigInt(this.imm(i + 1) >>> 0);
    return (hi << 32n) | lo;
  }
  setImm64(i: number, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.setImm(i, Number(u & 0xffffffffn));
    this.setImm(i + 1, Number(u >> 32n));
  }

  isLdImm64(i: number): boolean {
    return op.isLdImm64(this.code(i));
  }
}

/** Encodes instructions into bytes. ld_imm64 must be given as its two slots. */
export function encode(insns: Insn[]): Uint8Array {
  const buf = new InsnBuffer(new Uint8Array(insns.length * INSN_SIZE));
  insns.forEach((insn, i) => buf.set(i, insn));
  return buf.bytes;
}

// Small builders for hand-written programs (feature probes, tests).
const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({
  code,
  dst,
  src,
  off,
  imm,
});

export const asm = {
  mov64Imm: (dst: number, imm: number): Insn =>
    I(op.BPF_ALU64 | op.BPF_MOV | op.BPF_K, dst, 0, 0, imm),
  mov64Reg: (dst: number, src: number): Insn => I(op.BPF_ALU64 | op.BPF_MOV | op.BPF_X, dst, src),
  alu64Imm: (aluOp: number, dst: number, imm: number): Insn =>
    I(op.BPF_ALU64 | aluOp | op.BPF_K, dst, 0, 0, imm),
  ldxMem: (sizeField: number, dst: number, src: number, off: number): Insn =>
    I(op.BPF_LDX | op.BPF_MEM | sizeField, dst, src, off),
  stxMem: (sizeField: number, dst: number, src: number, off: number): Insn =>
    I(op.BPF_STX | op.BPF_MEM | sizeField, dst, src, off),
  stMem: (sizeField: number, dst: number, off: number, imm: number): Insn =>
    I(op.BPF_ST | op.BPF_MEM | sizeField, dst, 0, off, imm),
  /** ld_imm64 as two slots; `srcReg` is a BPF_PSEUDO_* kind (e.g. map fd). */
  ldImm64: (dst: number, value: bigint, srcReg = 0): [Insn, Insn] => {
    const u = BigInt.asUintN(64, value);
    return [
      I(op.BPF_LD | op.BPF_IMM | op.BPF_DW, dst, srcReg, 0, Number(u & 0xffffffffn) | 0),
      I(0, 0, 0, 0, Number(u >> 32n) | 0),
    ];
  },
  call: (helper: number): Insn => I(op.BPF_JMP | op.BPF_CALL, 0, 0, 0, helper),
  jmpImm: (jmpOp: number, dst: number, imm: number, off: number): Insn =>
    I(op.BPF_JMP | jmpOp | op.BPF_K, dst, 0, off, imm),
  ja: (off: number): Insn => I(op.BPF_JMP | op.BPF_JA, 0, 0, off),
  exit: (): Insn => I(op.BPF_JMP | op.BPF_EXIT),
};
