// Container context of every record: the cgroup id the kernel sends becomes the cgroup's path,
// the container id and the Kubernetes pod uid it names (container.ts), once per cgroup (cached;
// never a walk of the cgroup file system per record), and the verdict of the --cgroup and
// --container filters. The kernel drops the records of a cgroup once its verdict is known
// (bpf/cgroup.h); the first records of a cgroup it has no verdict for yet come here and are
// decided the same way. Pure: the paths and the kernel's verdict map come from the caller.

import type { ConstantValue } from "../loader/constants.ts";
import { bytesFieldJson, type JsonValue, setBytesField } from "../output/json.ts";
import { escapeBytes } from "../output/escape.ts";
import { containerOfBytes } from "./container.ts";

export interface TaskContext {
  cgroupId: bigint;
  /** The cgroup's path in the hierarchy ("/docker/<id>"), or null when it is unknown. */
  cgroup: Uint8Array | null;
  containerId: string | null;
  podUid: string | null;
  /** Whether the --cgroup/--container filters keep this cgroup's records. */
  wanted: boolean;
  /** The JSON fields, as text: `,"cgroup":...,"container_id":...,"pod_uid":...`. */
  json: string;
  /** The same fields for a JSON record built as an object. */
  fields: Record<string, JsonValue>;
  /** The table's CONTAINER cell: the short id (12 digits) or name, "-" for none. */
  cell: string;
}

export interface ContextFilter {
  /** --cgroup: this cgroup (a path in the hierarchy) and every cgroup below it. */
  cgroup?: Uint8Array;
  /** --container: containers whose id starts with this (or whose name is this). */
  container?: string;
}

/** Where paths come from (src/kernel/cgroupfs.ts's CgroupPaths). */
export interface CgroupPathSource {
  pathOf(id: bigint): Uint8Array | null;
  /** A cgroup the kernel announced as it was made. */
  learn?(id: bigint, path: Uint8Array): void;
}

/** Where the kernel side reads the task's cgroup (src/kernel/cgroupfs.ts's CgroupHierarchy). */
export interface KernelHierarchy {
  /** The v1 controller's index in enum cgroup_subsys_id; none: the v2 hierarchy. */
  subsysIndex?: number;
  /** The hierarchy's id in the cgroup_mkdir tracepoint (0: v2). */
  hierarchyId?: number;
}

/** The table column (--containers). */
export const CONTAINER_COLUMN = { name: "CONTAINER", width: 12, fit: true } as const;

/** Entries of the kernel's verdict map (bpf/cgroup.h); more cgroups are decided here. */
export const VERDICT_MAP_ENTRIES = 8192;

const utf8 = new TextDecoder();
const encoder = new TextEncoder();
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export class ContextResolver {
  #cache = new Map<number | bigint, TaskContext>();
  /** Records dropped because their cgroup was gone before its path could be read. */
  unresolvedDropped = 0;

  /**
   * `paths`: null where the host has no cgroup file system (every cgroup unknown).
   * `hierarchy`: where the kernel side reads the task's cgroup (default: v2).
   */
  constructor(
    private paths: CgroupPathSource | null,
    private hierarchy: KernelHierarchy | undefined,
    readonly filter: ContextFilter = {},
  ) {
    if (filter.container !== undefined) this.#container = encoder.encode(filter.container);
  }

  #container: Uint8Array | undefined;
  #verdictStores: ((id: bigint, keep: boolean) => void)[] = [];
  #announcements: (() => void)[] = [];

  /**
   * Where cgroups made while tracing are announced (each tracer's bpf/cgroup.h ring): read
   * before a cgroup not seen yet is looked up in the file system.
   */
  readAnnouncements(read: () => void): void {
    this.#announcements.push(read);
  }

  /**
   * A cgroup the kernel announced as it was made: named now, even if it is gone before one of
   * its records is read; with a filter its verdict goes to the kernel before its first record.
   */
  learn(id: bigint, path: Uint8Array): void {
    if (!this.paths?.learn) return;
    this.paths.learn(id, path);
    const key = cacheKey(id);
    if (this.filtering && !this.#cache.has(key)) this.#remember(key, id);
  }

  /** Where verdicts go: each tracer's kernel map (bpf/cgroup.h's cgroup_verdicts). */
  storeVerdicts(store: (id: bigint, keep: boolean) => void): void {
    this.#verdictStores.push(store);
  }

  get filtering(): boolean {
    return this.filter.cgroup !== undefined || this.filter.container !== undefined;
  }

  /** The .rodata of bpf/cgroup.h for this host and these filters. */
  rodata(): Record<string, ConstantValue> {
    return {
      cgroup_v1_subsys: this.hierarchy?.subsysIndex ?? -1,
      cgroup_hierarchy_id: this.hierarchy?.hierarchyId ?? 0,
      filter_cgroups: this.filtering,
    };
  }

  /** The verdict map's size: unused (1 entry) without a filter. */
  mapSizes(): Record<string, number> {
    return { cgroup_verdicts: this.filtering ? VERDICT_MAP_ENTRIES : 1 };
  }

  /** The context of a record from cgroup `id` (the same object for every record of it). */
  of(id: number | bigint): TaskContext {
    const key = cacheKey(id);
    let ctx = this.#cache.get(key);
    if (!ctx) {
      // Cgroups made since the last look: announced by the kernel, or else in the file system.
      for (const read of this.#announcements) read();
      ctx = this.#cache.get(key) ?? this.#remember(key, BigInt(id));
    }
    if (!ctx.wanted && ctx.cgroup === null) this.unresolvedDropped++;
    return ctx;
  }

  /** Resolves and caches cgroup `id`; with a filter, its verdict goes to the kernel. */
  #remember(key: number | bigint, id: bigint): TaskContext {
    const ctx = this.#resolve(id);
    this.#cache.set(key, ctx);
    if (this.filtering && ctx.cgroup !== null) {
      for (const store of this.#verdictStores) store(ctx.cgroupId, ctx.wanted);
    }
    return ctx;
  }

  #resolve(id: bigint): TaskContext {
    const cgroup = this.paths?.pathOf(id) ?? null;
    // A machine's or LXC container's name is bytes, as the path is.
    const { containerId: idBytes, podUid } = cgroup
      ? containerOfBytes(cgroup)
      : { containerId: null, podUid: null };
    const containerId = idBytes ? utf8.decode(idBytes) : null;
    const fields: Record<string, JsonValue> = {};
    if (cgroup) setBytesField(fields, "cgroup", cgroup);
    else fields.cgroup = null;
    if (idBytes) setBytesField(fields, "container_id", idBytes);
    else fields.container_id = null;
    fields.pod_uid = podUid;
    return {
      cgroupId: id,
      cgroup,
      containerId,
      podUid,
      wanted: this.#wanted(cgroup, idBytes),
      json: (cgroup ? bytesFieldJson("cgroup", cgroup) : `,"cgroup":null`) +
        (idBytes ? bytesFieldJson("container_id", idBytes) : `,"container_id":null`) +
        `,"pod_uid":${JSON.stringify(podUid)}`,
      fields,
      cell: containerId === null
        ? "-"
        : /^[0-9a-f]{64}$/.test(containerId)
        ? containerId.slice(0, 12)
        : escapeBytes(idBytes!),
    };
  }

  #wanted(cgroup: Uint8Array | null, containerId: Uint8Array | null): boolean {
    const f = this.filter;
    if (!this.filtering) return true;
    if (cgroup === null) return false;
    if (f.cgroup !== undefined && !isUnder(cgroup, f.cgroup)) return false;
    if (f.container !== undefined) {
      if (containerId === null || !startsWith(containerId, this.#container!)) return false;
    }
    return true;
  }
}

/** One key per cgroup: ids below 2^53 may come as numbers or bigints. */
function cacheKey(id: number | bigint): number | bigint {
  return typeof id === "bigint" && id <= MAX_SAFE ? Number(id) : id;
}

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

/** Whether cgroup path `p` is `top` or below it. */
export function isUnder(p: Uint8Array, top: Uint8Array): boolean {
  if (top.length === 1 && top[0] === 0x2f) return true; // the root
  if (p.length < top.length) return false;
  for (let i = 0; i < top.length; i++) if (p[i] !== top[i]) return false;
  return p.length === top.length || p[top.length] === 0x2f;
}
