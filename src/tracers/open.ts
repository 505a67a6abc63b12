// The open tracer (the TypeScript opensnoop): which object and programs, the .rodata
// configuration from the options, and how a struct open_event becomes an OpenRecord.
// Field offsets come from the object's BTF through EventLayout. Pure.

import {
  escapeBytes,
  isValidUtf8 as isUtf8,
  type KernelText,
  kernelText,
  textBytes,
} from "../output/escape.ts";
import { byteViews, cStringEnd, u64 } from "../events/read.ts";
import { DecoderError } from "../events/decoder.ts";
import type { OpenFlags } from "./open-flags.ts";
import type { Hooks } from "./hooks.ts";
import type { FlagFilter } from "./open-flags.ts";
import type { ContextRecord, EventLayout, TracerDescription } from "./types.ts";

/** Hard limits compiled into bpf/open.bpf.c (bpf/open.h). */
export const OPEN_PATH_MAX = 4096;

/** open_event.flags bits (bpf/open.h). */
export const OPEN_F_PATH_TRUNCATED = 1;
export const OPEN_F_PATH_FAULT = 2;
export const OPEN_F_FULL = 4;
export const OPEN_F_FULL_DIR = 8;
export const OPEN_F_FULL_TRUNCATED = 16;
export const OPEN_F_DELETED = 32;

/** Names of the `stats` counters, by index (enum open_stat in bpf/open.h). */
export const OPEN_STATS = [
  "lost",
  "path_truncated",
  "path_fault",
  "full_path_truncated",
  "pending_dropped",
  "traced_full",
];

/** open_event.syscall, by value. */
export const OPEN_SYSCALLS = ["open", "openat", "openat2"] as const;
export type OpenSyscall = typeof OPEN_SYSCALLS[number];

export const AT_FDCWD = -100;

/** --path prefixes up to this many bytes are filtered in the kernel (bpf/open.h). */
export const OPEN_PREFIX_MAX = 255;

export interface OpenOptions {
  /** -F walks the path in a bounded loop: the kernel has no bpf_loop (before 5.17). */
  boundedLoops?: boolean;
  /** Only this process (tgid). */
  pid?: number;
  /** Only this thread. */
  tid?: number;
  uid?: number;
  /** Only failed opens (-x). */
  failedOnly?: boolean;
  /** -f: only opens with any of these flags. */
  flags?: FlagFilter;
  /** -F: the full path. */
  fullPath?: boolean;
  /** Only opens whose path (full with -F) is this path or under it (user space). */
  pathPrefix?: Uint8Array;
  /** Only opens whose comm matches (user space). */
  name?: RegExp;
  /** Only descendants of this process (the `-- CMD` mode: the tracer's own pid). */
  followTgid?: number;
  /** Wake the reader when this many bytes wait in the ring (0: every event). */
  wakeupBytes?: number;
  /** How the follow hooks (-- CMD) attach: tp_btf (default) or raw tracepoints. */
  hooks?: Hooks;
}

export interface OpenRecord extends ContextRecord {
  /** CLOCK_BOOTTIME at the syscall's exit, ns. */
  timeNs: bigint;
  pid: number;
  tid: number;
  uid: number;
  /** The fd, or -errno. */
  ret: number;
  /** The directory fd as passed (AT_FDCWD for open()). */
  dirfd: number;
  /** O_* as passed (openat2: open_how.flags). */
  flags: OpenFlags;
  mode: number;
  syscall: OpenSyscall;
  comm: KernelText;
  /** The path as passed. */
  path: KernelText;
  pathTruncated: boolean;
  /** The path could not be read from the caller's memory. */
  pathFault: boolean;
  /** -F: the absolute path, or null (not asked, or not known). */
  fullPath: KernelText | null;
  fullPathTruncated: boolean;
  mntnsId: number;
}

const FOLLOW = {
  tp_btf: ["handle_fork", "handle_exit"],
  tracepoint: ["handle_fork_raw", "handle_exit_raw"],
};

/** The open tracer for these options. */
export function openTracer(opts: OpenOptions = {}): TracerDescription<OpenRecord> {
  // -F walks the path with bpf_loop, or a bounded loop where it is missing.
  const exit = !opts.fullPath
    ? "exit_open_tp"
    : opts.boundedLoops
    ? "exit_open_full_bounded"
    : "exit_open_full";
  // --path on the path as passed runs in the kernel too (with -F the full path exists only
  // here); the decoder checks it in every case.
  const prefix = opts.pathPrefix;
  const kernelPrefix = prefix && !opts.fullPath && prefix.length <= OPEN_PREFIX_MAX &&
      isUtf8(prefix)
    ? new TextDecoder().decode(prefix)
    : "";
  return {
    object: "open",
    programs: [
      ...(opts.followTgid ? FOLLOW[opts.hooks ?? "tp_btf"] : []),
      // Exits first: an entry seen is then always followed by its exit.
      exit,
      "enter_openat",
      "enter_open_tp",
      "enter_openat2",
    ],
    optional: ["enter_open_tp", "enter_openat2"],
    alsoAttach: [
      { program: exit, category: "syscalls", name: "sys_exit_open", optional: true },
      { program: exit, category: "syscalls", name: "sys_exit_openat2", optional: true },
    ],
    fallbacks: exit === "exit_open_full_bounded"
      ? ["-F walks the path in a bounded loop, without bpf_loop"]
      : [],
    mapSizes: opts.followTgid ? {} : { traced: 1 },
    rodata: {
      target_tgid: opts.pid ?? 0,
      target_tid: opts.tid ?? 0,
      target_uid: opts.uid ?? 0xffffffff,
      failed_only: !!opts.failedOnly,
      flag_bits: opts.flags?.bits ?? 0n,
      accmodes: opts.flags?.accmodes ?? 0,
      path_prefix: kernelPrefix,
      path_prefix_len: new TextEncoder().encode(kernelPrefix).length,
      follow_tgid: opts.followTgid ?? 0,
      wakeup_bytes: BigInt(opts.wakeupBytes ?? 0),
    },
    ringbuf: "events",
    perfBufferFlag: "use_perf_buffer",
    timeOf: (r) => r.timeNs,
    stats: { map: "stats", lostIndex: 0, names: OPEN_STATS },
    eventType: "open_event",
    decoder: (layout) => openDecoder(layout, opts),
  };
}

const SLASH = 0x2f;
const utf8 = new TextEncoder();
const TRUNCATED = utf8.encode("...");
const DELETED = utf8.encode(" (deleted)");

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * The absolute path from the kernel's walk: `components` are NUL-terminated names from the
 * file up towards the root. `dirOf` (a failed relative open): they name the directory, and
 * `path` is joined to it. A walk that stopped short of the root starts with ".../".
 */
export function joinFullPath(
  components: Uint8Array,
  path: Uint8Array,
  o: { dirOf: boolean; truncated: boolean; deleted: boolean },
): Uint8Array {
  const names: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < components.length; i++) {
    if (components[i] === 0) {
      names.push(components.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < components.length) names.push(components.subarray(start));
  names.reverse();
  const parts: Uint8Array[] = o.truncated ? [TRUNCATED] : [];
  for (const n of names) parts.push(Uint8Array.of(SLASH), n);
  if (o.dirOf) parts.push(Uint8Array.of(SLASH), path);
  if (parts.length === 0) parts.push(Uint8Array.of(SLASH)); // the root itself
  if (o.deleted) parts.push(DELETED);
  return concat(parts);
}

/** Whether `path` is `prefix` or below it (a prefix ending in "/" matches any path under it). */
export function underPrefix(path: Uint8Array, prefix: Uint8Array): boolean {
  if (path.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (path[i] !== prefix[i]) return false;
  return path.length === prefix.length || prefix[prefix.length - 1] === SLASH ||
    path[prefix.length] === SLASH;
}

/** The record decoder of struct open_event, from its BTF layout. */
export function openDecoder(
  layout: EventLayout,
  { name, pathPrefix, fullPath: full }: Pick<OpenOptions, "name" | "pathPrefix" | "fullPath"> = {},
): (view: DataView, offset: number, len: number) => OpenRecord | null {
  const f = (n: string) => layout.field(n).offset;
  const oTime = f("time_ns"), oCgroup = f("cgroup_id"), oMntns = f("mntns_id");
  const oOpenFlags = f("open_flags"), oPid = f("pid"), oTid = f("tid"), oUid = f("uid");
  const oRet = f("ret"), oDirfd = f("dirfd"), oMode = f("mode"), oPlen = f("path_len");
  const oFlen = f("full_len"), oFlags = f("flags"), oSys = f("syscall");
  const comm = layout.field("comm"), data = layout.field("data").offset;
  const bytesOf = byteViews();
  return (view, offset, len) => {
    if (len < data) {
      throw new DecoderError(
        `open_event: ${len}-byte record, shorter than its ${data} fixed bytes`,
      );
    }
    const bytes = bytesOf(view);
    const at = view.byteOffset + offset;
    const commStart = at + comm.offset;
    const commText = kernelText(bytes, commStart, cStringEnd(bytes, commStart, comm.size));
    // The regex sees the comm as printed (UTF-8 decoded, other bytes escaped).
    if (name && !name.test(escapeBytes(commText))) return null;
    const plen = view.getUint32(offset + oPlen, true);
    const flen = view.getUint32(offset + oFlen, true);
    if (data + plen + flen > len) {
      throw new DecoderError(`open_event: ${plen}+${flen} data bytes in a ${len}-byte record`);
    }
    const flags = view.getUint32(offset + oFlags, true);
    const path = kernelText(bytes, at + data, at + data + plen);
    const pathFault = (flags & OPEN_F_PATH_FAULT) !== 0;
    let fullPath: KernelText | null = null;
    const fullTruncated = (flags & OPEN_F_FULL_TRUNCATED) !== 0;
    if (flags & OPEN_F_FULL) {
      const components = bytes.subarray(at + data + plen, at + data + plen + flen);
      const joined = joinFullPath(components, textBytes(path), {
        dirOf: (flags & OPEN_F_FULL_DIR) !== 0,
        truncated: fullTruncated,
        deleted: (flags & OPEN_F_DELETED) !== 0,
      });
      fullPath = kernelText(joined, 0, joined.length);
    } else if (full && plen > 0 && bytes[at + data] === SLASH) {
      fullPath = path; // a failed absolute open: the path as passed is the full path
    }
    if (pathPrefix && !underPrefix(textBytes(fullPath ?? path), pathPrefix)) return null;
    const sys = view.getUint32(offset + oSys, true);
    if (sys >= OPEN_SYSCALLS.length) throw new DecoderError(`open_event: syscall ${sys}`);
    return {
      timeNs: view.getBigUint64(offset + oTime, true),
      pid: view.getUint32(offset + oPid, true),
      tid: view.getUint32(offset + oTid, true),
      uid: view.getUint32(offset + oUid, true),
      ret: view.getInt32(offset + oRet, true),
      dirfd: view.getInt32(offset + oDirfd, true),
      flags: u64(view, offset + oOpenFlags),
      mode: view.getUint32(offset + oMode, true),
      syscall: OPEN_SYSCALLS[sys],
      comm: commText,
      path,
      pathTruncated: (flags & OPEN_F_PATH_TRUNCATED) !== 0,
      pathFault,
      fullPath: pathFault ? null : fullPath,
      fullPathTruncated: fullTruncated,
      cgroupId: u64(view, offset + oCgroup),
      mntnsId: view.getUint32(offset + oMntns, true), // an inode number: 32 bits
      context: null,
    };
  };
}
