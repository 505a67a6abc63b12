// The per-boot cache of what loading an object learned from the running kernel's BTF: each
// function's CO-RE-relocated instructions (as patches over the compiled ones) and the BTF ids
// of the kernel functions and tracepoints its programs attach to. A later start of the same
// build on the same boot applies them instead of reading the kernel's BTF (~127,000 types)
// and relocating again. Nothing else is kept: maps, .rodata, fds and verdicts are made anew.
//
// One JSON file per object and build in a directory the caller names (the tracer's:
// /run/tracer, a tmpfs gone at reboot). An entry is used only when its key matches: the
// caller's key (the build that computed it) and the kernel's boot id. The directory must be a
// directory owned by the tracer's user and writable by nobody else, or it is neither read nor
// written; the files are written with mode 0600, never through a symbolic link. A file that
// does not parse (a torn concurrent write) is a miss and is written again. Any failure to
// read or write the cache is a miss, never an error: the load goes the long way.

import { fromBase64, toBase64 } from "../base64.ts";
import {
  closeFile,
  FileError,
  makeDir,
  openFile,
  readFile,
  readTextOrNull,
  stat,
  writeFile,
} from "../platform/files.ts";

/** Where the cache lives and what produced its entries. */
export interface CoreCacheConfig {
  /** The directory (created, mode 0700, when missing). */
  dir: string;
  /** What computed the entries (the build's id): an entry of another key is a miss. */
  key: string;
}

/** The format of the files: an entry of another format is a miss. */
const FORMAT = 1;

const BOOT_ID = "/proc/sys/kernel/random/boot_id";
let bootId: string | undefined;

/** One 12-byte record per changed instruction: u32 index, then the instruction's 8 bytes. */
const PATCH_SIZE = 12;

interface CacheFile {
  format: number;
  key: string;
  object: string;
  /** Function ("section/name") → its patches, base64. */
  fns: Record<string, string>;
  /** Attach target ("kind:name") → its id in vmlinux BTF. */
  attach: Record<string, number>;
}

/** The patches that turn `before` into `after` (same length), base64. */
export function diffInsns(before: Uint8Array, after: Uint8Array): string {
  const out: number[] = [];
  for (let i = 0; i + 8 <= after.length; i += 8) {
    let same = true;
    for (let j = 0; j < 8; j++) {
      if (before[i + j] !== after[i + j]) {
        same = false;
        break;
      }
    }
    if (same) continue;
    const n = i / 8;
    out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
    for (let j = 0; j < 8; j++) out.push(after[i + j]);
  }
  return toBase64(new Uint8Array(out));
}

/** Applies diffInsns' patches to `insns` in place; false (nothing changed) when they do not fit. */
export function applyPatches(insns: Uint8Array, patches: string): boolean {
  const bytes = typeof patches === "string" ? decoded(patches) : null;
  if (bytes === null || bytes.length % PATCH_SIZE !== 0) return false;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = 0; at < bytes.length; at += PATCH_SIZE) {
    if ((v.getUint32(at, true) + 1) * 8 > insns.length) return false;
  }
  for (let at = 0; at < bytes.length; at += PATCH_SIZE) {
    insns.set(bytes.subarray(at + 4, at + PATCH_SIZE), v.getUint32(at, true) * 8);
  }
  return true;
}

/** base64 text's bytes, or null when it is not base64. */
function decoded(text: string): Uint8Array | null {
  try {
    return fromBase64(text);
  } catch {
    return null;
  }
}

/** The cache of one object: what an earlier load on this boot learned, and what this one adds. */
export class CoreCache {
  /**
   * Whether this load's CO-RE patches came from the file (a verifier rejection at a poisoned
   * instruction is then retried the long way, which names the relocation).
   */
  used = false;
  private dirty = false;

  private constructor(
    /** The object's file in the cache. */
    readonly path: string,
    private readonly dir: string,
    private readonly euid: number,
    private readonly entry: CacheFile,
  ) {}

  /** The cache of `object`, or null when there can be none (no boot id). */
  static open(config: CoreCacheConfig, object: string, euid: number): CoreCache | null {
    // Read once per process: a tracer trying strategies in turn opens the cache per load.
    bootId ??= readTextOrNull(BOOT_ID)?.trim() ?? "";
    if (!bootId) return null;
    const key = `${config.key} boot ${bootId}`;
    // A file per object and build: two builds used in turn (an upgrade, a benchmark of both)
    // do not evict each other's entries.
    const name = `${object}-${config.key}`.replace(/[^A-Za-z0-9_.-]/g, "_");
    const path = `${config.dir}/${name}.json`;
    const fresh: CacheFile = { format: FORMAT, key, object, fns: {}, attach: {} };
    const found = safeDir(config.dir, euid) ? readEntry(path) : null;
    const entry = found && found.format === FORMAT && found.key === key && found.object === object
      ? found
      : fresh;
    return new CoreCache(path, config.dir, euid, entry);
  }

  /** The patches recorded for function `fn` ("section/name"), or undefined. */
  patches(fn: string): string | undefined {
    return Object.hasOwn(this.entry.fns, fn) ? this.entry.fns[fn] : undefined;
  }

  learnPatches(fn: string, patches: string): void {
    this.entry.fns[fn] = patches;
    this.dirty = true;
  }

  /** The vmlinux BTF id recorded for attach target `target` ("kind:name"), or undefined. */
  attachId(target: string): number | undefined {
    const id = Object.hasOwn(this.entry.attach, target) ? this.entry.attach[target] : undefined;
    return Number.isInteger(id) && id! > 0 ? id : undefined;
  }

  learnAttachId(target: string, id: number): void {
    this.entry.attach[target] = id;
    this.dirty = true;
  }

  /**
   * Writes what this load learned (merged with what was read): true when written, false when
   * there was nothing new or it could not be (a failure is a miss for the next start, not an
   * error of this one).
   */
  save(): boolean {
    if (!this.dirty) return false;
    this.dirty = false;
    try {
      makeDir(this.dir, 0o700);
    } catch (e) {
      if (!(e instanceof FileError) || e.code !== "EEXIST") return false;
    }
    if (!safeDir(this.dir, this.euid)) return false;
    return writeWhole(this.path, new TextEncoder().encode(JSON.stringify(this.entry)));
  }
}

/** Whether `dir` is a directory (not a link) of `euid` that no one else may write. */
function safeDir(dir: string, euid: number): boolean {
  try {
    const st = stat(dir, false);
    return st.isDirectory && st.uid === euid && (st.mode & 0o022) === 0;
  } catch (e) {
    if (e instanceof FileError) return false;
    throw e;
  }
}

function readEntry(path: string): CacheFile | null {
  let text: string;
  try {
    text = new TextDecoder().decode(readFile(path));
  } catch (e) {
    if (e instanceof FileError) return null;
    throw e;
  }
  try {
    const v = JSON.parse(text);
    const ok = v && typeof v === "object" && typeof v.key === "string" &&
      v.fns && typeof v.fns === "object" && v.attach && typeof v.attach === "object";
    return ok ? v as CacheFile : null;
  } catch {
    return null; // torn or foreign: a miss
  }
}

/** Writes `bytes` to `path` (mode 0600, not through a link): false when it cannot. */
function writeWhole(path: string, bytes: Uint8Array): boolean {
  let fd: number;
  try {
    fd = openFile(path, "private");
  } catch (e) {
    if (e instanceof FileError) return false;
    throw e;
  }
  try {
    for (let at = 0; at < bytes.length;) at += writeFile(fd, bytes.subarray(at));
    return true;
  } catch (e) {
    if (!(e instanceof FileError)) throw e;
    return false;
  } finally {
    closeFile(fd);
  }
}
