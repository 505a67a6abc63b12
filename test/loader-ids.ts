// Test helper: the kernel ids of a collection's objects, and a check that they are gone.
import { readdirSync, readlinkSync } from "node:fs";
import type { Platform } from "../src/platform/types.ts";
import type { Collection } from "../src/loader/collection.ts";
import type { Link } from "../src/link/link.ts";
import { allIds, linkGetNextId, mapGetNextId, progGetNextId } from "../src/kernel/bpf.ts";

export interface OurIds {
  progs: number[];
  maps: number[];
  links: number[];
}

export function idsOf(coll: Collection, links: Link[] = []): OurIds {
  return {
    progs: [...coll.programs.values()].map((p) => p.program.info().id),
    maps: [...coll.maps.values()].map((m) => m.info().id),
    links: links.map((l) => l.id).filter((id) => id > 0),
  };
}

/** Every program, map and link id the kernel lists right now. */
export function kernelIds(p: Platform): OurIds {
  return {
    progs: allIds(p, progGetNextId),
    maps: allIds(p, mapGetNextId),
    links: allIds(p, linkGetNextId),
  };
}

/**
 * Which of `ids` the kernel still lists. Maps are freed from a workqueue after their last
 * reference goes, so this waits up to `waitMs` for them to disappear.
 */
export async function stillLoaded(p: Platform, ids: OurIds, waitMs = 3000): Promise<OurIds> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const all = kernelIds(p);
    const live = {
      progs: all.progs.filter((id) => ids.progs.includes(id)),
      maps: all.maps.filter((id) => ids.maps.includes(id)),
      links: all.links.filter((id) => ids.links.includes(id)),
    };
    const n = live.progs.length + live.maps.length + live.links.length;
    if (n === 0 || Date.now() > deadline) return live;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The id of the calling thread (tests may run in a worker thread: Deno runs test modules in
 * workers), from /proc/thread-self -> "<pid>/task/<tid>". The fixtures filter on it so
 * getpid() calls by the runtime's other threads do not count.
 */
export function currentTid(): number {
  return Number(readlinkSync("/proc/thread-self").split("/").pop());
}

/**
 * This process's fds of kernel objects and kernel files (BPF programs, maps, links, BTF, perf
 * events, tracefs/sysfs files), as "fd->target", sorted. The runtime's own fds (pipes of child
 * processes that other tests started, closed asynchronously) come and go and are left out, so
 * a before/after comparison sees only what the code under test opened.
 */
export function kernelObjectFds(): string[] {
  return readdirSync("/proc/self/fd").map((fd) => {
    try {
      return `${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return ""; // closed meanwhile
    }
  }).filter((l) => /anon_inode:(bpf|\[perf_event\])|bpf|btf|\/sys\//.test(l)).sort();
}
