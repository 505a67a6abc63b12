// The cgroup hierarchy that names containers on this host, and the paths of its cgroups by id.
//
// A pure cgroup v2 host has one hierarchy. On hybrid hosts (v2 at /sys/fs/cgroup/unified, the
// controllers on v1) and v1 hosts, container runtimes create their cgroups in the v1
// controllers' hierarchies, so those name the container: the `memory` controller's, else the
// first v1 controller mounted. A cgroup's id (bpf_get_current_cgroup_id, kernfs_node.id) is its
// directory's inode number, so a walk of the mounted hierarchy maps ids to paths.

import { readDir, readTextOrNull, stat } from "../platform/files.ts";

export interface CgroupHierarchy {
  version: 1 | 2;
  /** The v1 controller whose hierarchy it is ("memory"); none for v2. */
  controller?: string;
  /** Its index in the kernel's enum cgroup_subsys_id (v1; the kernel side reads subsys[i]). */
  subsysIndex?: number;
  /** The hierarchy's id (/proc/cgroups' second column; 0 for v2), as tracepoints give it. */
  hierarchyId: number;
  /** Where it is mounted, e.g. /sys/fs/cgroup or /sys/fs/cgroup/memory. */
  mount: string;
}

/** v1 controllers in order of preference: those every container runtime joins first. */
const PREFERRED = ["memory", "pids", "cpu", "cpuacct", "blkio", "devices", "freezer", "cpuset"];

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The hierarchy that names containers, from /proc/self/mounts and /proc/cgroups (whose lines
 * list the controllers in the order of the kernel's subsystem ids). Null without cgroupfs.
 */
export function chooseHierarchy(mounts: string, procCgroups: string): CgroupHierarchy | null {
  let v2: string | null = null;
  const v1 = new Map<string, string>();
  for (const line of mounts.split("\n")) {
    const [, target, type, opts] = line.split(" ");
    if (type === "cgroup2" && v2 === null) v2 = unescapeMount(target);
    if (type !== "cgroup") continue;
    for (const opt of opts.split(",")) {
      if (!v1.has(opt)) v1.set(opt, unescapeMount(target));
    }
  }
  const lines = procCgroups.split("\n").filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split("\t"));
  const ids = lines.map((f) => f[0]);
  const controller = PREFERRED.find((c) => v1.has(c)) ??
    ids.find((c) => v1.has(c));
  if (controller !== undefined && ids.includes(controller)) {
    const i = ids.indexOf(controller);
    return {
      version: 1,
      controller,
      subsysIndex: i,
      hierarchyId: Number(lines[i][1]),
      mount: v1.get(controller)!,
    };
  }
  return v2 === null ? null : { version: 2, hierarchyId: 0, mount: v2 };
}

/** This host's hierarchy (see chooseHierarchy), or null. */
export function hostHierarchy(): CgroupHierarchy | null {
  return chooseHierarchy(
    readTextOrNull("/proc/self/mounts") ?? "",
    readTextOrNull("/proc/cgroups") ?? "",
  );
}

const SLASH = 0x2f;

function join(parent: Uint8Array, name: Uint8Array): Uint8Array {
  const sep = parent.length === 1 ? 0 : 1; // the root is "/"
  const out = new Uint8Array(parent.length + sep + name.length);
  out.set(parent);
  if (sep) out[parent.length] = SLASH;
  out.set(name, parent.length + sep);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The directories in `dir`, by raw name (cgroup names may be any bytes but "/" and NUL). */
function subdirectories(dir: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const prefix = concat(dir, new Uint8Array([SLASH]));
  for (const e of readDir(dir)) {
    // A file system that does not say the entry's type: a stat.
    if (e.isDirectory ?? stat(concat(prefix, e.name)).isDirectory) out.push(e.name);
  }
  return out;
}

const encoder = new TextEncoder();

/**
 * The paths of one hierarchy's cgroups by id (relative to the mount, "/" for the root), read
 * by walking it: once at the first lookup, then again when an id not seen before is asked for
 * (a cgroup created since). An id still unknown after that (its cgroup is gone) stays unknown
 * without another walk.
 */
export class CgroupPaths {
  #paths = new Map<bigint, Uint8Array>();
  #gone = new Set<bigint>();
  #walks = 0;
  readonly mount: Uint8Array;

  constructor(readonly hierarchy: CgroupHierarchy) {
    this.mount = encoder.encode(hierarchy.mount);
  }

  /** How many times the hierarchy was walked. */
  get walks(): number {
    return this.#walks;
  }

  /** The path of cgroup `id`, or null when no cgroup of the hierarchy has it. */
  pathOf(id: bigint): Uint8Array | null {
    const known = this.#paths.get(id);
    if (known || this.#gone.has(id)) return known ?? null;
    this.walk();
    const path = this.#paths.get(id);
    if (!path) this.#gone.add(id);
    return path ?? null;
  }

  /** A cgroup made while tracing, as the kernel announced it (bpf/cgroup.h). */
  learn(id: bigint, path: Uint8Array): void {
    this.#paths.set(id, path);
    this.#gone.delete(id);
  }

  /** The id of the cgroup at `path` (relative to the mount), or null if there is none. */
  idOf(path: Uint8Array): bigint | null {
    try {
      const full = path.length === 1 ? this.mount : concat(this.mount, path);
      const st = stat(full);
      return st.isDirectory ? st.ino : null;
    } catch {
      return null;
    }
  }

  /** Every cgroup of the hierarchy now: [id, path]. */
  all(): [bigint, Uint8Array][] {
    this.walk();
    return [...this.#paths];
  }

  /** Reads the whole hierarchy (a cgroup removed during the walk is skipped). */
  walk(): void {
    this.#walks++;
    const seen = new Map<bigint, Uint8Array>();
    const visit = (rel: Uint8Array, full: Uint8Array) => {
      let st;
      try {
        st = stat(full);
      } catch {
        return;
      }
      seen.set(st.ino, rel);
      // A kernfs directory's link count is 2 + its subdirectories: a leaf needs no listing.
      if (st.nlink <= 2) return;
      let names: Uint8Array[];
      try {
        names = subdirectories(full);
      } catch {
        return;
      }
      for (const name of names) {
        visit(join(rel, name), concat(concat(full, new Uint8Array([SLASH])), name));
      }
    };
    visit(new Uint8Array([SLASH]), this.mount);
    for (const [id, path] of seen) {
      this.#paths.set(id, path);
      this.#gone.delete(id);
    }
  }
}
