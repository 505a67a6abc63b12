// Deno back end: libc through Deno.dlopen (needs --allow-ffi, plus --allow-read for /proc).

import { AT_FDCWD, decodeEpollEvents, EINTR, epollEventSize, syscallNumbers } from "./libc.ts";
import { createPlatform } from "./common.ts";
import type { RawLibc } from "./raw.ts";
import type { Platform, ReadyEvent } from "./types.ts";
import { SysError } from "../errors.ts";

const SYMBOLS = {
  syscall_bpf: { name: "syscall", parameters: ["i64", "i64", "buffer", "i64"], result: "i64" },
  syscall_perf: {
    name: "syscall",
    parameters: ["i64", "buffer", "i64", "i64", "i64", "i64"],
    result: "i64",
  },
  // openat, statx and mkdirat: a directory fd, then a path.
  syscall_at: {
    name: "syscall",
    parameters: ["i64", "i64", "buffer", "i64", "i64", "buffer"],
    result: "i64",
  },
  ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
  mmap: { parameters: ["u64", "usize", "i32", "i32", "i32", "i64"], result: "u64" },
  munmap: { parameters: ["u64", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  epoll_wait_async: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  getpid: { parameters: [], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
  setgroups: { parameters: ["usize", "buffer"], result: "i32" },
  setresgid: { parameters: ["u32", "u32", "u32"], result: "i32" },
  setresuid: { parameters: ["u32", "u32", "u32"], result: "i32" },
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

export function createDenoPlatform(): Platform {
  const lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  const arch = Deno.build.arch === "x86_64"
    ? "x64"
    : Deno.build.arch === "aarch64"
    ? "arm64"
    : Deno.build.arch;
  const nr = syscallNumbers(arch);
  // errno lives at a fixed per-thread address; all our synchronous calls run on this thread.
  const errnoView = new Deno.UnsafePointerView(lib.__errno_location()!);
  const num = (v: number | bigint) => Number(v);
  const ptr = (addr: bigint) => Deno.UnsafePointer.create(addr);

  const raw: RawLibc = {
    runtime: "deno",
    arch,
    errno: () => errnoView.getInt32(0),
    bpf: (cmd, attr, size) => num(lib.syscall_bpf(BigInt(nr.bpf), BigInt(cmd), attr, BigInt(size))),
    perfEventOpen: (attr, pid, cpu, groupFd, flags) =>
      num(
        lib.syscall_perf(
          BigInt(nr.perfEventOpen),
          attr,
          BigInt(pid),
          BigInt(cpu),
          BigInt(groupFd),
          BigInt(flags),
        ),
      ),
    ioctl: (fd, request, arg) => lib.ioctl(fd, BigInt(request), BigInt.asUintN(64, arg)),
    mmap: (length, prot, flags, fd, offset) =>
      BigInt(lib.mmap(0n, BigInt(length), prot, flags, fd, BigInt(offset))),
    munmap: (addr, length) => lib.munmap(addr, BigInt(length)),
    close: (fd) => lib.close(fd),
    openat: (path, flags, mode) =>
      num(
        lib.syscall_at(
          BigInt(nr.openat),
          BigInt(AT_FDCWD),
          path,
          BigInt(flags),
          BigInt(mode),
          null,
        ),
      ),
    statx: (path, flags, mask, buf) =>
      num(
        lib.syscall_at(BigInt(nr.statx), BigInt(AT_FDCWD), path, BigInt(flags), BigInt(mask), buf),
      ),
    mkdirat: (path, mode) =>
      num(lib.syscall_at(BigInt(nr.mkdirat), BigInt(AT_FDCWD), path, BigInt(mode), 0n, null)),
    getdents64: (fd, buf, length) =>
      num(lib.syscall_bpf(BigInt(nr.getdents64), BigInt(fd), buf, BigInt(length))),
    read: (fd, buf, length) => num(lib.read(fd, buf, BigInt(length))),
    write: (fd, buf, length) => num(lib.write(fd, buf, BigInt(length))),
    epollCreate1: (flags) => lib.epoll_create1(flags),
    epollCtl: (epfd, op, fd, event) => lib.epoll_ctl(epfd, op, fd, event),
    epollWaitSync: (epfd, events, max, timeout) => lib.epoll_wait(epfd, events, max, timeout),
    getpid: () => lib.getpid(),
    getrlimit: (resource, rlim) => lib.getrlimit(resource, rlim),
    clockGettime: (clock, ts) => lib.clock_gettime(clock, ts),
    setrlimit: (resource, rlim) => lib.setrlimit(resource, rlim),
    mount: (source, target, fstype, flags) =>
      lib.mount(source, target, fstype, BigInt(flags), null),
    setgroups: (n, list) => lib.setgroups(BigInt(n), list),
    setresgid: (r, e, s) => lib.setresgid(r, e, s),
    setresuid: (r, e, s) => lib.setresuid(r, e, s),
    execve: (path, argv, envp) => lib.execve(path, argv, envp),
    // From source: `deno run -A` of the main module (deno compile's binaries are not made here).
    selfCommand: () =>
      Deno.mainModule.startsWith("file:")
        ? [Deno.execPath(), "run", "-A", new URL(Deno.mainModule).pathname]
        : [Deno.execPath()],
    view: (addr, length) => Deno.UnsafePointerView.getArrayBuffer(ptr(addr)!, length),
    addressOf(buf) {
      // Touching .buffer moves a small V8 typed array out of the GC heap, so the address stays.
      void buf.buffer;
      return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
    },

    async epollWait(epfd, maxEvents, timeoutMs): Promise<ReadyEvent[]> {
      const buf = new Uint8Array(epollEventSize(arch) * maxEvents);
      // A poll (timeout 0) runs here; a wait runs on another thread so the event loop stays
      // free, but then errno is that thread's.
      let n = timeoutMs === 0
        ? lib.epoll_wait(epfd, buf, maxEvents, 0)
        : await lib.epoll_wait_async(epfd, buf, maxEvents, timeoutMs);
      if (n < 0) {
        // Find out why with a non-blocking call on this thread, where errno is ours.
        n = lib.epoll_wait(epfd, buf, maxEvents, 0);
        if (n < 0) {
          const errno = errnoView.getInt32(0);
          if (errno === EINTR) return [];
          throw new SysError(`epoll_wait on fd ${epfd}`, errno);
        }
      }
      return decodeEpollEvents(arch, buf, n);
    },

    onSignal(signal, handler) {
      Deno.addSignalListener(signal, handler);
      return () => Deno.removeSignalListener(signal, handler);
    },

    exit: (code) => Deno.exit(code),
  };
  return createPlatform(raw);
}
