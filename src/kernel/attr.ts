// bpf_attr / perf_event_attr / bpf_*_info layouts, each written once. Pure: pointers come from
// the caller's `addressOf`, and each builder returns the buffers it points at so they stay alive.

import { BPF_OBJ_NAME_LEN } from "./constants.ts";

/** Resolves a typed array to its address (Platform.addressOf). */
export type AddressOf = (buf: Uint8Array) => bigint;

/**
 * Buffers an attr points at, keyed by the attr's bytes: while the bytes are alive (they are the
 * system call's argument), so are the buffers whose addresses they hold, even when nothing else
 * refers to them (a license or tracepoint name string made just for the call).
 */
const POINTED_AT = new WeakMap<Uint8Array, Uint8Array[]>();

/** A little-endian struct being filled in; keeps every buffer it points at reachable. */
export class Struct {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  /** Buffers whose addresses were written into this struct. */
  readonly pins: Uint8Array[] = [];

  constructor(size: number, private readonly addressOf?: AddressOf) {
    this.bytes = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
    POINTED_AT.set(this.bytes, this.pins);
  }

  u32(off: number, v: number): this {
    this.dv.setUint32(off, v >>> 0, true);
    return this;
  }
  s32(off: number, v: number): this {
    this.dv.setInt32(off, v | 0, true);
    return this;
  }
  u64(off: number, v: bigint | number): this {
    this.dv.setBigUint64(off, BigInt.asUintN(64, BigInt(v)), true);
    return this;
  }
  /** Writes the address of `buf` (or 0 for null) as a u64. */
  ptr(off: number, buf: Uint8Array | null | undefined): this {
    if (!buf || buf.byteLength === 0) return this.u64(off, 0n);
    if (!this.addressOf) throw new Error("Struct.ptr needs addressOf");
    this.pins.push(buf);
    return this.u64(off, this.addressOf(buf));
  }
  /** Writes a NUL-padded name of at most `len - 1` bytes. */
  name(off: number, name: string, len = BPF_OBJ_NAME_LEN): this {
    const b = new TextEncoder().encode(name).subarray(0, len - 1);
    this.bytes.set(b, off);
    return this;
  }
  getU32(off: number): number {
    return this.dv.getUint32(off, true);
  }
  getU64(off: number): bigint {
    return this.dv.getBigUint64(off, true);
  }
}

/** A NUL-terminated C string. */
export function cString(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** Kernel object names allow [A-Za-z0-9_.] only; other bytes are dropped, length capped at 15. */
export function objName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, "").slice(0, BPF_OBJ_NAME_LEN - 1);
}

// ---- BPF_MAP_CREATE ----
export interface MapCreateAttr {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  name?: string;
  innerMapFd?: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  mapExtra?: bigint;
}
export const MAP_CREATE_SIZE = 72;
export function mapCreateAttr(a: MapCreateAttr): Struct {
  const s = new Struct(MAP_CREATE_SIZE)
    .u32(0, a.type)
    .u32(4, a.keySize)
    .u32(8, a.valueSize)
    .u32(12, a.maxEntries)
    .u32(16, a.flags ?? 0)
    .u32(20, a.innerMapFd ?? 0);
  if (a.name) s.name(28, objName(a.name));
  if (a.btfFd !== undefined && a.btfFd > 0) {
    s.u32(48, a.btfFd).u32(52, a.btfKeyTypeId ?? 0).u32(56, a.btfValueTypeId ?? 0);
  }
  return s.u64(64, a.mapExtra ?? 0n);
}

// ---- BPF_MAP_*_ELEM ----
export const MAP_ELEM_SIZE = 32;
export function mapElemAttr(
  addressOf: AddressOf,
  fd: number,
  key: Uint8Array | null,
  valueOrNextKey: Uint8Array | null,
  flags = 0,
): Struct {
  return new Struct(MAP_ELEM_SIZE, addressOf)
    .u32(0, fd)
    .ptr(8, key)
    .ptr(16, valueOrNextKey)
    .u64(24, flags);
}

// ---- BPF_PROG_LOAD ----
export interface ProgLoadAttr {
  type: number;
  insns: Uint8Array;
  license: string;
  logLevel?: number;
  log?: Uint8Array;
  kernVersion?: number;
  progFlags?: number;
  name?: string;
  expectedAttachType?: number;
  progBtfFd?: number;
  funcInfo?: { recSize: number; bytes: Uint8Array };
  lineInfo?: { recSize: number; bytes: Uint8Array };
  attachBtfId?: number;
  attachBtfObjFd?: number;
  fdArray?: Uint8Array;
}
export const PROG_LOAD_SIZE = 144;
export function progLoadAttr(addressOf: AddressOf, a: ProgLoadAttr): Struct {
  const s = new Struct(PROG_LOAD_SIZE, addressOf)
    .u32(0, a.type)
    .u32(4, a.insns.byteLength / 8)
    .ptr(8, a.insns)
    .ptr(16, cString(a.license));
  if (a.log && a.logLevel) s.u32(24, a.logLevel).u32(28, a.log.byteLength).ptr(32, a.log);
  s.u32(40, a.kernVersion ?? 0).u32(44, a.progFlags ?? 0);
  if (a.name) s.name(48, objName(a.name));
  s.u32(68, a.expectedAttachType ?? 0);
  if (a.progBtfFd !== undefined && a.progBtfFd > 0) {
    s.u32(72, a.progBtfFd);
    if (a.funcInfo && a.funcInfo.bytes.byteLength > 0) {
      s.u32(76, a.funcInfo.recSize).ptr(80, a.funcInfo.bytes)
        .u32(88, a.funcInfo.bytes.byteLength / a.funcInfo.recSize);
    }
    if (a.lineInfo && a.lineInfo.bytes.byteLength > 0) {
      s.u32(92, a.lineInfo.recSize).ptr(96, a.lineInfo.bytes)
        .u32(104, a.lineInfo.bytes.byteLength / a.lineInfo.recSize);
    }
  }
  s.u32(108, a.attachBtfId ?? 0).u32(112, a.attachBtfObjFd ?? 0);
  if (a.fdArray) s.ptr(120, a.fdArray);
  return s;
}
/** Offset of log_true_size (kernel ≥ 6.4 reports the full log size there). */
export const PROG_LOAD_LOG_TRUE_SIZE = 140;

// ---- BPF_BTF_LOAD ----
export const BTF_LOAD_SIZE = 32;
export function btfLoadAttr(
  addressOf: AddressOf,
  btf: Uint8Array,
  log: Uint8Array | null,
  logLevel: number,
): Struct {
  const s = new Struct(BTF_LOAD_SIZE, addressOf).ptr(0, btf).u32(16, btf.byteLength);
  if (log && logLevel) s.ptr(8, log).u32(20, log.byteLength).u32(24, logLevel);
  return s;
}

// ---- *_GET_NEXT_ID / *_GET_FD_BY_ID ----
export function idAttr(id: number): Struct {
  return new Struct(12).u32(0, id);
}

// ---- BPF_OBJ_GET_INFO_BY_FD ----
export function infoAttr(addressOf: AddressOf, fd: number, info: Uint8Array): Struct {
  return new Struct(16, addressOf).u32(0, fd).u32(4, info.byteLength).ptr(8, info);
}

// ---- BPF_RAW_TRACEPOINT_OPEN ----
export function rawTracepointAttr(addressOf: AddressOf, name: string | null, progFd: number) {
  return new Struct(16, addressOf).ptr(0, name === null ? null : cString(name)).u32(8, progFd);
}

// ---- BPF_LINK_CREATE ----
export interface LinkCreateOpts {
  flags?: number;
  /** perf_event / tracing / kprobe_multi cookie. */
  cookie?: bigint;
  targetBtfId?: number;
}
export function linkCreateAttr(
  progFd: number,
  targetFd: number,
  attachType: number,
  o: LinkCreateOpts = {},
): Struct {
  const s = new Struct(48).u32(0, progFd).u32(4, targetFd).u32(8, attachType).u32(12, o.flags ?? 0);
  if (o.targetBtfId !== undefined) s.u32(16, o.targetBtfId);
  if (o.cookie !== undefined) s.u64(16, o.cookie);
  return s;
}

// ---- BPF_MAP_FREEZE / BPF_LINK_DETACH ----
export function fdAttr(fd: number): Struct {
  return new Struct(8).u32(0, fd);
}

// ---- perf_event_attr ----
export interface PerfEventAttr {
  type: number;
  config?: bigint;
  samplePeriod?: bigint;
  sampleType?: bigint;
  flags?: bigint;
  wakeupEvents?: number;
  /** kprobe_func / uprobe_path (a C string), or a plain config1 value. */
  config1?: Uint8Array | bigint;
  /** probe_offset / kprobe_addr. */
  config2?: bigint;
}
export const PERF_ATTR_SIZE = 128;
export function perfEventAttr(addressOf: AddressOf, a: PerfEventAttr): Struct {
  const s = new Struct(PERF_ATTR_SIZE, addressOf)
    .u32(0, a.type)
    .u32(4, PERF_ATTR_SIZE)
    .u64(8, a.config ?? 0n)
    .u64(16, a.samplePeriod ?? 0n)
    .u64(24, a.sampleType ?? 0n)
    .u64(40, a.flags ?? 0n)
    .u32(48, a.wakeupEvents ?? 0);
  if (a.config1 instanceof Uint8Array) s.ptr(56, a.config1);
  else if (a.config1 !== undefined) s.u64(56, a.config1);
  return s.u64(64, a.config2 ?? 0n);
}

// ---- bpf_*_info (read back) ----
export const PROG_INFO_SIZE = 232;
export const MAP_INFO_SIZE = 96;
export const LINK_INFO_SIZE = 96;
export const BTF_INFO_SIZE = 32;

function cStr(bytes: Uint8Array, off: number, len: number): string {
  const b = bytes.subarray(off, off + len);
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

export interface ProgInfo {
  type: number;
  id: number;
  tag: string;
  name: string;
  xlatedProgLen: number;
  jitedProgLen: number;
  nrMapIds: number;
  btfId: number;
  /** Time spent in the program and runs, counted while kernel.bpf_stats_enabled is 1. */
  runTimeNs: bigint;
  runCnt: bigint;
  /**
   * Runs the kernel skipped because a BPF program was already running on that CPU (a
   * tracepoint firing inside another program, e.g. in an interrupt): 0 before 5.12/6.x.
   */
  recursionMisses: bigint;
}
export function decodeProgInfo(b: Uint8Array): ProgInfo {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    type: dv.getUint32(0, true),
    id: dv.getUint32(4, true),
    tag: [...b.subarray(8, 16)].map((x) => x.toString(16).padStart(2, "0")).join(""),
    jitedProgLen: dv.getUint32(16, true),
    xlatedProgLen: dv.getUint32(20, true),
    nrMapIds: dv.getUint32(52, true),
    name: cStr(b, 64, 16),
    btfId: dv.getUint32(128, true),
    runTimeNs: dv.getBigUint64(192, true),
    runCnt: dv.getBigUint64(200, true),
    recursionMisses: dv.getBigUint64(208, true),
  };
}

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
  btfId: number;
}
export function decodeMapInfo(b: Uint8Array): MapInfo {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    type: dv.getUint32(0, true),
    id: dv.getUint32(4, true),
    keySize: dv.getUint32(8, true),
    valueSize: dv.getUint32(12, true),
    maxEntries: dv.getUint32(16, true),
    flags: dv.getUint32(20, true),
    name: cStr(b, 24, 16),
    btfId: dv.getUint32(64, true),
  };
}

export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
}
export function decodeLinkInfo(b: Uint8Array): LinkInfo {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { type: dv.getUint32(0, true), id: dv.getUint32(4, true), progId: dv.getUint32(8, true) };
}

export interface BtfInfo {
  id: number;
  size: number;
  kernelBtf: boolean;
}
export function decodeBtfInfo(b: Uint8Array): BtfInfo {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    size: dv.getUint32(8, true),
    id: dv.getUint32(12, true),
    kernelBtf: dv.getUint32(28, true) !== 0,
  };
}
