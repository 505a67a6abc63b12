// Typed bpf(2) wrappers: programs, maps, BTF, links, object info, id iteration.
// Every kernel object comes back wrapped in an FdObject with close().

import { SysError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import {
  BTF_INFO_SIZE,
  type BtfInfo,
  btfLoadAttr,
  decodeBtfInfo,
  decodeLinkInfo,
  decodeMapInfo,
  decodeProgInfo,
  fdAttr,
  idAttr,
  infoAttr,
  LINK_INFO_SIZE,
  linkCreateAttr,
  type LinkCreateOpts,
  type LinkInfo,
  MAP_INFO_SIZE,
  type MapCreateAttr,
  mapCreateAttr,
  type MapInfo,
  PROG_INFO_SIZE,
  type ProgInfo,
  type ProgLoadAttr,
  progLoadAttr,
  rawTracepointAttr,
  Struct,
} from "./attr.ts";
import { BpfCmd, UpdateFlags } from "./constants.ts";
import { FdObject } from "./fd.ts";
import { BpfMap } from "./map.ts";
import { verifierLogTail } from "./log.ts";

export { BpfMap };

const ENOSPC = 28;
const ENOENT = 2;

// ---------------------------------------------------------------- programs

export interface ProgLoadOptions {
  type: number;
  insns: Uint8Array;
  license: string;
  name: string;
  /** 0 = no log unless the load fails (then it is retried with level 1). */
  logLevel?: number;
  /** Initial log buffer size; grows on ENOSPC up to 64 MiB. */
  logSize?: number;
  expectedAttachType?: number;
  attachBtfId?: number;
  attachBtfObjFd?: number;
  progBtfFd?: number;
  progFlags?: number;
  kernVersion?: number;
  funcInfo?: { recSize: number; bytes: Uint8Array };
  lineInfo?: { recSize: number; bytes: Uint8Array };
  fdArray?: Uint8Array;
}

export class BpfProgram extends FdObject {
  /** The verifier log of a load that asked for one (logLevel > 0). */
  verifierLog = "";
  constructor(platform: Platform, fd: number, readonly name: string, readonly type: number) {
    super(platform, fd, `program ${name}`);
  }
  info(): ProgInfo {
    return progInfo(this.platform, this.fd);
  }
}

const MAX_LOG = 64 << 20;

/**
 * BPF_PROG_LOAD. On failure without a log, retries with log_level 1 so the SysError carries
 * the verifier's last lines; a log that does not fit (ENOSPC) is retried with a bigger buffer.
 */
export function progLoad(p: Platform, o: ProgLoadOptions): BpfProgram {
  const step = `BPF_PROG_LOAD of program ${o.name}`;
  let logLevel = o.logLevel ?? 0;
  let logSize = o.logSize ?? (logLevel ? 1 << 20 : 0);
  for (;;) {
    const log = logLevel ? new Uint8Array(logSize) : undefined;
    const attr = progLoadAttr((b) => p.addressOf(b), { ...o, logLevel, log } as ProgLoadAttr);
    try {
      const fd = p.bpf(BpfCmd.PROG_LOAD, attr.bytes, step);
      const prog = new BpfProgram(p, fd, o.name, o.type);
      if (log && o.logLevel) prog.verifierLog = verifierLogTail(log, Infinity);
      return prog;
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      if (!log) {
        // Load again with a log, to explain the failure (unless it is not the verifier's).
        if (e.errno === 1 /* EPERM */ || e.errno === 7 /* E2BIG */) throw e;
        logLevel = 1;
        logSize = 1 << 20;
        continue;
      }
      if (e.errno === ENOSPC && logSize < MAX_LOG) {
        logSize *= 4;
        continue;
      }
      const tail = verifierLogTail(log);
      throw new SysError(step, e.errno, tail ? `verifier log:\n${tail}` : "");
    }
  }
}

/**
 * BPF_PROG_TEST_RUN of a program that takes a context only (SEC("syscall") programs): runs it
 * once, returns its return value.
 */
export function progTestRun(p: Platform, fd: number, ctx: Uint8Array | null, what: string): number {
  // bpf_attr.test: prog_fd, retval, data_size_in/out, data_in/out, repeat, duration,
  // ctx_size_in (40), ctx_size_out, ctx_in (48), ctx_out, flags, cpu, batch_size.
  const attr = new Struct(80, (b) => p.addressOf(b)).u32(0, fd);
  if (ctx && ctx.byteLength) attr.u32(40, ctx.byteLength).ptr(48, ctx);
  p.bpf(BpfCmd.PROG_TEST_RUN, attr.bytes, `BPF_PROG_TEST_RUN of ${what}`);
  return attr.getU32(4);
}

// ---------------------------------------------------------------- maps

export interface MapCreateOptions extends MapCreateAttr {
  name: string;
}

/** BPF_MAP_CREATE. */
export function mapCreate(p: Platform, o: MapCreateOptions): BpfMap {
  const fd = p.bpf(BpfCmd.MAP_CREATE, mapCreateAttr(o).bytes, `BPF_MAP_CREATE of map ${o.name}`);
  return new BpfMap(p, fd, o.name, o.type, o.keySize, o.valueSize, o.maxEntries);
}

// ---------------------------------------------------------------- BTF

export class BtfObject extends FdObject {
  info(): BtfInfo {
    return btfInfo(this.platform, this.fd);
  }
}

/** BPF_BTF_LOAD. A rejected BTF is reloaded with a log whose tail goes into the error. */
export function btfLoad(p: Platform, bytes: Uint8Array, what = "BTF"): BtfObject {
  const step = `BPF_BTF_LOAD of ${what}`;
  const addr = (b: Uint8Array) => p.addressOf(b);
  try {
    return new BtfObject(
      p,
      p.bpf(BpfCmd.BTF_LOAD, btfLoadAttr(addr, bytes, null, 0).bytes, step),
      what,
    );
  } catch (e) {
    if (!(e instanceof SysError) || e.errno === 1) throw e;
    const log = new Uint8Array(1 << 20);
    try {
      const fd = p.bpf(BpfCmd.BTF_LOAD, btfLoadAttr(addr, bytes, log, 1).bytes, step);
      return new BtfObject(p, fd, what);
    } catch (e2) {
      if (!(e2 instanceof SysError)) throw e2;
      const tail = verifierLogTail(log);
      throw new SysError(step, e2.errno, tail ? `BTF log:\n${tail}` : "");
    }
  }
}

// ---------------------------------------------------------------- links

export class BpfLink extends FdObject {
  info(): LinkInfo {
    return linkInfo(this.platform, this.fd);
  }
}

/** BPF_LINK_CREATE (perf event, tracing, raw_tp links). */
export function linkCreate(
  p: Platform,
  progFd: number,
  targetFd: number,
  attachType: number,
  opts: LinkCreateOpts & { what?: string } = {},
): BpfLink {
  const what = opts.what ?? `program fd ${progFd}`;
  const fd = p.bpf(
    BpfCmd.LINK_CREATE,
    linkCreateAttr(progFd, targetFd, attachType, opts).bytes,
    `BPF_LINK_CREATE of ${what}`,
  );
  return new BpfLink(p, fd, `link of ${what}`);
}

/**
 * BPF_RAW_TRACEPOINT_OPEN: attaches a raw_tp program to `name`, or a tp_btf / fentry / fexit /
 * lsm program to its load-time attach_btf_id when `name` is null. Returns the link.
 */
export function rawTracepointOpen(
  p: Platform,
  name: string | null,
  progFd: number,
  what = name ?? `program fd ${progFd}`,
): BpfLink {
  const attr = rawTracepointAttr((b) => p.addressOf(b), name, progFd);
  const fd = p.bpf(BpfCmd.RAW_TRACEPOINT_OPEN, attr.bytes, `BPF_RAW_TRACEPOINT_OPEN of ${what}`);
  return new BpfLink(p, fd, `link of ${what}`);
}

/** BPF_MAP_FREEZE: user space can no longer write the map (global .rodata). */
export function mapFreeze(p: Platform, fd: number, what = `map fd ${fd}`): void {
  p.bpf(BpfCmd.MAP_FREEZE, fdAttr(fd).bytes, `BPF_MAP_FREEZE of ${what}`);
}

// ---------------------------------------------------------------- info and ids

/** BPF_OBJ_GET_INFO_BY_FD into `info` (its length is the size asked for). Returns info. */
export function objGetInfoByFd(p: Platform, fd: number, info: Uint8Array, what = `fd ${fd}`) {
  const attr = infoAttr((b) => p.addressOf(b), fd, info);
  p.bpf(BpfCmd.OBJ_GET_INFO_BY_FD, attr.bytes, `BPF_OBJ_GET_INFO_BY_FD of ${what}`);
  return info;
}
export const progInfo = (p: Platform, fd: number): ProgInfo =>
  decodeProgInfo(objGetInfoByFd(p, fd, new Uint8Array(PROG_INFO_SIZE), `program fd ${fd}`));
export const mapInfo = (p: Platform, fd: number): MapInfo =>
  decodeMapInfo(objGetInfoByFd(p, fd, new Uint8Array(MAP_INFO_SIZE), `map fd ${fd}`));
export const linkInfo = (p: Platform, fd: number): LinkInfo =>
  decodeLinkInfo(objGetInfoByFd(p, fd, new Uint8Array(LINK_INFO_SIZE), `link fd ${fd}`));
export const btfInfo = (p: Platform, fd: number): BtfInfo =>
  decodeBtfInfo(objGetInfoByFd(p, fd, new Uint8Array(BTF_INFO_SIZE), `BTF fd ${fd}`));

function nextId(p: Platform, cmd: number, start: number, what: string): number | null {
  const attr = idAttr(start);
  try {
    p.bpf(cmd, attr.bytes, `${what} after ${start}`);
  } catch (e) {
    if (e instanceof SysError && e.errno === ENOENT) return null;
    throw e;
  }
  return attr.getU32(4);
}
/** Next loaded program id after `start` (0 = first), or null at the end. */
export const progGetNextId = (p: Platform, start: number) =>
  nextId(p, BpfCmd.PROG_GET_NEXT_ID, start, "BPF_PROG_GET_NEXT_ID");
export const mapGetNextId = (p: Platform, start: number) =>
  nextId(p, BpfCmd.MAP_GET_NEXT_ID, start, "BPF_MAP_GET_NEXT_ID");
export const linkGetNextId = (p: Platform, start: number) =>
  nextId(p, BpfCmd.LINK_GET_NEXT_ID, start, "BPF_LINK_GET_NEXT_ID");
export const btfGetNextId = (p: Platform, start: number) =>
  nextId(p, BpfCmd.BTF_GET_NEXT_ID, start, "BPF_BTF_GET_NEXT_ID");

/** All ids the kernel currently holds, for one of the *GetNextId functions. */
export function allIds(p: Platform, next: (p: Platform, start: number) => number | null): number[] {
  const ids: number[] = [];
  for (let id = next(p, 0); id !== null; id = next(p, id)) ids.push(id);
  return ids;
}

/** BPF_PROG_GET_FD_BY_ID / MAP_ / LINK_ / BTF_GET_FD_BY_ID: a new fd on an existing object. */
export function getFdById(p: Platform, cmd: number, id: number, what: string): FdObject {
  return new FdObject(
    p,
    p.bpf(cmd, idAttr(id).bytes, `get fd of ${what} id ${id}`),
    `${what} ${id}`,
  );
}

export { UpdateFlags };
