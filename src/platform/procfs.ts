// Facts read from /proc and /sys, shared by both back ends.

import { readText } from "./files.ts";

/** Parses a CPU list such as "0-3,8-11" (as in /sys/devices/system/cpu/possible). */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(",")) {
    if (part === "") continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`bad CPU list '${text.trim()}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) cpus.push(c);
  }
  return cpus;
}

/** Number of possible CPUs: the highest possible CPU id + 1 (what per-CPU maps size by). */
export function possibleCpus(): number {
  const cpus = parseCpuList(readText("/sys/devices/system/cpu/possible"));
  return cpus.length === 0 ? 1 : Math.max(...cpus) + 1;
}

/** Real and effective uid and the effective capability mask, from /proc/self/status. */
export function parseStatus(status: string): { uid: number; euid: number; capEff: bigint } {
  const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  const cap = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(status);
  return {
    uid: uid ? Number(uid[1]) : -1,
    euid: uid ? Number(uid[2]) : -1,
    capEff: cap ? BigInt("0x" + cap[1]) : 0n,
  };
}

export function identity(): { uid: number; euid: number; capEff: bigint } {
  return parseStatus(readText("/proc/self/status"));
}
