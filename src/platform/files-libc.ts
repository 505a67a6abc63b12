// Files (files.ts) through the platform's raw libc calls: openat, statx, getdents64 and mkdirat
// through syscall(2), read, write and close. The same code on Deno and on Bun.

import { FileError, type FilePath, type Files, type FileStat, pathText } from "./files.ts";
import { EINTR } from "./libc.ts";
import type { RawLibc } from "./raw.ts";

const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const FLAGS = {
  r: O_CLOEXEC,
  w: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
  a: O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
  private: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
};
const AT_SYMLINK_NOFOLLOW = 0x100;

/** struct statx: the offsets of the fields read (the layout is the same on every architecture). */
const STATX_SIZE = 256;
const STX_NLINK = 16;
const STX_UID = 20;
const STX_MODE = 28;
const STX_INO = 32;
const STX_SIZE = 40;
const STATX_BASIC_STATS = 0x7ff;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/** linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name. */
const DT_UNKNOWN = 0;
const DT_DIR = 4;

const encoder = new TextEncoder();

/** A path as the NUL-terminated bytes a syscall takes. */
function cPath(path: FilePath): Uint8Array {
  const bytes = typeof path === "string" ? encoder.encode(path) : path;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

export function libcFiles(libc: RawLibc): Files {
  /** Retries EINTR; throws FileError on any other failure. */
  const call = (syscall: string, path: FilePath | number, f: () => number): number => {
    for (;;) {
      const r = f();
      if (r >= 0) return r;
      const errno = libc.errno();
      if (errno !== EINTR) {
        throw new FileError(
          errno,
          syscall,
          typeof path === "number" ? `fd ${path}` : pathText(path),
        );
      }
    }
  };
  const open = (path: FilePath, mode: keyof typeof FLAGS) => {
    const c = cPath(path);
    return call(
      "open",
      path,
      () => libc.openat(c, FLAGS[mode], mode === "private" ? 0o600 : 0o666),
    );
  };
  const stat = (path: FilePath, follow = true): FileStat => {
    const c = cPath(path);
    const buf = new Uint8Array(STATX_SIZE);
    const flags = follow ? 0 : AT_SYMLINK_NOFOLLOW;
    call("stat", path, () => libc.statx(c, flags, STATX_BASIC_STATS, buf));
    const v = new DataView(buf.buffer);
    const mode = v.getUint16(STX_MODE, true);
    return {
      size: Number(v.getBigUint64(STX_SIZE, true)),
      ino: v.getBigUint64(STX_INO, true),
      nlink: v.getUint32(STX_NLINK, true),
      isDirectory: (mode & S_IFMT) === S_IFDIR,
      uid: v.getUint32(STX_UID, true),
      mode: mode & 0o7777,
    };
  };
  const readAll = (fd: number, path: FilePath, sizeHint: number): Uint8Array => {
    // /proc and /sys files report size 0 or 4096: read until end of file whatever they say.
    let buf = new Uint8Array(Math.max(sizeHint + 1, 4096));
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const at = buf.subarray(n);
      const r = call("read", path, () => libc.read(fd, at, at.length));
      if (r === 0) return buf.subarray(0, n);
      n += r;
    }
  };
  return {
    readFile(path) {
      const fd = open(path, "r");
      try {
        // A regular file's size sizes the buffer (one read for a whole BTF file).
        let size = 0;
        try {
          size = stat(path).size;
        } catch { /* read anyway */ }
        return readAll(fd, path, size);
      } finally {
        libc.close(fd);
      }
    },
    stat,
    readDir(path) {
      const fd = open(path, "r");
      try {
        const out: { name: Uint8Array; isDirectory: boolean | null }[] = [];
        const buf = new Uint8Array(32768);
        const v = new DataView(buf.buffer);
        for (;;) {
          const n = call("getdents64", path, () => libc.getdents64(fd, buf, buf.length));
          if (n === 0) return out;
          for (let at = 0; at < n;) {
            const reclen = v.getUint16(at + 16, true);
            const type = buf[at + 18];
            let end = at + 19;
            while (buf[end] !== 0) end++;
            const name = buf.slice(at + 19, end);
            at += reclen;
            // "." and ".."
            if (
              name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e))
            ) {
              continue;
            }
            out.push({ name, isDirectory: type === DT_UNKNOWN ? null : type === DT_DIR });
          }
        }
      } finally {
        libc.close(fd);
      }
    },
    mkdir(path, mode) {
      const c = cPath(path);
      call("mkdir", path, () => libc.mkdirat(c, mode));
    },
    open,
    close(fd) {
      // Never retried: Linux frees the descriptor even when close fails.
      if (libc.close(fd) < 0) throw new FileError(libc.errno(), "close", `fd ${fd}`);
    },
    write(fd, bytes) {
      return call("write", fd, () => libc.write(fd, bytes, bytes.length));
    },
  };
}
