// What each FFI back end provides: thin, synchronous libc calls that return the raw result
// (-1 on failure) and let the caller read errno right after. common.ts builds the Platform
// on top of this, so error handling is written once.

import type { Address, ReadyEvent } from "./types.ts";

export interface RawLibc {
  readonly runtime: "deno" | "bun";
  /** Node-style CPU architecture name ("x64", "arm64"). */
  readonly arch: string;
  /** errno of the last failed call on this thread. Must be read before anything else runs. */
  errno(): number;

  bpf(cmd: number, attr: Uint8Array, size: number): number;
  perfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number): number;
  ioctl(fd: number, request: number, arg: bigint): number;
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): Address;
  munmap(addr: Address, length: number): number;
  close(fd: number): number;
  /** openat(AT_FDCWD, path, flags, mode): `path` NUL-terminated. */
  openat(path: Uint8Array, flags: number, mode: number): number;
  /** statx(AT_FDCWD, path, flags, mask, buf): `path` NUL-terminated, `buf` 256 bytes. */
  statx(path: Uint8Array, flags: number, mask: number, buf: Uint8Array): number;
  /** mkdirat(AT_FDCWD, path, mode): `path` NUL-terminated. */
  mkdirat(path: Uint8Array, mode: number): number;
  /** getdents64(2): linux_dirent64 records into `buf`. */
  getdents64(fd: number, buf: Uint8Array, length: number): number;
  read(fd: number, buf: Uint8Array, length: number): number;
  write(fd: number, buf: Uint8Array, length: number): number;
  epollCreate1(flags: number): number;
  epollCtl(epfd: number, op: number, fd: number, event: Uint8Array): number;
  /** A blocking epoll_wait on this thread (use with timeout 0, or short slices). */
  epollWaitSync(epfd: number, events: Uint8Array, maxEvents: number, timeoutMs: number): number;
  getpid(): number;
  /** getrlimit(2)/setrlimit(2): `rlim` is struct rlimit (two u64: soft, hard). */
  getrlimit(resource: number, rlim: Uint8Array): number;
  /** clock_gettime(2): `ts` is struct timespec (two i64: seconds, nanoseconds). */
  clockGettime(clock: number, ts: Uint8Array): number;
  setrlimit(resource: number, rlim: Uint8Array): number;
  /** mount(2) with no data: the strings are NUL-terminated. */
  mount(source: Uint8Array, target: Uint8Array, fstype: Uint8Array, flags: number): number;
  /** setgroups(2): `list` holds `n` gid_t (u32). glibc applies it to every thread. */
  setgroups(n: number, list: Uint8Array): number;
  setresgid(rgid: number, egid: number, sgid: number): number;
  setresuid(ruid: number, euid: number, suid: number): number;
  /** execve(2): `path` NUL-terminated; `argv`, `envp` NULL-terminated arrays of addresses. */
  execve(path: Uint8Array, argv: Uint8Array, envp: Uint8Array): number;
  /** The command line that starts this program again: the compiled binary, or runtime + script. */
  selfCommand(): string[];

  view(addr: Address, length: number): ArrayBuffer;
  addressOf(buf: Uint8Array): Address;

  /** Waits without blocking the event loop; see Platform.epollWait. */
  epollWait(epfd: number, maxEvents: number, timeoutMs: number): Promise<ReadyEvent[]>;
  onSignal(signal: "SIGINT" | "SIGTERM", handler: () => void): () => void;
  exit(code: number): never;
}
