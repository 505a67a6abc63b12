// Synchronous file access for every layer (the kernel's /proc, /sys, tracefs and cgroup files,
// BTF files, objects, -o FILE). Once a platform exists its libc calls do it (files-libc.ts, on
// both runtimes); before that (tests and tools that make none) node:fs does, loaded at the first
// use. On Bun, importing node:fs costs every start ~2.5 ms of CPU, which the tracer no longer
// spends. Errors carry node's `code` ("ENOENT", "EACCES" ...) whichever does the work.

import { errnoName } from "../errors.ts";

/** What the tracer asks of stat(2). */
export interface FileStat {
  size: number;
  ino: bigint;
  nlink: number;
  isDirectory: boolean;
  /** The owner's user id. */
  uid: number;
  /** The permission bits (mode & 0o7777). */
  mode: number;
}

/** A directory entry: its raw name, and whether it is a directory (null: the entry did not say). */
export interface DirEntry {
  name: Uint8Array;
  isDirectory: boolean | null;
}

/** A path as text, or as raw bytes (cgroup names may be any bytes but "/" and NUL). */
export type FilePath = string | Uint8Array;

/**
 * How a file is opened: read, write (created, truncated), append (created), or private: write
 * (created with mode 0600, truncated) and never through a symbolic link.
 */
export type OpenMode = "r" | "w" | "a" | "private";

export interface Files {
  readFile(path: FilePath): Uint8Array;
  /** stat(2); with `follow` false, lstat(2): a symbolic link is not followed. */
  stat(path: FilePath, follow?: boolean): FileStat;
  readDir(path: FilePath): DirEntry[];
  /** mkdir(2) with `mode` (less the umask). */
  mkdir(path: FilePath, mode: number): void;
  open(path: FilePath, mode: OpenMode): number;
  close(fd: number): void;
  /** write(2) once: the bytes written (a short write is the caller's to continue). */
  write(fd: number, bytes: Uint8Array): number;
}

/** A failed file call: node's shape (`code`, `errno`, `syscall`, `path`) and words. */
export class FileError extends Error {
  readonly code: string;
  constructor(
    readonly errno: number,
    readonly syscall: string,
    readonly path: string,
  ) {
    const code = errnoName(errno);
    super(`${code}: ${syscall} '${path}'`);
    this.code = code;
  }
}

const utf8 = new TextDecoder();

/** A path for messages (bytes decoded, invalid UTF-8 replaced). */
export function pathText(path: FilePath): string {
  return typeof path === "string" ? path : utf8.decode(path);
}

let current: Files | undefined;

/** Makes `files` do every file call from now on (the platform installs its libc calls). */
export function useFiles(files: Files): void {
  current = files;
}

function files(): Files {
  return current ??= nodeFiles();
}

export function readFile(path: FilePath): Uint8Array {
  return files().readFile(path);
}

/** A file's text (UTF-8). */
export function readText(path: FilePath): string {
  return utf8.decode(files().readFile(path));
}

/** A file's text, or null when it cannot be read (missing, no permission ...). */
export function readTextOrNull(path: FilePath): string | null {
  try {
    return readText(path);
  } catch (e) {
    if (e instanceof FileError) return null;
    throw e;
  }
}

export function stat(path: FilePath, follow = true): FileStat {
  return files().stat(path, follow);
}

export function makeDir(path: FilePath, mode: number): void {
  files().mkdir(path, mode);
}

/** Whether stat(2) finds `path` (any error: false). */
export function exists(path: FilePath): boolean {
  try {
    files().stat(path);
    return true;
  } catch (e) {
    if (e instanceof FileError) return false;
    throw e;
  }
}

export function readDir(path: FilePath): DirEntry[] {
  return files().readDir(path);
}

export function openFile(path: FilePath, mode: OpenMode): number {
  return files().open(path, mode);
}

export function closeFile(fd: number): void {
  files().close(fd);
}

/** write(2) once; see Files.write. */
export function writeFile(fd: number, bytes: Uint8Array): number {
  return files().write(fd, bytes);
}

/** Appends `text` to the file at `path` (created if missing), as one write. */
export function appendText(path: FilePath, text: string): void {
  const fd = openFile(path, "a");
  try {
    const bytes = new TextEncoder().encode(text);
    if (writeFile(fd, bytes) !== bytes.length) throw new FileError(5, "write", pathText(path));
  } finally {
    closeFile(fd);
  }
}

/** node:fs's errors as FileError (its `errno` is negative). */
function asFileError(e: unknown, syscall: string, path: FilePath): unknown {
  const n = (e as { errno?: number }).errno;
  return typeof n === "number" ? new FileError(Math.abs(n), syscall, pathText(path)) : e;
}

/** node:fs, loaded at the first file call made before a platform exists. */
function nodeFiles(): Files {
  const fs = process.getBuiltinModule("node:fs");
  // node:fs takes a path's raw bytes as a Uint8Array too.
  // deno-lint-ignore no-explicit-any
  const p = (path: FilePath) => path as any;
  const call = <T>(syscall: string, path: FilePath, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw asFileError(e, syscall, path);
    }
  };
  return {
    readFile: (path) => call("open", path, () => new Uint8Array(fs.readFileSync(p(path)))),
    stat: (path, follow = true) =>
      call("stat", path, () => {
        const st = (follow ? fs.statSync : fs.lstatSync)(p(path), { bigint: true });
        return {
          size: Number(st.size),
          ino: st.ino,
          nlink: Number(st.nlink),
          isDirectory: st.isDirectory(),
          uid: Number(st.uid),
          mode: Number(st.mode) & 0o7777,
        };
      }),
    mkdir: (path, mode) => call("mkdir", path, () => fs.mkdirSync(p(path), { mode })),
    readDir: (path) =>
      call(
        "open",
        path,
        () =>
          fs.readdirSync(p(path), { encoding: "buffer", withFileTypes: true }).map((d) => ({
            name: new Uint8Array(d.name),
            isDirectory: d.isDirectory(),
          })),
      ),
    open: (path, mode) =>
      call("open", path, () => {
        if (mode !== "private") return fs.openSync(p(path), mode);
        const c = fs.constants;
        return fs.openSync(p(path), c.O_WRONLY | c.O_CREAT | c.O_TRUNC | c.O_NOFOLLOW, 0o600);
      }),
    close: (fd) => fs.closeSync(fd),
    write: (fd, bytes) => call("write", `fd ${fd}`, () => fs.writeSync(fd, bytes)),
  };
}
