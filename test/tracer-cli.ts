// Test helpers for the tracer commands run end to end by this runtime (src/main.ts): a run to
// completion, a run in the background until its ready line, and the ids the kernel gives
// this process's cgroup and mount namespace (what records must carry).

import { tracerCgroupOf, tracerHierarchy } from "./cgroups.ts";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import process from "node:process";
import assert from "node:assert/strict";
import { type OurIds, stillLoaded } from "./loader-ids.ts";
import type { Platform } from "../src/platform/types.ts";

export const ROOT = resolve(import.meta.dirname ?? ".", "..");

/** argv for running `tracer COMMAND ARGS` with this runtime. */
export function tracerArgv(command: string, args: string[]): string[] {
  const bun = process.versions.bun !== undefined;
  return bun
    ? [join(ROOT, "src/main.ts"), command, ...args]
    : ["run", "-A", join(ROOT, "src/main.ts"), command, ...args];
}

/**
 * The environment the tracer runs in: this one without sudo's SUDO_UID/SUDO_GID (with them,
 * `-- CMD` would run as the user who ran sudo, and the workloads need root), plus `extra`.
 */
export function tracerEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && k !== "SUDO_UID" && k !== "SUDO_GID") env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * The program and argv that run `tracer COMMAND ARGS`: this runtime on src/main.ts, or the
 * compiled binary named by TRACER_BIN (scripts/test.sh runs the exact-records tests with it).
 */
export function tracerCommandLine(command: string, args: string[]): [string, string[]] {
  const bin = process.env.TRACER_BIN;
  if (bin) return [bin, [command, ...args]];
  return [process.execPath, tracerArgv(command, args)];
}

/** Runs `tracer COMMAND ARGS` to completion; runtimeComm is the tracer process's comm. */
export function runTracer(
  command: string,
  args: string[],
  timeout = 60_000,
  env: Record<string, string> = tracerEnv(),
) {
  const [cmd, argv] = tracerCommandLine(command, args);
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout, cwd: ROOT, env });
  return { ...r, runtimeComm: basename(cmd).slice(0, 15) };
}

/**
 * Starts `tracer COMMAND ARGS` in the background (in `env`, tracerEnv() by default); `ready`
 * resolves on its ready line.
 */
export function backgroundTracer(
  command: string,
  args: string[],
  env: Record<string, string> = tracerEnv(),
) {
  const [cmd, argv] = tracerCommandLine(command, args);
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => stdout += d);
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  const ready = new Promise<void>((res, rej) => {
    child.stderr!.on("data", (d) => {
      stderr += d;
      // "tracer: tracing exec (...)"; tracer watch: "tracer: tracing exec, open, connect (...)".
      if (stderr.includes("tracer: tracing ")) res();
    });
    child.on("exit", () => rej(new Error(`tracer exited before ready: ${stderr}`)));
  });
  return { child, ready, exited, out: () => stdout, err: () => stderr };
}

/**
 * The id of process `pid`'s cgroup in the hierarchy the tracer reports (test/cgroups.ts), i.e.
 * its directory's inode number: records' cgroup_id.
 */
export function cgroupId(pid: number | "self" = "self"): number {
  return statSync(join(tracerHierarchy().mount, tracerCgroupOf(pid))).ino;
}

/**
 * Process `pid` and its ancestors up to init (pid 1), from /proc: [{pid, comm}], the order of
 * exec records' `ancestors`.
 */
export function procAncestors(pid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (let p = pid; p > 0;) {
    const stat = readFileSync(`/proc/${p}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    out.push({ pid: p, comm: stat.slice(stat.indexOf("(") + 1, close) });
    if (p === 1) break;
    p = Number(stat.slice(close + 2).split(" ")[1]);
  }
  return out;
}

/** The container fields of a record of this process (not in a container). */
export function ownContext(): { cgroup: string; container_id: null; pod_uid: null } {
  return { cgroup: tracerCgroupOf("self"), container_id: null, pod_uid: null };
}

/** The inode number of this process's mount namespace. */
export function mntns(): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/mnt"))![1]);
}

/** JSON lines of a tracer's output. */
export const jsonLines = (text: string) =>
  text.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));

/** Standard base64 of a string's UTF-8 bytes or of bytes. */
export const b64 = (s: string | Uint8Array) =>
  btoa(String.fromCharCode(...(typeof s === "string" ? new TextEncoder().encode(s) : s)));

/** Compiles a C file with cc; returns the output path. */
export function compile(source: string, out: string, flags: string[] = ["-O1"]): string {
  const cc = spawnSync("cc", [...flags, "-Wall", "-o", out, source], { encoding: "utf8" });
  if (cc.status !== 0) throw new Error(`cc ${source} failed: ${cc.stderr}`);
  return out;
}

type Background = ReturnType<typeof backgroundTracer>;

/**
 * The BPF program, map and link ids process `pid` holds fds of (/proc/PID/fdinfo): exactly the
 * tracer's own objects, whatever other processes load meanwhile.
 */
export function processIds(pid: number): OurIds {
  const ids: OurIds = { progs: [], maps: [], links: [] };
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info = "";
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    } catch {
      continue; // closed meanwhile
    }
    // A link's fdinfo also names its program: link_id first.
    const id = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)$`, "m").exec(info)?.[1]);
    if (id("link_id")) ids.links.push(id("link_id"));
    else if (id("prog_id")) ids.progs.push(id("prog_id"));
    else if (id("map_id")) ids.maps.push(id("map_id"));
  }
  return ids;
}

/**
 * Every way a tracer run ends (SIGINT, SIGTERM, -c 1, -d 0.3, the perf buffer then SIGINT, a
 * closed stdout), each started in the background; after each, none of the programs, maps or
 * links it created may remain in the kernel. `trigger` makes one event of this tracer's kind;
 * `sigtermArgs` are extra options for the SIGTERM run (to cover more programs).
 */
export async function assertNoLeftovers(
  p: Platform,
  command: string,
  trigger: () => void,
  sigtermArgs: string[] = [],
): Promise<void> {
  const endings: [string, string[], (t: Background) => void][] = [
    ["SIGINT", [], (t) => process.kill(t.child.pid!, "SIGINT")],
    ["SIGTERM", sigtermArgs, (t) => process.kill(t.child.pid!, "SIGTERM")],
    ["-c 1", ["-c", "1"], trigger],
    ["-d 0.3", ["-d", "0.3"], () => {}],
    ["--buffer perf, SIGINT", ["--buffer", "perf"], (t) => {
      trigger();
      process.kill(t.child.pid!, "SIGINT");
    }],
    ["closed pipe", [], (t) => {
      t.child.stdout!.destroy();
      trigger();
    }],
  ];
  for (const [name, args, end] of endings) {
    const t = backgroundTracer(command, ["--json", ...args]);
    await t.ready;
    const ours = processIds(t.child.pid!);
    // The tracer's own objects are visible while it runs: at least one program, the events
    // ring, stats and .rodata maps, and a link.
    assert.ok(ours.progs.length >= 1 && ours.maps.length >= 3 && ours.links.length >= 1, name);
    end(t);
    assert.equal(await t.exited, 0, `${command} ${name}: ${t.err()}`);
    assert.deepEqual(await stillLoaded(p, ours), { progs: [], maps: [], links: [] }, name);
  }
}

let bpfLoopSymbol: boolean | undefined;
/**
 * Whether the kernel has bpf_loop (5.17+), asked without the tracer's own probe: its symbol
 * in /proc/kallsyms. The tracers' argv and path walks use it where it exists.
 */
export function kernelHasBpfLoop(): boolean {
  return bpfLoopSymbol ??= / bpf_loop$/m.test(readFileSync("/proc/kallsyms", "utf8"));
}
