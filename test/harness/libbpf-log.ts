// Runs Debian's libbpf on a BPF object against a target BTF (test/harness/core_harness.c,
// compiled on first use) and parses its debug log into per-relocation decisions.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";

export interface LibbpfDecision {
  program: string;
  relo: number;
  insn: number | null;
  /** New value (u64 as printed by libbpf), null when poisoned. */
  new: bigint | null;
  poisoned: boolean;
  memSize: { old: number; new: number } | null;
  /** Type id of the first matching candidate, null when none matched. */
  targetType: number | null;
}

export interface LibbpfRun {
  decisions: LibbpfDecision[];
  /** The relocation libbpf failed on, when it failed. */
  failure: { program: string; relo: number; line: string } | null;
  log: string;
}

let harness: string | null = null;

/**
 * Compiles the harness (cc + -lbpf from libbpf-dev) into .cache/core-harness/, again only
 * when its source is newer; built under a temporary name and renamed, so concurrent runs
 * never see a half-written binary.
 */
export function harnessPath(): string {
  if (harness) return harness;
  const src = new URL("./core_harness.c", import.meta.url).pathname;
  const dir = new URL("../../.cache/core-harness/", import.meta.url).pathname;
  const out = join(dir, "core_harness");
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync("cc", ["-O1", "-o", tmp, src, "-lbpf"], { stdio: ["ignore", "pipe", "pipe"] });
    renameSync(tmp, out);
  }
  harness = out;
  return out;
}

const RE_PROG = /^libbpf: prog '([^']+)': relo #(\d+): (.*)$/;

export function parseLibbpfLog(log: string): LibbpfRun {
  const byKey = new Map<string, LibbpfDecision>();
  const decisions: LibbpfDecision[] = [];
  let failure: LibbpfRun["failure"] = null;
  const get = (program: string, relo: number): LibbpfDecision => {
    const key = `${program}#${relo}`;
    let d = byKey.get(key);
    if (!d) {
      d = {
        program,
        relo,
        insn: null,
        new: null,
        poisoned: false,
        memSize: null,
        targetType: null,
      };
      byKey.set(key, d);
      decisions.push(d);
    }
    return d;
  };
  for (const line of log.split("\n")) {
    const m = RE_PROG.exec(line);
    if (!m) continue;
    const [, program, reloStr, rest] = m;
    const relo = Number(reloStr);
    let x: RegExpExecArray | null;
    if ((x = /^patched insn #(\d+) \([^)]*\) (?:imm|off|imm64) (\d+) -> (\d+)$/.exec(rest))) {
      const d = get(program, relo);
      d.insn = Number(x[1]);
      d.new = BigInt(x[3]);
    } else if ((x = /^patched insn #(\d+) \(LDX\/ST\/STX\) mem_sz (\d+) -> (\d+)$/.exec(rest))) {
      get(program, relo).memSize = { old: Number(x[2]), new: Number(x[3]) };
    } else if ((x = /^substituting insn #(\d+) w\/ invalid insn$/.exec(rest))) {
      const d = get(program, relo);
      const i = Number(x[1]);
      d.insn = d.insn === null ? i : Math.min(d.insn, i);
      d.poisoned = true;
    } else if ((x = /^matching candidate #\d+ <[a-z_0-9]+> \[(\d+)\]/.exec(rest))) {
      const d = get(program, relo);
      if (d.targetType === null) d.targetType = Number(x[1]);
    } else if (/^<[a-z_0-9]+> \[\d+\]/.test(rest)) {
      get(program, relo);
    } else if (/failed to relocate|failed to patch insn|failed to record/.test(rest)) {
      failure ??= { program, relo, line };
    }
  }
  return { decisions, failure, log };
}

/** Map sizes for the harness: {name: [max_entries, value_size]}, 0 keeps the object's. */
export type MapSizes = Record<string, [number, number]>;

const sizeArgs = (sizes: MapSizes) => Object.entries(sizes).map(([m, [n, v]]) => `${m}=${n}:${v}`);

/** Runs libbpf on `object` with btf_custom_path = `targetBtf`, maps sized by `sizes`. */
export function runLibbpf(object: string, targetBtf: string, sizes: MapSizes = {}): LibbpfRun {
  const log = execFileSync(harnessPath(), [object, targetBtf, ...sizeArgs(sizes)], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return parseLibbpfLog(log);
}

export interface LibbpfLoadRun {
  /** errno of each program's load alone (0: loaded), in the object's program order. */
  programs: { name: string; errno: number }[];
  /** The maps as the kernel had them after the first program that loaded (none: no load). */
  maps: {
    name: string;
    type: number;
    key: number;
    value: number;
    maxEntries: number;
    flags: number;
  }[];
  /** The .kconfig map's value in hex after that load (the kconfig externs' values), or null. */
  kconfig: string | null;
}

/**
 * Loads each program of `object` alone with libbpf on the running kernel (core_harness --load),
 * after sizing the maps of `sizes` ({name: [max_entries, value_size]}, 0 keeps the object's).
 */
export function runLibbpfLoad(object: string, sizes: MapSizes = {}): LibbpfLoadRun {
  const out = execFileSync(harnessPath(), ["--load", object, ...sizeArgs(sizes)], {
    encoding: "utf8",
    maxBuffer: 16 << 20,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const run: LibbpfLoadRun = { programs: [], maps: [], kconfig: null };
  for (const line of out.split("\n")) {
    let m: RegExpExecArray | null;
    if ((m = /^HARNESS: prog (\S+) errno (\d+)$/.exec(line))) {
      run.programs.push({ name: m[1], errno: Number(m[2]) });
    } else if (
      (m = /^HARNESS: map (\S+) type (\d+) key (\d+) value (\d+) max_entries (\d+) flags (\d+)$/
        .exec(line))
    ) {
      run.maps.push({
        name: m[1],
        type: Number(m[2]),
        key: Number(m[3]),
        value: Number(m[4]),
        maxEntries: Number(m[5]),
        flags: Number(m[6]),
      });
    } else if ((m = /^HARNESS: kconfig ([0-9a-f]*)$/.exec(line))) {
      run.kconfig = m[1];
    } else if (line.startsWith("HARNESS:")) {
      throw new Error(`core_harness --load ${object}: ${line}`);
    }
  }
  return run;
}
