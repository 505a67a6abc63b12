// Test helper (not a test): the cgroup hierarchies mounted here, which one the tracer names a
// task's cgroup by, and synthetic cgroups (named as container runtimes name them, see
// test/cgroup-names.ts) with workloads run inside them.
//
// Which hierarchy the tracer uses (the `cgroup` field): cgroup v2 when no v1 hierarchy carries
// a controller (pure v2, or v2 beside a controller-less name=systemd v1 hierarchy); otherwise
// the v1 `memory` hierarchy, else the first v1 hierarchy with a controller in mount order
// (this machine: hybrid, v1 controllers under /sys/fs/cgroup/*, v2 at /sys/fs/cgroup/unified).
//
// Synthetic cgroups live under one test-unique parent, `/tracer-test-<pid>-<n>` by default, at the
// root of each hierarchy (not under the test's own cgroup, which belongs to whoever started
// the test): `sandbox.create("/docker/<id>")` makes `/tracer-test-<pid>-<n>/docker/<id>`. A real
// runtime makes the same name at the root; that it also appears below another cgroup is real
// too (Docker in Docker, kind's kubelet inside a node container, rootless Podman under
// user@UID.service), so a parser must find the runtime's pattern at any depth. The same path is
// made in every mounted hierarchy by default, as runc and Podman do (their workloads show one
// path on every line of /proc/PID/cgroup); `{ only: "tracer" }` makes it in the tracer's alone.

import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { IN_CI } from "./env.ts";

export interface Hierarchy {
  version: 1 | 2;
  /** v1: the controllers or `name=X` it carries, sorted, as /proc/PID/cgroup lists them; v2: []. */
  controllers: string[];
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory. */
  mount: string;
}

const MOUNT_OPTIONS = new Set([
  "rw",
  "ro",
  "noprefix",
  "xattr",
  "clone_children",
  "cpuset_v2_mode",
]);

/** Every mounted cgroup hierarchy (each once), in mount order (of /proc/self/mountinfo text). */
export function hierarchies(
  mountinfo: string = readFileSync("/proc/self/mountinfo", "utf8"),
): Hierarchy[] {
  const seen = new Set<string>();
  const out: Hierarchy[] = [];
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    if (dash < 0) continue;
    const [fstype, , superOptions] = f.slice(dash + 1);
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const controllers = fstype === "cgroup2" ? [] : superOptions.split(",")
      .filter((o) => !MOUNT_OPTIONS.has(o) && !o.startsWith("release_agent=")).sort();
    const key = `${fstype}:${controllers.join(",")}`;
    if (seen.has(key)) continue; // the same hierarchy mounted twice
    seen.add(key);
    out.push({ version: fstype === "cgroup2" ? 2 : 1, controllers, mount: f[4] });
  }
  return out;
}

/**
 * Options for node:test's `test()`, like env.ts's kernelTest(): making cgroups needs root;
 * without it `{ skip }` outside CI, and in CI the test runs and fails.
 */
export function cgroupTest(): { skip?: string } {
  if (process.getuid?.() !== 0 && !IN_CI) return { skip: "needs root (makes cgroups)" };
  return {};
}

const isController = (c: string) => !c.startsWith("name=");

/** The hierarchy the tracer names cgroups by (see the header). */
export function tracerHierarchy(all: Hierarchy[] = hierarchies()): Hierarchy {
  const v1 = all.filter((h) => h.version === 1 && h.controllers.some(isController));
  const chosen = v1.length === 0
    ? all.find((h) => h.version === 2)
    : v1.find((h) => h.controllers.includes("memory")) ?? v1[0];
  if (!chosen) throw new Error("no cgroup hierarchy is mounted");
  return chosen;
}

/** A /proc/PID/cgroup line's key for a hierarchy: "0" for v2, the sorted controllers for v1. */
const keyOf = (h: Hierarchy) => h.version === 2 ? "" : h.controllers.join(",");

/**
 * A task's cgroup in each hierarchy, from /proc/PID/cgroup text: key "" is v2, else the sorted
 * controllers of a v1 hierarchy (what hierarchyPath() looks up).
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const key = match[1] === "0" ? "" : match[2].split(",").sort().join(",");
    m.set(key, match[3]);
  }
  return m;
}

/** The path /proc/PID/cgroup text gives for hierarchy h (undefined when it names none). */
export function hierarchyPath(text: string, h: Hierarchy): string | undefined {
  return parseProcCgroup(text).get(keyOf(h));
}

/** The cgroup of process `pid` in the tracer's hierarchy, as the tracer must report it. */
export function tracerCgroupOf(pid: number | "self"): string {
  const path = hierarchyPath(readFileSync(`/proc/${pid}/cgroup`, "utf8"), tracerHierarchy());
  if (path === undefined) throw new Error(`/proc/${pid}/cgroup names no tracer hierarchy`);
  return path;
}

/**
 * The cgroup v2 id (its directory's inode: what bpf_get_current_cgroup_id() returns and records'
 * `cgroup_id` carry) of the task whose /proc/PID/cgroup text is given, or null without v2.
 */
export function v2CgroupId(procCgroupText: string): number | null {
  const v2 = hierarchies().find((h) => h.version === 2);
  const path = v2 && hierarchyPath(procCgroupText, v2);
  return path === undefined ? null : statSync(join(v2!.mount, path)).ino;
}

/** A cgroup made by a CgroupSandbox: its path (as the tracer reports it) and its directories. */
export interface SyntheticCgroup {
  /** Relative to each hierarchy's root: the sandbox prefix + the name given to create(). */
  path: string;
  /** Its directory in each hierarchy it was made in. */
  dirs: string[];
  /** Its cgroup v2 id (records' cgroup_id) when made in the v2 hierarchy, else null. */
  v2Id: number | null;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const PREFIX_RE = /^tracer-test-(\d+)(-\d+)?$/;
let sandboxes = 0;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

/**
 * Cgroups under one test-unique parent in every hierarchy (or the tracer's alone); remove()
 * kills whatever still runs in them and removes every directory made, deepest first.
 */
export class CgroupSandbox {
  readonly prefix: string;
  readonly hierarchies: Hierarchy[];
  /** Directories made, in creation order. */
  #made: string[] = [];

  constructor(opts: { prefix?: string; only?: "tracer" } = {}) {
    this.prefix = opts.prefix ?? `/tracer-test-${process.pid}-${++sandboxes}`;
    this.hierarchies = opts.only === "tracer" ? [tracerHierarchy()] : hierarchies();
  }

  /** Makes `name` (e.g. "/docker/<id>") under the prefix in each hierarchy. */
  create(name: string): SyntheticCgroup {
    if (!name.startsWith("/")) throw new Error(`cgroup name must start with "/": ${name}`);
    const path = (this.prefix + name).replace(/\/+$/, "") || "/";
    const dirs = this.hierarchies.map((h) => {
      let dir = h.mount;
      for (const part of path.split("/").filter((p) => p)) {
        const parent = dir;
        dir = join(dir, part);
        if (existsSync(dir)) continue;
        mkdirSync(dir);
        this.#made.push(dir);
        // A v1 cpuset cgroup starts with no CPUs and no memory nodes: no task may join it.
        if (h.version === 1 && h.controllers.includes("cpuset")) {
          for (const f of ["cpuset.cpus", "cpuset.mems"]) {
            writeFileSync(join(dir, f), readFileSync(join(parent, f), "utf8").trim() || "\n");
          }
        }
      }
      return dir;
    });
    const v2 = this.hierarchies.findIndex((h) => h.version === 2);
    return { path, dirs, v2Id: v2 < 0 ? null : statSync(dirs[v2]).ino };
  }

  /**
   * argv that moves itself into `cg` in each of its hierarchies, then execs `argv`: a /bin/sh
   * whose own exec happens in the caller's cgroup; argv[0]'s exec and all after, in `cg`.
   * Exit status 125: a move failed.
   */
  command(cg: SyntheticCgroup, argv: string[]): string[] {
    const procs = cg.dirs.map((d) => quote(join(d, "cgroup.procs"))).join(" ");
    const script = `for f in ${procs}; do echo $$ > "$f" || exit 125; done; exec "$@"`;
    return ["/bin/sh", "-c", script, "sh", ...argv];
  }

  /** Runs `argv` to completion inside `cg`. */
  run(
    cg: SyntheticCgroup,
    argv: string[],
    opts: { input?: string; timeout?: number } = {},
  ): SpawnSyncReturns<string> {
    const [cmd, ...args] = this.command(cg, argv);
    return spawnSync(cmd, args, { encoding: "utf8", timeout: opts.timeout ?? 30_000, ...opts });
  }

  /** Starts `argv` inside `cg` in the background (stdio piped). */
  spawn(cg: SyntheticCgroup, argv: string[]) {
    const [cmd, ...args] = this.command(cg, argv);
    return spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  }

  /**
   * Kills (SIGKILL) every process still in a cgroup this sandbox made, waits until they have
   * left, and removes the directories, deepest first. Throws, naming what it could not remove,
   * after trying them all.
   */
  async remove(): Promise<void> {
    const failed = await removeDirs(this.#made.slice().reverse());
    this.#made = [];
    if (failed.length) throw new Error(`cgroups not removed: ${failed.join("; ")}`);
  }
}

/** Kills each dir's processes and rmdirs it (the list must be deepest first). */
async function removeDirs(dirs: string[]): Promise<string[]> {
  const failed: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (let attempt = 0;; attempt++) {
      const pids = readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")
        .filter((p) => p).map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        // EBUSY while a killed task is still exiting.
        if (attempt === 100) {
          failed.push(`${dir}: ${(e as Error).message}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  return failed;
}

/**
 * Removes the sandboxes (`/tracer-test-<pid>[-<n>]` at each hierarchy's root) left by test processes
 * that no longer run (killed before their cleanup ran). Returns what it removed.
 */
export async function removeStaleSandboxes(): Promise<string[]> {
  const removed: string[] = [];
  for (const h of hierarchies()) {
    for (const name of readdirSync(h.mount)) {
      const m = PREFIX_RE.exec(name);
      if (!m || alive(Number(m[1]))) continue;
      const top = join(h.mount, name);
      const failed = await removeDirs(subdirsDeepestFirst(top));
      if (failed.length) throw new Error(`stale cgroups not removed: ${failed.join("; ")}`);
      removed.push(top);
    }
  }
  return removed;
}

function subdirsDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...subdirsDeepestFirst(join(dir, e.name)));
  }
  out.push(dir);
  return out;
}
