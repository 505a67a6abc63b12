// A BPF map owned through its fd: element operations, iteration, freeze.

import { SysError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import {
  decodeMapInfo,
  fdAttr,
  infoAttr,
  MAP_INFO_SIZE,
  mapElemAttr,
  type MapInfo,
} from "./attr.ts";
import { BpfCmd, MapType, UpdateFlags } from "./constants.ts";
import { FdObject } from "./fd.ts";

const ENOENT = 2;

const PER_CPU = new Set<number>([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.PERCPU_CGROUP_STORAGE,
]);

export class BpfMap extends FdObject {
  /** Bytes of a value as user space sees it (per-CPU maps: one 8-aligned slot per CPU). */
  readonly valueBufferSize: number;

  constructor(
    platform: Platform,
    fd: number,
    readonly name: string,
    readonly type: number,
    readonly keySize: number,
    readonly valueSize: number,
    readonly maxEntries: number,
  ) {
    super(platform, fd, `map ${name}`);
    this.valueBufferSize = PER_CPU.has(type)
      ? Math.ceil(valueSize / 8) * 8 * platform.possibleCpus()
      : valueSize;
  }

  private addr = (b: Uint8Array) => this.platform.addressOf(b);

  private checkKey(key: Uint8Array | null, op: string): void {
    if (key && key.byteLength !== this.keySize) {
      throw new RangeError(
        `${op} of map ${this.name}: key is ${key.byteLength} bytes, want ${this.keySize}`,
      );
    }
  }

  /** The value stored under `key`, or null when there is none. */
  lookup(key: Uint8Array): Uint8Array | null {
    this.checkKey(key, "lookup");
    const value = new Uint8Array(this.valueBufferSize);
    try {
      this.platform.bpf(
        BpfCmd.MAP_LOOKUP_ELEM,
        mapElemAttr(this.addr, this.fd, key, value).bytes,
        `BPF_MAP_LOOKUP_ELEM of map ${this.name}`,
      );
    } catch (e) {
      if (e instanceof SysError && e.errno === ENOENT) return null;
      throw e;
    }
    return value;
  }

  /** Stores `value` under `key` (flags: UpdateFlags.ANY / NOEXIST / EXIST). */
  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.ANY): void {
    this.checkKey(key, "update");
    if (value.byteLength !== this.valueBufferSize) {
      throw new RangeError(
        `update of map ${this.name}: value is ${value.byteLength} bytes, want ${this.valueBufferSize}`,
      );
    }
    this.platform.bpf(
      BpfCmd.MAP_UPDATE_ELEM,
      mapElemAttr(this.addr, this.fd, key, value, flags).bytes,
      `BPF_MAP_UPDATE_ELEM of map ${this.name}`,
    );
  }

  /** Deletes `key`; false when it was not there. */
  delete(key: Uint8Array): boolean {
    this.checkKey(key, "delete");
    try {
      this.platform.bpf(
        BpfCmd.MAP_DELETE_ELEM,
        mapElemAttr(this.addr, this.fd, key, null).bytes,
        `BPF_MAP_DELETE_ELEM of map ${this.name}`,
      );
    } catch (e) {
      if (e instanceof SysError && e.errno === ENOENT) return false;
      throw e;
    }
    return true;
  }

  /** The key after `key` (null: the first key), or null at the end. */
  nextKey(key: Uint8Array | null): Uint8Array | null {
    this.checkKey(key, "next key");
    const next = new Uint8Array(this.keySize);
    try {
      this.platform.bpf(
        BpfCmd.MAP_GET_NEXT_KEY,
        mapElemAttr(this.addr, this.fd, key, next).bytes,
        `BPF_MAP_GET_NEXT_KEY of map ${this.name}`,
      );
    } catch (e) {
      if (e instanceof SysError && e.errno === ENOENT) return null;
      throw e;
    }
    return next;
  }

  /** Every key, in the kernel's order. */
  *keys(): Generator<Uint8Array> {
    for (let k = this.nextKey(null); k !== null; k = this.nextKey(k)) yield k;
  }

  /** BPF_MAP_FREEZE: no more writes from user space. */
  freeze(): void {
    this.platform.bpf(
      BpfCmd.MAP_FREEZE,
      fdAttr(this.fd).bytes,
      `BPF_MAP_FREEZE of map ${this.name}`,
    );
  }

  info(): MapInfo {
    const info = new Uint8Array(MAP_INFO_SIZE);
    this.platform.bpf(
      BpfCmd.OBJ_GET_INFO_BY_FD,
      infoAttr(this.addr, this.fd, info).bytes,
      `BPF_OBJ_GET_INFO_BY_FD of map ${this.name}`,
    );
    return decodeMapInfo(info);
  }
}
