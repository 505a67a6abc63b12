// RLIMIT_MEMLOCK: kernels before 5.11 charge BPF maps and programs against it (newer ones
// charge the memory cgroup), and its default (64 KiB or 8 MiB) is too small for a 4 MiB ring
// buffer. Like libbpf, probe for memcg accounting rather than trusting the version number:
// bpf_ktime_get_coarse_ns arrived in the same release (5.11), so a program calling it loads
// exactly where the rlimit no longer matters.

import { asm, encode } from "../asm/insn.ts";
import { SysError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { progLoad } from "./bpf.ts";
import { ProgType } from "./constants.ts";

export const RLIMIT_MEMLOCK = 8;
export const RLIM_INFINITY = (1n << 64n) - 1n;
const BPF_FUNC_ktime_get_coarse_ns = 160;

/** Does this kernel charge BPF memory to the memory cgroup (5.11+) rather than RLIMIT_MEMLOCK? */
export function kernelChargesMemcg(p: Platform): boolean {
  try {
    const prog = progLoad(p, {
      type: ProgType.SOCKET_FILTER,
      insns: encode([asm.call(BPF_FUNC_ktime_get_coarse_ns), asm.mov64Imm(0, 0), asm.exit()]),
      license: "GPL",
      name: "probe_memcg",
    });
    prog.close();
    return true;
  } catch (e) {
    if (e instanceof SysError && e.errno !== 1 /* EPERM: we cannot tell */) return false;
    throw e;
  }
}

let settled = false;

/**
 * Raises RLIMIT_MEMLOCK where the kernel still charges it (or when `force`d), once per process:
 * to infinity, or, without CAP_SYS_RESOURCE, the soft limit up to the hard one. Returns whether
 * the limit changed.
 */
export function raiseMemlockIfCharged(p: Platform, force = false): boolean {
  if (settled && !force) return false;
  settled = true;
  if (!force && kernelChargesMemcg(p)) return false;
  const { soft, hard } = p.getRlimit(RLIMIT_MEMLOCK);
  if (soft === RLIM_INFINITY) return false;
  try {
    p.setRlimit(RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY, "setrlimit(RLIMIT_MEMLOCK)");
  } catch (e) {
    if (!(e instanceof SysError) || e.errno !== 1 /* EPERM: no CAP_SYS_RESOURCE */) throw e;
    if (soft === hard) return false;
    p.setRlimit(RLIMIT_MEMLOCK, hard, hard, "setrlimit(RLIMIT_MEMLOCK) to the hard limit");
  }
  return true;
}
