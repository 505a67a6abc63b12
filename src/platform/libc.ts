// libc facts shared by both FFI back ends: syscall numbers, epoll layout, errno values.
// Pure data: imports nothing from a runtime.

/** Syscall numbers per CPU architecture (the ones called through syscall(2)). */
interface Syscalls {
  bpf: number;
  perfEventOpen: number;
  openat: number;
  statx: number;
  getdents64: number;
  mkdirat: number;
}
const X64: Syscalls = {
  bpf: 321,
  perfEventOpen: 298,
  openat: 257,
  statx: 332,
  getdents64: 217,
  mkdirat: 258,
};
const ARM64: Syscalls = {
  bpf: 280,
  perfEventOpen: 241,
  openat: 56,
  statx: 291,
  getdents64: 61,
  mkdirat: 34,
};
const SYSCALLS: Record<string, Syscalls> = { x64: X64, x86_64: X64, arm64: ARM64, aarch64: ARM64 };

/** openat(2)'s, statx(2)'s and mkdirat(2)'s dirfd for "relative to the working directory". */
export const AT_FDCWD = -100;

/** Syscall numbers for `arch` (Node/Bun `process.arch` or Deno `Deno.build.arch` spelling). */
export function syscallNumbers(arch: string): Syscalls {
  const n = SYSCALLS[arch];
  if (!n) throw new Error(`tracer: unsupported CPU architecture '${arch}'`);
  return n;
}

export const EINTR = 4;
export const EAGAIN = 11;
export const EPIPE = 32;

export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLLIN = 0x001;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;

/**
 * struct epoll_event is packed on x86_64 (12 bytes: u32 events, u64 data) and naturally
 * aligned elsewhere (16 bytes).
 */
export function epollEventSize(arch: string): number {
  return arch === "x64" || arch === "x86_64" ? 12 : 16;
}

/** The byte offset of `data` inside struct epoll_event. */
export function epollDataOffset(arch: string): number {
  return arch === "x64" || arch === "x86_64" ? 4 : 8;
}

/** mmap(2) returns MAP_FAILED ((void *)-1) on error. */
export const MAP_FAILED = 0xffffffffffffffffn;

/** Writes one struct epoll_event (events, data) into `buf`. */
export function encodeEpollEvent(arch: string, events: number, data: number): Uint8Array {
  const buf = new Uint8Array(epollEventSize(arch));
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, events >>> 0, true);
  dv.setBigUint64(epollDataOffset(arch), BigInt(data), true);
  return buf;
}

/** Reads `count` struct epoll_event records from `buf`. */
export function decodeEpollEvents(
  arch: string,
  buf: Uint8Array,
  count: number,
): { data: number; events: number }[] {
  const size = epollEventSize(arch);
  const off = epollDataOffset(arch);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: { data: number; events: number }[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      events: dv.getUint32(i * size, true),
      data: Number(dv.getBigUint64(i * size + off, true)),
    });
  }
  return out;
}
