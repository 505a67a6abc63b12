// Feature probes: each one asks the kernel by loading (and where cheap, attaching) a tiny
// hand-assembled program, and reports what happened. Nothing is guessed from versions.

import { exists, readText, stat } from "../platform/files.ts";
import { asm, encode } from "../asm/insn.ts";
import { BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD } from "../asm/opcodes.ts";
import * as op from "../asm/opcodes.ts";
import { KERNEL_BTF_PATH, kernelBtf } from "../btf/source.ts";
import { Kind } from "../btf/types.ts";
import { BtfBuilder } from "../btf/writer.ts";
import { errnoName, SysError, TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import {
  type BpfProgram,
  btfLoad,
  linkCreate,
  mapCreate,
  progLoad,
  rawTracepointOpen,
} from "./bpf.ts";
import {
  AttachType,
  Helper,
  MAP_SHARED,
  MapType,
  ProgType,
  PROT_READ,
  PROT_WRITE,
} from "./constants.ts";
import { kprobeEvent, type PerfEvent, tracepointEvent } from "./perf.ts";
import { ensureTracefs, kprobePmu, tracepointId } from "./tracefs.ts";
import { mountFs } from "./mount.ts";

export interface ProbeResult {
  feature: string;
  available: boolean;
  detail: string;
  /** errno name when the kernel refused ("EPERM"). */
  errno?: string;
}

/** Closes everything opened by a probe, newest first, ignoring close errors. */
class Scope {
  private readonly items: { close(): void }[] = [];
  add<T extends { close(): void }>(x: T): T {
    this.items.push(x);
    return x;
  }
  close(): void {
    for (const x of this.items.reverse()) {
      try {
        x.close();
      } catch { /* already gone */ }
    }
  }
}

const ok = (feature: string, detail: string): ProbeResult => ({ feature, available: true, detail });
export const no = (feature: string, detail: string, errno?: string): ProbeResult =>
  errno === undefined
    ? { feature, available: false, detail }
    : { feature, available: false, detail, errno };

/** Whether this process holds what bpf() needs (root, or CAP_BPF+CAP_PERFMON). */
function privileged(p: Platform): boolean {
  return probePrivileges(p).available;
}

/** Runs a probe body; a SysError becomes "unavailable" with its step and errno. */
function attempt(p: Platform, feature: string, body: (s: Scope) => ProbeResult): ProbeResult {
  const s = new Scope();
  try {
    return body(s);
  } catch (e) {
    if (e instanceof SysError) {
      const why = e.errno !== 1
        ? ""
        : privileged(p)
        ? " (refused by the kernel: lockdown or security policy)"
        : " (needs root or CAP_BPF+CAP_PERFMON)";
      return no(feature, `${e.step}: ${e.errnoName}${why}`, e.errnoName);
    }
    if (e instanceof TracerError) return no(feature, e.message);
    throw e;
  } finally {
    s.close();
  }
}

const RET0 = encode([asm.mov64Imm(0, 0), asm.exit()]);

function load(
  p: Platform,
  name: string,
  type: number,
  extra: { expectedAttachType?: number; attachBtfId?: number; insns?: Uint8Array } = {},
): BpfProgram {
  return progLoad(p, {
    type,
    insns: extra.insns ?? RET0,
    license: "GPL",
    name,
    expectedAttachType: extra.expectedAttachType,
    attachBtfId: extra.attachBtfId,
  });
}

// ------------------------------------------------------------------ privileges

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

const hasCap = (capEff: bigint, c: bigint) => ((capEff >> c) & 1n) === 1n;

/** Can a process with these effective capabilities load and attach tracing programs? */
export function hasBpfPrivileges(capEff: bigint): boolean {
  return hasCap(capEff, CAP_SYS_ADMIN) ||
    (hasCap(capEff, CAP_BPF) && hasCap(capEff, CAP_PERFMON));
}

export function probePrivileges(p: Platform): ProbeResult {
  const id = p.identity();
  const f = "privileges";
  if (!hasBpfPrivileges(id.capEff)) {
    return no(f, `euid ${id.euid} without CAP_BPF+CAP_PERFMON: run with sudo, or grant them`);
  }
  if (id.euid === 0 && hasCap(id.capEff, CAP_SYS_ADMIN)) {
    return ok(f, "root (euid 0, CAP_SYS_ADMIN)");
  }
  if (hasCap(id.capEff, CAP_BPF) && hasCap(id.capEff, CAP_PERFMON)) {
    return ok(f, `CAP_BPF+CAP_PERFMON (euid ${id.euid})`);
  }
  return ok(f, `CAP_SYS_ADMIN (euid ${id.euid})`);
}

// ------------------------------------------------------------------ BTF

export function probeKernelBtf(p: Platform): ProbeResult {
  const f = "kernel BTF";
  if (!exists(KERNEL_BTF_PATH)) {
    return no(f, `${KERNEL_BTF_PATH} missing: needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`);
  }
  try {
    const size = stat(KERNEL_BTF_PATH).size;
    const t0 = performance.now();
    const btf = kernelBtf(undefined, p);
    const ms = performance.now() - t0;
    return ok(
      f,
      `${KERNEL_BTF_PATH}, ${size} bytes, ${btf.count - 1} types (indexed in ${ms.toFixed(1)} ms)`,
    );
  } catch (e) {
    return no(f, `${KERNEL_BTF_PATH}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The id of the first `kind` type named one of `names` in kernel BTF, or null. */
function btfId(p: Platform, names: string[], kind: Kind): { id: number; name: string } | null {
  let btf;
  try {
    btf = kernelBtf(undefined, p);
  } catch {
    return null;
  }
  for (const name of names) {
    const ids = btf.byName(name, kind);
    if (ids.length > 0) return { id: ids[0], name };
  }
  return null;
}

// ------------------------------------------------------------------ bpf(), maps

export function probeBpf(p: Platform): ProbeResult {
  return attempt(p, "bpf() syscall", (s) => {
    const prog = s.add(load(p, "probe_bpf", ProgType.SOCKET_FILTER));
    const info = prog.info();
    return ok("bpf() syscall", `loaded a socket filter (program id ${info.id})`);
  });
}

export function probeRingbuf(p: Platform): ProbeResult {
  const f = "ring buffer maps";
  return attempt(p, f, (s) => {
    const page = 4096;
    const map = s.add(
      mapCreate(p, {
        type: MapType.RINGBUF,
        keySize: 0,
        valueSize: 0,
        maxEntries: page,
        name: "probe_rb",
      }),
    );
    const cons = p.mmap(
      page,
      PROT_READ | PROT_WRITE,
      MAP_SHARED,
      map.fd,
      0,
      "mmap ring buffer consumer page",
    );
    s.add({ close: () => p.munmap(cons, page) });
    const prod = p.mmap(
      3 * page,
      PROT_READ,
      MAP_SHARED,
      map.fd,
      page,
      "mmap ring buffer producer and data pages",
    );
    s.add({ close: () => p.munmap(prod, 3 * page) });
    // A program that calls bpf_ringbuf_output on it: proves the helper, not just the map.
    const insns = encode([
      asm.stMem(op.BPF_DW, 10, -8, 0),
      ...asm.ldImm64(1, BigInt(map.fd), BPF_PSEUDO_MAP_FD),
      asm.mov64Reg(2, 10),
      asm.alu64Imm(op.BPF_ADD, 2, -8),
      asm.mov64Imm(3, 8),
      asm.mov64Imm(4, 0),
      asm.call(Helper.ringbuf_output),
      asm.mov64Imm(0, 0),
      asm.exit(),
    ]);
    s.add(load(p, "probe_rb_out", ProgType.TRACEPOINT, { insns }));
    return ok(f, "BPF_MAP_TYPE_RINGBUF created, mmapped, bpf_ringbuf_output accepted");
  });
}

/**
 * Whether the kernel knows BPF ring buffers (5.8+): one small map, created and closed. The
 * cheap question a tracer asks before choosing between a ring buffer and a perf buffer;
 * `probeRingbuf` is the full check (mmap and the output helper too). Only EINVAL (an unknown
 * map type) means no: any other refusal (EPERM, a memlock limit) is left for the real load to
 * report.
 */
export function hasRingbufMaps(p: Platform): boolean {
  try {
    const o = { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 };
    mapCreate(p, { ...o, name: "probe_rb" }).close();
    return true;
  } catch (e) {
    if (e instanceof SysError && errnoName(e.errno) === "EINVAL") return false;
    if (e instanceof SysError) return true;
    throw e;
  }
}

export function probePerfBuffer(p: Platform): ProbeResult {
  const f = "perf event arrays";
  return attempt(p, f, (s) => {
    s.add(mapCreate(p, {
      type: MapType.PERF_EVENT_ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: p.possibleCpus(),
      name: "probe_perfbuf",
    }));
    return ok(f, `BPF_MAP_TYPE_PERF_EVENT_ARRAY created (${p.possibleCpus()} CPUs)`);
  });
}

// ------------------------------------------------------------------ tracepoints

const TP = { category: "syscalls", name: "sys_enter_getpid" };

function openTracepoint(p: Platform, s: Scope): PerfEvent {
  const root = ensureTracefs(p);
  if (!root) {
    throw new TracerError("tracefs is not mounted and could not be mounted at /sys/kernel/tracing");
  }
  const id = tracepointId(TP.category, TP.name, root);
  if (id === null) throw new TracerError(`${root}/events/${TP.category}/${TP.name}/id not found`);
  return s.add(tracepointEvent(p, id, `${TP.category}/${TP.name}`));
}

export function probeTracepoints(p: Platform): ProbeResult {
  const f = "tracepoints";
  return attempt(p, f, (s) => {
    const ev = openTracepoint(p, s);
    const prog = s.add(load(p, "probe_tp", ProgType.TRACEPOINT));
    ev.setBpf(prog.fd);
    ev.enable();
    return ok(f, `attached to ${TP.category}/${TP.name} (perf event + PERF_EVENT_IOC_SET_BPF)`);
  });
}

export function probePerfLink(p: Platform): ProbeResult {
  const f = "perf event links";
  return attempt(p, f, (s) => {
    const ev = openTracepoint(p, s);
    const prog = s.add(load(p, "probe_tp_link", ProgType.TRACEPOINT));
    s.add(linkCreate(p, prog.fd, ev.fd, AttachType.PERF_EVENT, { what: "program probe_tp_link" }));
    return ok(f, `BPF_LINK_CREATE on a perf event (${TP.category}/${TP.name})`);
  });
}

export function probeRawTracepoint(p: Platform): ProbeResult {
  const f = "raw tracepoints";
  return attempt(p, f, (s) => {
    const prog = s.add(load(p, "probe_raw_tp", ProgType.RAW_TRACEPOINT));
    s.add(rawTracepointOpen(p, "sched_switch", prog.fd));
    return ok(f, "attached to sched_switch");
  });
}

export function probeTpBtf(p: Platform): ProbeResult {
  const f = "tp_btf";
  const t = btfId(p, ["btf_trace_sched_switch"], Kind.TYPEDEF);
  if (!t) return no(f, "no btf_trace_sched_switch typedef in kernel BTF");
  return attempt(p, f, (s) => {
    const prog = s.add(load(p, "probe_tp_btf", ProgType.TRACING, {
      expectedAttachType: AttachType.TRACE_RAW_TP,
      attachBtfId: t.id,
    }));
    s.add(rawTracepointOpen(p, null, prog.fd, "tp_btf sched_switch"));
    return ok(f, `attached to sched_switch (BTF id ${t.id})`);
  });
}

/** Kernel functions that fentry/fexit/kprobe probes try, in order. */
export const PROBE_FUNCS = ["do_unlinkat", "vfs_read", "do_sys_openat2"];

function probeTrampoline(p: Platform, f: string, attachType: number): ProbeResult {
  const fn = btfId(p, PROBE_FUNCS, Kind.FUNC);
  if (!fn) return no(f, `none of ${PROBE_FUNCS.join(", ")} found in kernel BTF`);
  return attempt(p, f, (s) => {
    const prog = s.add(load(p, `probe_${f}`, ProgType.TRACING, {
      expectedAttachType: attachType,
      attachBtfId: fn.id,
    }));
    s.add(rawTracepointOpen(p, null, prog.fd, `${f} ${fn.name}`));
    return ok(f, `attached to ${fn.name}`);
  });
}

export const probeFentry = (p: Platform) => probeTrampoline(p, "fentry", AttachType.TRACE_FENTRY);
export const probeFexit = (p: Platform) => probeTrampoline(p, "fexit", AttachType.TRACE_FEXIT);

export function probeKprobePmu(p: Platform): ProbeResult {
  const f = "kprobes (perf PMU)";
  const pmu = kprobePmu();
  if (!pmu) {
    return no(f, "no /sys/bus/event_source/devices/kprobe: kernel built without CONFIG_KPROBES");
  }
  const fn = btfId(p, PROBE_FUNCS, Kind.FUNC)?.name ?? PROBE_FUNCS[0];
  return attempt(p, f, (s) => {
    const prog = s.add(load(p, "probe_kprobe", ProgType.KPROBE));
    const ev = s.add(kprobeEvent(p, pmu.type, fn));
    // As the kprobe link does: a BPF link (5.15+), else PERF_EVENT_IOC_SET_BPF.
    try {
      s.add(linkCreate(p, prog.fd, ev.fd, AttachType.PERF_EVENT, { what: "program probe_kprobe" }));
      return ok(f, `attached to ${fn} (PMU type ${pmu.type}, BPF link)`);
    } catch (e) {
      if (!(e instanceof SysError) || e.errnoName !== "EINVAL") throw e;
    }
    ev.setBpf(prog.fd);
    ev.enable();
    return ok(f, `attached to ${fn} (PMU type ${pmu.type}, PERF_EVENT_IOC_SET_BPF)`);
  });
}

export function probeKprobeTracefs(p: Platform): ProbeResult {
  const f = "kprobes (tracefs)";
  let root;
  try {
    root = ensureTracefs(p);
  } catch (e) {
    return no(f, (e as Error).message, "EACCES");
  }
  if (!root) return no(f, "tracefs not mounted");
  const path = `${root}/kprobe_events`;
  if (!exists(path)) return no(f, `${path} missing: kernel built without CONFIG_KPROBE_EVENTS`);
  try {
    readText(path);
  } catch (e) {
    const code = (e as { code?: string }).code ?? "error";
    return no(f, `${path}: ${code}`, code);
  }
  return ok(f, `${path} present`);
}

/**
 * Which syscall tracepoints `tracer open` attaches exist here: openat is needed; open (absent
 * on arm64 and other newer architectures) and openat2 (5.6+) are skipped where missing.
 */
export function probeOpenSyscalls(p: Platform): ProbeResult {
  const f = "open syscall tracepoints";
  let present: string[];
  try {
    const root = ensureTracefs(p);
    if (!root) return no(f, "tracefs not mounted");
    const has = (sys: string) =>
      tracepointId("syscalls", `sys_enter_${sys}`, root) !== null &&
      tracepointId("syscalls", `sys_exit_${sys}`, root) !== null;
    present = ["openat", "open", "openat2"].filter(has);
  } catch (e) {
    return no(f, (e as Error).message, "EACCES");
  }
  const absent = ["open", "openat2"].filter((s) => !present.includes(s));
  const detail = present.join(", ") +
    (absent.length ? `; ${absent.join(", ")} not on this kernel (tracer open skips them)` : "");
  if (!present.includes("openat")) return no(f, `no syscalls/sys_enter_openat: ${detail}`);
  return ok(f, detail);
}

/**
 * bpf_loop (5.17+): a tracepoint program that calls it with a callback subprogram. The
 * tracers' loops (exec -x's argv walk, open -F's path walk) use it where it loads and a bounded
 * loop of the same steps where it does not.
 */
export function probeBpfLoop(p: Platform): ProbeResult {
  const f = "bpf_loop";
  return attempt(p, f, (s) => {
    const insns = encode([
      asm.mov64Imm(1, 4), // iterations
      // The callback (instruction 8), relative to the instruction after this one (2).
      ...asm.ldImm64(2, 6n, BPF_PSEUDO_FUNC),
      asm.mov64Imm(3, 0),
      asm.mov64Imm(4, 0),
      asm.call(Helper.loop),
      asm.mov64Imm(0, 0),
      asm.exit(),
      asm.mov64Imm(0, 0), // callback(index, ctx): go on
      asm.exit(),
    ]);
    // A callback must be a static function the program's BTF (func_info) describes.
    const b = new BtfBuilder();
    const int = b.add({ kind: Kind.INT, name: "int", size: 4, encoding: 1, offset: 0, bits: 32 });
    const proto = b.add({ kind: Kind.FUNC_PROTO, name: "", returnType: int, params: [] });
    const main = b.add({ kind: Kind.FUNC, name: "probe_loop", type: proto, linkage: 1 });
    const cb = b.add({ kind: Kind.FUNC, name: "probe_loop_cb", type: proto, linkage: 0 });
    const btf = s.add(btfLoad(p, b.build(), "the bpf_loop probe's BTF"));
    const funcInfo = new Uint8Array(16);
    new Uint32Array(funcInfo.buffer).set([0, main, 8, cb]);
    s.add(progLoad(p, {
      type: ProgType.TRACEPOINT,
      insns,
      license: "GPL",
      name: "probe_loop",
      progBtfFd: btf.fd,
      funcInfo: { recSize: 8, bytes: funcInfo },
    }));
    return ok(f, "a program calling bpf_loop with a callback loaded");
  });
}

/** Whether bpf_loop loads here (probeBpfLoop), asked once per process. */
let bpfLoop: boolean | undefined;
export function hasBpfLoop(p: Platform): boolean {
  return bpfLoop ??= probeBpfLoop(p).available;
}

/**
 * Whether bpf_ktime_get_boot_ns (5.8+) loads: the tracers stamp records with it, or where it
 * is missing with bpf_ktime_get_ns plus the boot clock's lead. Asked once per process.
 */
let bootClockHelper: boolean | undefined;
export function hasBootClockHelper(p: Platform): boolean {
  if (bootClockHelper !== undefined) return bootClockHelper;
  const insns = encode([asm.call(Helper.ktime_get_boot_ns), asm.mov64Imm(0, 0), asm.exit()]);
  try {
    load(p, "probe_boot_ns", ProgType.TRACEPOINT, { insns }).close();
    bootClockHelper = true;
  } catch (e) {
    // Only EINVAL (an unknown helper) means no; any other refusal is the real load's to report.
    if (!(e instanceof SysError)) throw e;
    bootClockHelper = e.errnoName !== "EINVAL";
  }
  return bootClockHelper;
}

/** The active LSMs (securityfs' lsm file, mounting securityfs if needed), or null if unknown. */
export function activeLsms(p: Platform): string[] | null {
  const path = "/sys/kernel/security/lsm";
  if (!exists(path)) mountFs(p, "securityfs", "/sys/kernel/security");
  try {
    return readText(path).trim().split(",").filter((x) => x !== "");
  } catch {
    return null;
  }
}

export function probeLsm(p: Platform): ProbeResult {
  const f = "BPF LSM";
  const fn = btfId(p, ["bpf_lsm_file_open"], Kind.FUNC);
  if (!fn) return no(f, "no bpf_lsm_file_open in kernel BTF: kernel built without CONFIG_BPF_LSM");
  const r = attempt(p, f, (s) => {
    s.add(load(p, "probe_lsm", ProgType.LSM, {
      expectedAttachType: AttachType.LSM_MAC,
      attachBtfId: fn.id,
    }));
    // Loading is the probe: attaching would run on every open in the system.
    return ok(f, "loaded an LSM program for file_open");
  });
  if (!r.available) return r;
  // A loaded LSM program only runs when "bpf" is among the active LSMs (lsm= boot option).
  const lsms = activeLsms(p);
  if (lsms === null) return { ...r, detail: `${r.detail}; active LSM list unreadable` };
  if (!lsms.includes("bpf")) {
    return no(
      f,
      `${r.detail}, but "bpf" is not an active LSM (${lsms.join(",")}): boot with lsm=...,bpf`,
    );
  }
  return ok(f, `${r.detail}; active LSMs ${lsms.join(",")}`);
}
