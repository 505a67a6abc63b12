// The exec tracer (the TypeScript execsnoop): which object and programs, the .rodata
// configuration from the options, and how a struct exec_event becomes an ExecRecord.
// Field offsets come from the object's BTF through EventLayout. Pure.

import { escapeBytes } from "../output/escape.ts";
import { DecoderError } from "../events/decoder.ts";
import type { ContextRecord, EventLayout, TracerDescription } from "./types.ts";

/** Hard limits compiled into bpf/exec.bpf.c (bpf/events.h). */
export const EXEC_ARGS_MAX_BYTES = 8192;

/**
 * `tracer exec`'s ring buffer when --ring-bytes is not given: 1 MiB, not the objects' 4 MiB.
 * Execs come at most a few thousand a second here and a record is sized to its file name and
 * arguments (~150 bytes for a short command, at most ~8.5 KiB), so 1 MiB is 16 times the
 * 64 KiB at which the reader is woken; its pages (mapped twice) are 6 MB less RSS in a storm.
 */
export const EXEC_RING_BYTES = 1 << 20;
export const EXEC_ARGS_LIMIT = 128;
export const DEFAULT_MAX_ARGS = 64;

/** exec_event.flags bits (bpf/events.h). */
export const EXEC_F_ARGS_TRUNCATED = 1;
export const EXEC_F_FILENAME_TRUNCATED = 2;
export const EXEC_F_ARGS_FAULT = 4;
export const EXEC_F_EXECVEAT = 8;

/** Names of the `stats` counters, by index (enum exec_stat in bpf/events.h). */
export const EXEC_STATS = [
  "lost",
  "args_truncated",
  "filename_truncated",
  "args_fault",
  "pending_dropped",
  "traced_full",
];

export interface ExecOptions {
  /** Include failed execs (-x). */
  failed?: boolean;
  /** Read a failed exec's argv in a bounded loop: the kernel has no bpf_loop (before 5.17). */
  boundedLoops?: boolean;
  /** Only failed execs. */
  failedOnly?: boolean;
  uid?: number;
  ppid?: number;
  /** Only descendants of this process (the `-- CMD` mode: the tracer's own pid). */
  followTgid?: number;
  /** Keep at most this many arguments (default 64, at most 128). */
  maxArgs?: number;
  /** Only execs whose new comm matches (user space). */
  name?: RegExp;
  /** Wake the reader when this many bytes wait in the ring (0: every event). */
  wakeupBytes?: number;
  /**
   * How the sched_process_exec/fork/exit hooks attach: "tp_btf" (default; needs the
   * running kernel's BTF) or "tracepoint" (tracepoint + raw_tp: no kernel BTF needed).
   */
  hooks?: "tp_btf" | "tracepoint";
}

export interface ExecRecord extends ContextRecord {
  /** CLOCK_BOOTTIME of the event, ns. */
  timeNs: bigint;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  /** 0, or the negative errno of a failed exec. */
  ret: number;
  comm: Uint8Array;
  pcomm: Uint8Array;
  filename: Uint8Array;
  args: Uint8Array[];
  argsTruncated: boolean;
  filenameTruncated: boolean;
  argsFault: boolean;
  /** Failed execveat(): filename is relative to a directory fd. */
  execveat: boolean;
  cgroupId: bigint;
  mntnsId: number;
  /** The parent, its parent, ... up to init (at most 16), read in the kernel at the exec. */
  ancestors: Ancestor[];
}

/** A process above the exec'ing one. */
export interface Ancestor {
  pid: number;
  comm: Uint8Array;
}

const ENTER_FAILED = ["enter_execve", "enter_execveat"];
const HOOKS = {
  tp_btf: { exec: ["handle_exec"], follow: ["handle_fork", "handle_exit"] },
  tracepoint: { exec: ["handle_exec_tp"], follow: ["handle_fork_raw", "handle_exit_raw"] },
};

/** The exec tracer for these options. */
export function execTracer(opts: ExecOptions = {}): TracerDescription<ExecRecord> {
  const maxArgs = Math.min(opts.maxArgs ?? DEFAULT_MAX_ARGS, EXEC_ARGS_LIMIT);
  const emitSuccess = !opts.failedOnly;
  const emitFailed = !!(opts.failed || opts.failedOnly);
  const hooks = HOOKS[opts.hooks ?? "tp_btf"];
  // The failed-exec exit reads argv with bpf_loop, or a bounded loop where it is missing.
  const exit = opts.boundedLoops ? "exit_execve_bounded" : "exit_execve";
  const programs = [
    ...(opts.followTgid ? hooks.follow : []),
    ...(emitSuccess ? hooks.exec : []),
    ...(emitFailed ? [...ENTER_FAILED, exit] : []),
  ];
  return {
    object: "exec",
    programs,
    alsoAttach: emitFailed
      ? [{ program: exit, category: "syscalls", name: "sys_exit_execveat" }]
      : [],
    fallbacks: emitFailed && opts.boundedLoops
      ? ["failed execs' argv read in a bounded loop, without bpf_loop"]
      : [],
    // Maps the options leave unused get one entry (the kernel preallocates hash maps).
    mapSizes: {
      ...(emitFailed ? {} : { pending: 1 }),
      ...(opts.followTgid ? {} : { traced: 1 }),
    },
    rodata: {
      target_uid: opts.uid ?? 0xffffffff,
      target_ppid: opts.ppid ?? 0,
      follow_tgid: opts.followTgid ?? 0,
      emit_success: emitSuccess,
      emit_failed: emitFailed,
      max_args: maxArgs,
      max_arg_bytes: EXEC_ARGS_MAX_BYTES,
      wakeup_bytes: BigInt(opts.wakeupBytes ?? 0),
    },
    ringbuf: "events",
    perfBufferFlag: "use_perf_buffer",
    timeOf: (r) => r.timeNs,
    stats: { map: "stats", lostIndex: 0, names: EXEC_STATS },
    eventType: "exec_event",
    decoder: (layout) => execDecoder(layout, maxArgs, opts.name),
  };
}

/** Splits NUL-terminated args; a last piece without its NUL (cut) is kept. */
export function splitArgs(bytes: Uint8Array): Uint8Array[] {
  const args: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      args.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < bytes.length) args.push(bytes.subarray(start));
  return args;
}

function cBytes(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

/** The record decoder of struct exec_event, from its BTF layout. */
export function execDecoder(
  layout: EventLayout,
  maxArgs = DEFAULT_MAX_ARGS,
  name?: RegExp,
): (view: DataView, offset: number, len: number) => ExecRecord | null {
  const f = (n: string) => layout.field(n).offset;
  const oTime = f("time_ns"), oCgroup = f("cgroup_id"), oMntns = f("mntns_id");
  const oPid = f("pid"), oTid = f("tid"), oPpid = f("ppid"), oUid = f("uid"), oGid = f("gid");
  const oRet = f("ret"), oArgc = f("argc"), oFlen = f("filename_len"), oAlen = f("args_len");
  const oFlags = f("flags");
  const comm = layout.field("comm"), pcomm = layout.field("pcomm"), data = layout.field("data");
  const oAncLen = f("ancestors_len"), anc = layout.field("ancestors");
  const ANCESTOR_BYTES = 4 + 16; // struct exec_ancestor: pid, comm[16]
  const ancMax = Math.floor(anc.size / ANCESTOR_BYTES);
  const decodeAncestors = (view: DataView, offset: number): Ancestor[] => {
    const n = Math.min(view.getUint32(offset + oAncLen, true), ancMax);
    const out: Ancestor[] = [];
    for (let i = 0; i < n; i++) {
      const at = offset + anc.offset + i * ANCESTOR_BYTES;
      out.push({
        pid: view.getUint32(at, true),
        comm: cBytes(new Uint8Array(view.buffer, view.byteOffset + at + 4, 16).slice()),
      });
    }
    return out;
  };
  return (view, offset, len) => {
    if (len < data.offset) {
      throw new DecoderError(
        `exec_event: ${len}-byte record, shorter than its ${data.offset} fixed bytes`,
      );
    }
    const bytesAt = (o: number, n: number) =>
      new Uint8Array(view.buffer, view.byteOffset + offset + o, n).slice();
    const commBytes = cBytes(bytesAt(comm.offset, comm.size));
    // The regex sees the comm as printed (UTF-8 decoded, other bytes escaped).
    if (name && !name.test(escapeBytes(commBytes))) return null;
    const flen = view.getUint32(offset + oFlen, true);
    const alen = view.getUint32(offset + oAlen, true);
    if (data.offset + flen + alen > len) {
      throw new DecoderError(`exec_event: ${flen}+${alen} data bytes in a ${len}-byte record`);
    }
    const flags = view.getUint32(offset + oFlags, true);
    const argc = view.getUint32(offset + oArgc, true);
    let args = splitArgs(bytesAt(data.offset + flen, alen));
    let truncated = (flags & EXEC_F_ARGS_TRUNCATED) !== 0 || argc > args.length;
    if (args.length > maxArgs) {
      args = args.slice(0, maxArgs);
      truncated = true;
    }
    return {
      timeNs: view.getBigUint64(offset + oTime, true),
      pid: view.getUint32(offset + oPid, true),
      tid: view.getUint32(offset + oTid, true),
      ppid: view.getUint32(offset + oPpid, true),
      uid: view.getUint32(offset + oUid, true),
      gid: view.getUint32(offset + oGid, true),
      ret: view.getInt32(offset + oRet, true),
      comm: commBytes,
      pcomm: cBytes(bytesAt(pcomm.offset, pcomm.size)),
      filename: bytesAt(data.offset, flen),
      args,
      argsTruncated: truncated,
      filenameTruncated: (flags & EXEC_F_FILENAME_TRUNCATED) !== 0,
      argsFault: (flags & EXEC_F_ARGS_FAULT) !== 0,
      execveat: (flags & EXEC_F_EXECVEAT) !== 0,
      cgroupId: view.getBigUint64(offset + oCgroup, true),
      mntnsId: Number(view.getBigUint64(offset + oMntns, true)),
      ancestors: decodeAncestors(view, offset),
      context: null,
    };
  };
}
