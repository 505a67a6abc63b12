// Test helpers: privilege and kernel-feature gates. Under CI=true a missing requirement
// fails the test; elsewhere it skips it with the reason.

import process from "node:process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasBpfPrivileges } from "../src/kernel/probes.ts";

export const IN_CI = process.env.CI === "true";

function capEff(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? BigInt("0x" + m[1]) : 0n;
  } catch {
    return 0n;
  }
}

/** Why this process cannot run kernel tests, or null when it can. */
export function missingKernelRequirements(): string | null {
  if (!hasBpfPrivileges(capEff())) return "needs root or CAP_BPF+CAP_PERFMON";
  if (!existsSync("/sys/kernel/btf/vmlinux")) return "needs kernel BTF at /sys/kernel/btf/vmlinux";
  return null;
}

/**
 * Options for node:test's `test()`: `{ skip: reason }` outside CI when the kernel
 * requirements are missing. In CI nothing is skipped, so the test runs and fails.
 */
export function kernelTest(): { skip?: string } {
  const missing = missingKernelRequirements();
  if (missing && !IN_CI) return { skip: missing };
  return {};
}

/** A new directory under the system's temporary directory, removed when the test process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // still mounted, or busy: left for the system's cleaner
    }
  };
  // Bun's test runner ends with the process's "exit"; Deno's with the global "unload" event.
  process.on("exit", remove);
  globalThis.addEventListener?.("unload", remove);
  return dir;
}
