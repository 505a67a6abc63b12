// Bun back end: libc through bun:ffi. bun:ffi is imported by a specifier held in a variable
// so that `deno check` does not try to resolve it; the few types we use are declared here.

import { AT_FDCWD, decodeEpollEvents, EINTR, epollEventSize, syscallNumbers } from "./libc.ts";
import { createPlatform } from "./common.ts";
import type { RawLibc } from "./raw.ts";
import type { Platform, ReadyEvent } from "./types.ts";
import { SysError } from "../errors.ts";

type Arg = number | bigint | Uint8Array | null;
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: Arg[]) => number | bigint> };
  ptr(buf: Uint8Array): number;
  toArrayBuffer(ptr: number, byteOffset: number, byteLength: number): ArrayBuffer;
  read: { i32(ptr: number, offset: number): number };
}

const SYMBOLS = {
  syscall: { args: ["i64", "i64", "ptr", "i64"], returns: "i64" },
  ioctl: { args: ["i32", "u64", "u64"], returns: "i32" },
  mmap: { args: ["u64", "usize", "i32", "i32", "i32", "i64"], returns: "u64" },
  munmap: { args: ["u64", "usize"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  read: { args: ["i32", "ptr", "usize"], returns: "i64" },
  write: { args: ["i32", "ptr", "usize"], returns: "i64" },
  epoll_create1: { args: ["i32"], returns: "i32" },
  epoll_ctl: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
  epoll_wait: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
  getpid: { args: [], returns: "i32" },
  getrlimit: { args: ["i32", "ptr"], returns: "i32" },
  clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
  setrlimit: { args: ["i32", "ptr"], returns: "i32" },
  mount: { args: ["ptr", "ptr", "ptr", "u64", "ptr"], returns: "i32" },
  setgroups: { args: ["u64", "ptr"], returns: "i32" },
  setresgid: { args: ["u32", "u32", "u32"], returns: "i32" },
  setresuid: { args: ["u32", "u32", "u32"], returns: "i32" },
  execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
};

/** Longest single blocking epoll_wait: Bun's timers and signal handlers are frozen meanwhile. */
const SLICE_MS = 50;

const sleep0 = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export async function createBunPlatform(): Promise<Platform> {
  const specifier = "bun:ffi";
  const ffi = (await import(specifier)) as BunFfi;
  // perf_event_open goes through syscall(2) too; a second binding gives it its own arity.
  const dl = ffi.dlopen("libc.so.6", SYMBOLS).symbols;
  const perf = ffi.dlopen("libc.so.6", {
    syscall: { args: ["i64", "ptr", "i64", "i64", "i64", "i64"], returns: "i64" },
  }).symbols.syscall;
  // openat, statx and mkdirat: a directory fd, then a path.
  const atPath = ffi.dlopen("libc.so.6", {
    syscall: { args: ["i64", "i64", "ptr", "i64", "i64", "ptr"], returns: "i64" },
  }).symbols.syscall;
  const arch = process.arch;
  const nr = syscallNumbers(arch);
  const errnoPtr = dl.__errno_location() as number;
  const errno = () => ffi.read.i32(errnoPtr, 0);
  const num = (v: number | bigint) => Number(v);
  const epollWaitSync = (epfd: number, buf: Uint8Array, max: number, timeout: number) =>
    num(dl.epoll_wait(epfd, buf, max, timeout));

  const raw: RawLibc = {
    runtime: "bun",
    arch,
    errno,
    bpf: (cmd, attr, size) => num(dl.syscall(BigInt(nr.bpf), BigInt(cmd), attr, BigInt(size))),
    perfEventOpen: (attr, pid, cpu, groupFd, flags) =>
      num(
        perf(
          BigInt(nr.perfEventOpen),
          attr,
          BigInt(pid),
          BigInt(cpu),
          BigInt(groupFd),
          BigInt(flags),
        ),
      ),
    ioctl: (fd, request, arg) => num(dl.ioctl(fd, BigInt(request), BigInt.asUintN(64, arg))),
    mmap: (length, prot, flags, fd, offset) =>
      BigInt(dl.mmap(0n, BigInt(length), prot, flags, fd, BigInt(offset))),
    munmap: (addr, length) => num(dl.munmap(addr, BigInt(length))),
    close: (fd) => num(dl.close(fd)),
    openat: (path, flags, mode) =>
      num(atPath(BigInt(nr.openat), BigInt(AT_FDCWD), path, BigInt(flags), BigInt(mode), null)),
    statx: (path, flags, mask, buf) =>
      num(atPath(BigInt(nr.statx), BigInt(AT_FDCWD), path, BigInt(flags), BigInt(mask), buf)),
    mkdirat: (path, mode) =>
      num(atPath(BigInt(nr.mkdirat), BigInt(AT_FDCWD), path, BigInt(mode), 0n, null)),
    getdents64: (fd, buf, length) =>
      num(dl.syscall(BigInt(nr.getdents64), BigInt(fd), buf, BigInt(length))),
    read: (fd, buf, length) => num(dl.read(fd, buf, BigInt(length))),
    write: (fd, buf, length) => num(dl.write(fd, buf, BigInt(length))),
    epollCreate1: (flags) => num(dl.epoll_create1(flags)),
    epollCtl: (epfd, op, fd, event) => num(dl.epoll_ctl(epfd, op, fd, event)),
    epollWaitSync,
    getpid: () => num(dl.getpid()),
    getrlimit: (resource, rlim) => num(dl.getrlimit(resource, rlim)),
    clockGettime: (clock, ts) => num(dl.clock_gettime(clock, ts)),
    setrlimit: (resource, rlim) => num(dl.setrlimit(resource, rlim)),
    mount: (source, target, fstype, flags) =>
      num(dl.mount(source, target, fstype, BigInt(flags), null)),
    setgroups: (n, list) => num(dl.setgroups(BigInt(n), list)),
    setresgid: (r, e, s) => num(dl.setresgid(r, e, s)),
    setresuid: (r, e, s) => num(dl.setresuid(r, e, s)),
    execve: (path, argv, envp) => num(dl.execve(path, argv, envp)),
    // A compiled binary runs its own embedded script (Bun.main under /$bunfs/); from source,
    // bun and the script.
    selfCommand: () => {
      const main = (globalThis as unknown as { Bun: { main: string } }).Bun.main;
      return main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, main];
    },
    view: (addr, length) => ffi.toArrayBuffer(Number(addr), 0, length),
    addressOf(buf) {
      // Touching .buffer moves a small JSC typed array out of the GC heap, so the address stays.
      void buf.buffer;
      return BigInt(ffi.ptr(buf));
    },

    async epollWait(epfd, maxEvents, timeoutMs): Promise<ReadyEvent[]> {
      // Bun has no asynchronous FFI: wait in short slices and yield to the event loop between
      // them, so timers and Ctrl-C are served within SLICE_MS.
      const buf = new Uint8Array(epollEventSize(arch) * maxEvents);
      const forever = timeoutMs < 0;
      const deadline = performance.now() + Math.max(0, timeoutMs);
      for (;;) {
        const left = forever ? SLICE_MS + 1 : Math.max(0, Math.ceil(deadline - performance.now()));
        const n = epollWaitSync(epfd, buf, maxEvents, Math.min(left, SLICE_MS));
        if (n > 0) return decodeEpollEvents(arch, buf, n);
        if (n < 0) {
          const e = errno();
          if (e === EINTR) return [];
          throw new SysError(`epoll_wait on fd ${epfd}`, e);
        }
        if (left <= SLICE_MS) return [];
        await sleep0();
      }
    },

    onSignal(signal, handler) {
      process.on(signal, handler);
      return () => {
        process.off(signal, handler);
      };
    },

    exit: (code) => process.exit(code),
  };
  return createPlatform(raw);
}
