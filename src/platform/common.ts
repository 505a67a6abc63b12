// The Platform built on a back end's raw libc calls: errno checks, SysError, write loops.

import { SysError } from "../errors.ts";
import { EAGAIN, EINTR, EPIPE, MAP_FAILED } from "./libc.ts";
import { identity, possibleCpus } from "./procfs.ts";
import { useFiles } from "./files.ts";
import { libcFiles } from "./files-libc.ts";
import type { RawLibc } from "./raw.ts";
import type { Address, Platform, ReadyEvent } from "./types.ts";
import { encodeEpollEvent, EPOLL_CLOEXEC, EPOLL_CTL_ADD } from "./libc.ts";

/** Throws SysError(step, errno) when a raw call returned a negative value. */
function check(libc: RawLibc, result: number, step: string): number {
  if (result < 0) throw new SysError(step, libc.errno());
  return result;
}

export function createPlatform(libc: RawLibc): Platform {
  // Every file call from now on goes through this libc (no node:fs: see files.ts).
  useFiles(libcFiles(libc));
  return {
    runtime: libc.runtime,

    bpf(cmd: number, attr: Uint8Array, step: string): number {
      // Retry EINTR and EAGAIN: BPF_PROG_LOAD returns EAGAIN when the verifier was interrupted.
      for (let attempt = 0;; attempt++) {
        const r = libc.bpf(cmd, attr, attr.byteLength);
        if (r >= 0) return r;
        const errno = libc.errno();
        if ((errno === EINTR || errno === EAGAIN) && attempt < 5) continue;
        throw new SysError(step, errno);
      }
    },

    perfEventOpen(attr, pid, cpu, groupFd, flags, step): number {
      return check(libc, libc.perfEventOpen(attr, pid, cpu, groupFd, flags), step);
    },

    ioctl(fd, request, arg, step): number {
      return check(libc, libc.ioctl(fd, request, BigInt(arg)), step);
    },

    mmap(length, prot, flags, fd, offset, step): Address {
      const addr = libc.mmap(length, prot, flags, fd, offset);
      if (addr === MAP_FAILED) throw new SysError(step, libc.errno());
      return addr;
    },

    munmap(addr, length): void {
      if (libc.munmap(addr, length) < 0) {
        throw new SysError(`munmap of ${length} bytes`, libc.errno());
      }
    },

    view: (addr, length) => libc.view(addr, length),
    addressOf: (buf) => libc.addressOf(buf),

    close(fd: number): void {
      if (libc.close(fd) < 0) throw new SysError(`close fd ${fd}`, libc.errno());
    },

    read(fd, buf, step): number {
      for (;;) {
        const r = libc.read(fd, buf, buf.byteLength);
        if (r >= 0) return r;
        const errno = libc.errno();
        if (errno !== EINTR) throw new SysError(step, errno);
      }
    },

    epollCreate(): number {
      return check(libc, libc.epollCreate1(EPOLL_CLOEXEC), "epoll_create1");
    },

    epollAdd(epfd, fd, events, data): void {
      const ev = encodeEpollEvent(libc.arch, events, data);
      check(libc, libc.epollCtl(epfd, EPOLL_CTL_ADD, fd, ev), `epoll_ctl ADD fd ${fd}`);
    },

    epollWait(epfd, maxEvents, timeoutMs): Promise<ReadyEvent[]> {
      return libc.epollWait(epfd, maxEvents, timeoutMs);
    },

    onSignal: (signal, handler) => libc.onSignal(signal, handler),

    writeAll(fd: number, bytes: Uint8Array): void {
      let off = 0;
      while (off < bytes.byteLength) {
        const chunk = off === 0 ? bytes : bytes.subarray(off);
        const r = libc.write(fd, chunk, chunk.byteLength);
        if (r >= 0) {
          off += r;
          continue;
        }
        const errno = libc.errno();
        if (errno === EINTR) continue;
        if (errno === EPIPE) libc.exit(0);
        if (errno === EAGAIN) {
          // A non-blocking stdout (set by a parent): wait until it drains, briefly.
          waitWritable(libc, fd);
          continue;
        }
        throw new SysError(`write to fd ${fd}`, errno);
      }
    },

    possibleCpus,
    identity,
    pid: () => libc.getpid(),

    clockNs(clock) {
      const ts = new Uint8Array(16);
      const id = clock === "real" ? 0 : clock === "monotonic" ? 1 : 7; // CLOCK_BOOTTIME = 7
      if (libc.clockGettime(id, ts) < 0) {
        throw new SysError(`clock_gettime(${clock})`, libc.errno());
      }
      const dv = new DataView(ts.buffer);
      return dv.getBigInt64(0, true) * 1_000_000_000n + dv.getBigInt64(8, true);
    },

    setIds(uid, gid, groups) {
      const list = new Uint8Array(4 * Math.max(1, groups.length));
      groups.forEach((g, i) => new DataView(list.buffer).setUint32(4 * i, g, true));
      check(libc, libc.setgroups(groups.length, list), `setgroups(${groups.join(",")})`);
      check(libc, libc.setresgid(gid, gid, gid), `setresgid(${gid})`);
      check(libc, libc.setresuid(uid, uid, uid), `setresuid(${uid})`);
    },

    execve(path, argv, env) {
      const enc = new TextEncoder();
      // Every string NUL-terminated in one buffer; two arrays of their addresses, NULL-ended.
      const strings = [path, ...argv, ...env].map((s) => enc.encode(`${s}\0`));
      const all = new Uint8Array(strings.reduce((n, s) => n + s.length, 0));
      const at: number[] = [];
      let off = 0;
      for (const s of strings) {
        all.set(s, off);
        at.push(off);
        off += s.length;
      }
      const base = libc.addressOf(all);
      const table = (from: number, n: number) => {
        const t = new Uint8Array(8 * (n + 1));
        const dv = new DataView(t.buffer);
        for (let i = 0; i < n; i++) dv.setBigUint64(8 * i, base + BigInt(at[from + i]), true);
        return t;
      };
      const argvTable = table(1, argv.length), envTable = table(1 + argv.length, env.length);
      libc.execve(all.subarray(0, strings[0].length), argvTable, envTable);
      const errno = libc.errno();
      void all.length; // keeps the strings alive across the call
      return errno;
    },

    selfCommand: () => libc.selfCommand(),

    mountFs(fstype, target) {
      const c = (text: string) => new TextEncoder().encode(`${text}\0`);
      check(libc, libc.mount(c(fstype), c(target), c(fstype), 0), `mount ${fstype} at ${target}`);
    },

    getRlimit(resource) {
      const rlim = new Uint8Array(16);
      if (libc.getrlimit(resource, rlim) < 0) {
        throw new SysError(`getrlimit(${resource})`, libc.errno());
      }
      const dv = new DataView(rlim.buffer);
      return { soft: dv.getBigUint64(0, true), hard: dv.getBigUint64(8, true) };
    },

    setRlimit(resource, soft, hard, step) {
      const rlim = new Uint8Array(16);
      const dv = new DataView(rlim.buffer);
      dv.setBigUint64(0, BigInt.asUintN(64, soft), true);
      dv.setBigUint64(8, BigInt.asUintN(64, hard), true);
      check(libc, libc.setrlimit(resource, rlim), step);
    },
  };
}

/** Sleeps ~1 ms synchronously (epoll_wait on an empty epoll set) so EAGAIN loops do not spin. */
function waitWritable(libc: RawLibc, _fd: number): void {
  const ep = libc.epollCreate1(EPOLL_CLOEXEC);
  if (ep < 0) return;
  const buf = new Uint8Array(16);
  libc.epollWaitSync(ep, buf, 1, 1);
  libc.close(ep);
}
