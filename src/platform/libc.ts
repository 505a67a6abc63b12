// libc facts shared by both FFI back ends: syscall numbers, epoll layout, errno values.
// Pure data: imports nothing from a runtime.

/** Syscall numbers of bpf(2) and perf_event_open(2) per CPU architecture. */
const SYSCALLS: Record<string, { bpf: number; perfEventOpen: number }> = {
  x64: { bpf: 321, perfEventOpen: 298 },
  x86_64: { bpf: 321, perfEventOpen: 298 },
  arm64: { bpf: 280, perfEventOpen: 241 },
  aarch64: { bpf: 280, perfEventOpen: 241 },
};

/** Syscall numbers for `arch` (Node/Bun `process.arch` or Deno `Deno.build.arch` spelling). */
export function syscallNumbers(arch: string): { bpf: number; perfEventOpen: number } {
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
