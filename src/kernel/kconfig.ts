// What libbpf's virtual and CONFIG_* kconfig externs are filled from, read from this kernel:
// its version code (as libbpf computes it: Ubuntu's /proc/version_signature, a Debian
// kernel's version string, else the release), whether BPF cookies and syscall wrappers exist
// (asked of the kernel, as libbpf does), and the kernel configuration text
// (/boot/config-$(uname -r), else /proc/config.gz). Each is read once, when first asked.

import { readFile, readTextOrNull } from "../platform/files.ts";
import { asm, encode } from "../asm/insn.ts";
import { SysError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { progLoad } from "./bpf.ts";
import { ProgType } from "./constants.ts";
import { kprobeEvent } from "./perf.ts";
import { kprobePmu } from "./tracefs.ts";

/** What kconfig externs are filled from (runningKernelKconfig; tests give their own). */
export interface KconfigSource {
  /** LINUX_KERNEL_VERSION, as KERNEL_VERSION(major, minor, patch); 0 when unknown. */
  kernelVersion(): number;
  /** LINUX_HAS_BPF_COOKIE. */
  bpfCookie(): boolean;
  /** LINUX_HAS_SYSCALL_WRAPPER. */
  syscallWrapper(): boolean;
  /** The kernel configuration text ("CONFIG_X=y" lines), null when none is readable. */
  config(): string | null;
}

/** libbpf's KERNEL_VERSION(a, b, c): the patch level saturates at 255. */
export function kernelVersionCode(major: number, minor: number, patch: number): number {
  return (major << 16) + (minor << 8) + Math.min(patch, 255);
}

/**
 * The version code from the texts libbpf reads: /proc/version_signature ("Ubuntu 5.4.0-12.15-generic
 * 5.4.8": its third field), utsname's version ("#1 SMP Debian 4.19.260-1 ..."), else the
 * release ("6.18.44-..."); 0 when none parses. Pure.
 */
export function versionFrom(
  signature: string | null,
  utsVersion: string,
  release: string,
): number {
  const triple = (s: string | undefined) => {
    const m = s ? /^(\d+)\.(\d+)\.(\d+)/.exec(s) : null;
    return m ? kernelVersionCode(Number(m[1]), Number(m[2]), Number(m[3])) : 0;
  };
  if (signature !== null) {
    const v = triple(signature.trim().split(/\s+/)[2]);
    if (v) return v;
  }
  const deb = /Debian (\d+\.\d+\.\d+)/.exec(utsVersion);
  if (deb) {
    const v = triple(deb[1]);
    if (v) return v;
  }
  return triple(release);
}

/** The kernel configuration: /boot/config-RELEASE (plain), else /proc/config.gz; null if neither. */
function readKernelConfig(release: string): string | null {
  const boot = readTextOrNull(`/boot/config-${release}`);
  if (boot !== null) return boot;
  try {
    // node:zlib is loaded only here: importing it at the top costs every start ~5 ms of CPU.
    const { gunzipSync } = process.getBuiltinModule("node:zlib");
    return new TextDecoder().decode(gunzipSync(readFile("/proc/config.gz")));
  } catch {
    return null;
  }
}

const BPF_FUNC_GET_ATTACH_COOKIE = 174;

/** libbpf's FEAT_BPF_COOKIE probe: a tracepoint program calling bpf_get_attach_cookie loads. */
function probeBpfCookie(p: Platform): boolean {
  try {
    progLoad(p, {
      type: ProgType.TRACEPOINT,
      insns: encode([asm.call(BPF_FUNC_GET_ATTACH_COOKIE), asm.exit()]),
      license: "GPL",
      name: "probe_cookie",
    }).close();
    return true;
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    return false;
  }
}

const SYSCALL_PREFIX: Record<string, string> = {
  x64: "x64",
  ia32: "ia32",
  arm64: "arm64",
  arm: "arm",
  s390x: "s390x",
  riscv64: "riscv",
  ppc64: "powerpc",
};

/**
 * libbpf's FEAT_SYSCALL_WRAPPER probe: a kprobe on __<arch>_sys_bpf can be made (through the
 * kprobe PMU). Without kprobes (no PMU) the answer is no.
 */
function probeSyscallWrapper(p: Platform): boolean {
  const pfx = SYSCALL_PREFIX[process.arch];
  const pmu = kprobePmu();
  if (!pfx || !pmu) return false;
  try {
    kprobeEvent(p, pmu.type, `__${pfx}_sys_bpf`).close();
    return true;
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    return false;
  }
}

/** This kernel's answers to kconfig externs, each computed on first use. */
export function runningKernelKconfig(p: Platform): KconfigSource {
  const release = (readTextOrNull("/proc/sys/kernel/osrelease") ?? "").trim();
  const once = <T>(f: () => T) => {
    let v: { value: T } | undefined;
    return () => (v ??= { value: f() }).value;
  };
  return {
    kernelVersion: once(() =>
      versionFrom(
        readTextOrNull("/proc/version_signature"),
        readTextOrNull("/proc/sys/kernel/version") ?? "",
        release,
      )
    ),
    bpfCookie: once(() => probeBpfCookie(p)),
    syscallWrapper: once(() => probeSyscallWrapper(p)),
    config: once(() => readKernelConfig(release)),
  };
}
