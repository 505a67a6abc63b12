// bpf()/perf_event_open wrappers against the real kernel: programs, maps, ring buffer, links,
// BTF, errors, and that close() really releases what the kernel holds.

import { test } from "node:test";
import assert from "node:assert/strict";
import { kernelTest } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import { SysError } from "../src/errors.ts";
import { asm, encode } from "../src/asm/insn.ts";
import * as op from "../src/asm/opcodes.ts";
import {
  allIds,
  btfLoad,
  getFdById,
  linkCreate,
  linkGetNextId,
  mapCreate,
  mapGetNextId,
  progGetNextId,
  progInfo,
  progLoad,
  rawTracepointOpen,
} from "../src/kernel/bpf.ts";
import { mapElemAttr } from "../src/kernel/attr.ts";
import {
  AttachType,
  BpfCmd,
  Helper,
  LinkType,
  MAP_SHARED,
  MapType,
  ProgType,
  PROT_READ,
  PROT_WRITE,
  UpdateFlags,
} from "../src/kernel/constants.ts";
import { tracepointEvent } from "../src/kernel/perf.ts";
import { tracepointId } from "../src/kernel/tracefs.ts";
import { EPOLLIN } from "../src/platform/libc.ts";
import { BtfBuilder } from "../src/btf/writer.ts";
import { INT_SIGNED, Kind } from "../src/btf/types.ts";

const p = await getPlatform();
const RET0 = encode([asm.mov64Imm(0, 0), asm.exit()]);
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: bigint) => new Uint8Array(new BigUint64Array([n]).buffer);

/** Waits until `id` is gone from the kernel's id list (objects are freed after an RCU grace period). */
async function gone(next: typeof progGetNextId, id: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (!allIds(p, next).includes(id)) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

test(
  "BPF_PROG_LOAD loads a trivial program; info names it; close() frees it",
  kernelTest(),
  async () => {
    const prog = progLoad(p, {
      type: ProgType.SOCKET_FILTER,
      insns: RET0,
      license: "GPL",
      name: "t_trivial",
    });
    const info = prog.info();
    assert.equal(info.name, "t_trivial");
    assert.equal(info.type, ProgType.SOCKET_FILTER);
    assert.equal(info.xlatedProgLen, 16);
    assert.ok(allIds(p, progGetNextId).includes(info.id));
    prog.close();
    prog.close(); // idempotent
    assert.throws(() => prog.fd, /used after close/);
    assert.ok(
      await gone(progGetNextId, info.id),
      `program id ${info.id} still loaded after close()`,
    );
  },
);

test("a successful load with logLevel 1 keeps the verifier log", kernelTest(), () => {
  const prog = progLoad(p, {
    type: ProgType.SOCKET_FILTER,
    insns: RET0,
    license: "GPL",
    name: "t_logged",
    logLevel: 1,
  });
  try {
    assert.match(prog.verifierLog, /processed 2 insns/);
  } finally {
    prog.close();
  }
});

test(
  "a broken program is rejected with EACCES and the verifier log's last lines",
  kernelTest(),
  () => {
    const broken = encode([asm.exit()]); // r0 never written
    assert.throws(
      () =>
        progLoad(p, { type: ProgType.TRACEPOINT, insns: broken, license: "GPL", name: "t_broken" }),
      (e: unknown) => {
        assert.ok(e instanceof SysError);
        assert.equal(e.errnoName, "EACCES");
        assert.equal(e.step, "BPF_PROG_LOAD of program t_broken");
        assert.match(e.message, /verifier log:\n[\s\S]*R0 !read_ok/);
        return true;
      },
    );
  },
);

test(
  "hash map: update, lookup, NOEXIST, iterate, delete, info, close frees it",
  kernelTest(),
  async () => {
    const m = mapCreate(p, {
      type: MapType.HASH,
      keySize: 4,
      valueSize: 8,
      maxEntries: 8,
      name: "t_hash",
    });
    const info = m.info();
    assert.deepEqual(
      [info.type, info.keySize, info.valueSize, info.maxEntries, info.name],
      [MapType.HASH, 4, 8, 8, "t_hash"],
    );
    for (const k of [3, 1, 2]) m.update(u32(k), u64(BigInt(k) * 1000n));
    assert.deepEqual(m.lookup(u32(2)), u64(2000n));
    assert.equal(m.lookup(u32(9)), null);
    assert.throws(
      () => m.update(u32(1), u64(0n), UpdateFlags.NOEXIST),
      (e: unknown) => e instanceof SysError && e.errnoName === "EEXIST",
    );
    const keys = [...m.keys()].map((k) => new DataView(k.buffer).getUint32(0, true)).sort();
    assert.deepEqual(keys, [1, 2, 3]);
    assert.equal(m.delete(u32(1)), true);
    assert.equal(m.delete(u32(1)), false);
    assert.equal(m.lookup(u32(1)), null);
    assert.equal([...m.keys()].length, 2);
    assert.throws(() => m.lookup(new Uint8Array(3)), /key is 3 bytes, want 4/);
    m.close();
    assert.ok(await gone(mapGetNextId, info.id), `map id ${info.id} still exists after close()`);
  },
);

test("per-CPU array values span every possible CPU", kernelTest(), () => {
  const m = mapCreate(p, {
    type: MapType.PERCPU_ARRAY,
    keySize: 4,
    valueSize: 4,
    maxEntries: 1,
    name: "t_percpu",
  });
  try {
    const cpus = p.possibleCpus();
    assert.equal(m.valueBufferSize, 8 * cpus);
    const v = new Uint8Array(8 * cpus);
    for (let c = 0; c < cpus; c++) v[c * 8] = c + 1;
    m.update(u32(0), v);
    assert.deepEqual(m.lookup(u32(0)), v);
  } finally {
    m.close();
  }
});

test("a frozen map refuses updates from user space with EPERM", kernelTest(), () => {
  const m = mapCreate(p, {
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 4,
    maxEntries: 1,
    name: "t_frozen",
  });
  try {
    m.update(u32(0), u32(42));
    m.freeze();
    assert.deepEqual(m.lookup(u32(0)), u32(42));
    assert.throws(
      () => m.update(u32(0), u32(1)),
      (e: unknown) =>
        e instanceof SysError && e.errnoName === "EPERM" && /t_frozen/.test(e.message),
    );
  } finally {
    m.close();
  }
});

test(
  "errno names on forced failures: EBADF on a closed fd, EINVAL on a bad command",
  kernelTest(),
  () => {
    const m = mapCreate(p, {
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      name: "t_ebadf",
    });
    const fd = m.fd;
    m.close();
    const attr = mapElemAttr((b) => p.addressOf(b), fd, u32(0), new Uint8Array(4));
    assert.throws(
      () => p.bpf(BpfCmd.MAP_LOOKUP_ELEM, attr.bytes, "lookup on closed fd"),
      (e: unknown) =>
        e instanceof SysError && e.errno === 9 && e.message === "lookup on closed fd: EBADF",
    );
    assert.throws(
      () => p.close(fd),
      (e: unknown) => e instanceof SysError && e.errnoName === "EBADF",
    );
    assert.throws(
      () => p.bpf(9999, new Uint8Array(16), "bpf command 9999"),
      (e: unknown) => e instanceof SysError && e.errnoName === "EINVAL",
    );
    assert.throws(
      () =>
        mapCreate(p, {
          type: MapType.HASH,
          keySize: 0,
          valueSize: 4,
          maxEntries: 1,
          name: "t_bad",
        }),
      (e: unknown) =>
        e instanceof SysError && e.step === "BPF_MAP_CREATE of map t_bad" &&
        e.errnoName === "EINVAL",
    );
  },
);

test(
  "ring buffer mmap: consumer page read-write, producer page refused writable (EPERM)",
  kernelTest(),
  () => {
    const size = 4096;
    const rb = mapCreate(p, {
      type: MapType.RINGBUF,
      keySize: 0,
      valueSize: 0,
      maxEntries: size,
      name: "t_rb_mmap",
    });
    try {
      const cons = p.mmap(4096, PROT_READ | PROT_WRITE, MAP_SHARED, rb.fd, 0, "mmap consumer");
      const prod = p.mmap(4096 + 2 * size, PROT_READ, MAP_SHARED, rb.fd, 4096, "mmap producer");
      const consView = new DataView(p.view(cons, 4096));
      const prodView = new DataView(p.view(prod, 4096 + 2 * size));
      assert.equal(consView.getBigUint64(0, true), 0n);
      assert.equal(prodView.getBigUint64(0, true), 0n);
      consView.setBigUint64(0, 0n, true); // writable without a fault
      assert.throws(
        () => p.mmap(4096, PROT_READ | PROT_WRITE, MAP_SHARED, rb.fd, 4096, "mmap producer rw"),
        (e: unknown) =>
          e instanceof SysError && e.errnoName === "EPERM" && e.step === "mmap producer rw",
      );
      p.munmap(prod, 4096 + 2 * size);
      p.munmap(cons, 4096);
    } finally {
      rb.close();
    }
  },
);

test(
  "epoll_wait on an empty ring buffer times out after about the timeout",
  kernelTest(),
  async () => {
    const rb = mapCreate(p, {
      type: MapType.RINGBUF,
      keySize: 0,
      valueSize: 0,
      maxEntries: 4096,
      name: "t_rb_idle",
    });
    const ep = p.epollCreate();
    try {
      p.epollAdd(ep, rb.fd, EPOLLIN, 5);
      const t0 = performance.now();
      const ready = await p.epollWait(ep, 4, 150);
      const ms = performance.now() - t0;
      assert.deepEqual(ready, []);
      assert.ok(ms >= 140 && ms < 600, `waited ${ms.toFixed(0)} ms for a 150 ms timeout`);
    } finally {
      p.close(ep);
      rb.close();
    }
  },
);

/**
 * A tracepoint program on syscalls/sys_enter_getpid that sends bpf_get_current_pid_tgid()
 * through the ring buffer when the caller's tgid is `pid`.
 */
function getpidReporter(mapFd: number, pid: number): Uint8Array {
  return encode([
    asm.call(Helper.get_current_pid_tgid),
    asm.mov64Reg(6, 0),
    asm.mov64Reg(1, 0),
    asm.alu64Imm(op.BPF_RSH, 1, 32),
    asm.jmpImm(op.BPF_JNE, 1, pid, 9),
    asm.stxMem(op.BPF_DW, 10, 6, -8),
    ...asm.ldImm64(1, BigInt(mapFd), op.BPF_PSEUDO_MAP_FD),
    asm.mov64Reg(2, 10),
    asm.alu64Imm(op.BPF_ADD, 2, -8),
    asm.mov64Imm(3, 8),
    asm.mov64Imm(4, 0),
    asm.call(Helper.ringbuf_output),
    asm.mov64Imm(0, 0), // <- the JNE lands here
    asm.exit(),
  ]);
}

/** Reads every committed 8-byte record, advancing the consumer position. */
function drain(cons: DataView, prod: DataView, size: number): bigint[] {
  const out: bigint[] = [];
  let pos = cons.getBigUint64(0, true);
  const end = prod.getBigUint64(0, true);
  while (pos < end) {
    const off = 4096 + Number(pos & BigInt(size - 1));
    const len = prod.getUint32(off, true);
    assert.equal(len & 0xc0000000, 0, "record busy or discarded");
    assert.equal(len, 8);
    out.push(prod.getBigUint64(off + 8, true));
    pos += BigInt((8 + len + 7) & ~7);
  }
  cons.setBigUint64(0, pos, true);
  return out;
}

for (const how of ["BPF_LINK_CREATE", "PERF_EVENT_IOC_SET_BPF"] as const) {
  test(
    `tracepoint program attached with ${how} delivers real getpid events through the ring buffer`,
    kernelTest(),
    async () => {
      const size = 4096;
      const pid = p.pid();
      const id = tracepointId("syscalls", "sys_enter_getpid");
      assert.ok(id !== null, "syscalls/sys_enter_getpid tracepoint id");
      const rb = mapCreate(p, {
        type: MapType.RINGBUF,
        keySize: 0,
        valueSize: 0,
        maxEntries: size,
        name: "t_rb_events",
      });
      const prog = progLoad(p, {
        type: ProgType.TRACEPOINT,
        insns: getpidReporter(rb.fd, pid),
        license: "GPL",
        name: "t_getpid",
      });
      const ev = tracepointEvent(p, id, "syscalls/sys_enter_getpid");
      const ep = p.epollCreate();
      const cons = p.mmap(4096, PROT_READ | PROT_WRITE, MAP_SHARED, rb.fd, 0, "mmap consumer");
      const prod = p.mmap(4096 + 2 * size, PROT_READ, MAP_SHARED, rb.fd, 4096, "mmap producer");
      let linkId = 0;
      const links: { close(): void }[] = [];
      const progId = prog.info().id;
      try {
        const consView = new DataView(p.view(cons, 4096));
        const prodView = new DataView(p.view(prod, 4096 + 2 * size));
        if (how === "BPF_LINK_CREATE") {
          const link = linkCreate(p, prog.fd, ev.fd, AttachType.PERF_EVENT, { what: "t_getpid" });
          const li = link.info();
          assert.equal(li.type, LinkType.PERF_EVENT);
          assert.equal(li.progId, progId);
          linkId = li.id;
          links.push(link);
        } else {
          ev.setBpf(prog.fd);
          ev.enable();
        }
        p.epollAdd(ep, rb.fd, EPOLLIN, 77);
        for (let i = 0; i < 3; i++) assert.equal(p.pid(), pid);
        const ready = await p.epollWait(ep, 4, 2000);
        assert.deepEqual(ready, [{ data: 77, events: EPOLLIN }]);
        const records = drain(consView, prodView, size);
        assert.equal(records.length, 3, `records: ${records}`);
        for (const r of records) assert.equal(Number(r >> 32n), pid);
        // No more events: the next wait times out.
        assert.deepEqual(drain(consView, prodView, size), []);
      } finally {
        p.munmap(prod, 4096 + 2 * size);
        p.munmap(cons, 4096);
        p.close(ep);
        for (const l of links) l.close();
        ev.close();
        prog.close();
        rb.close();
      }
      assert.ok(await gone(progGetNextId, progId), `program ${progId} still loaded after close()`);
      if (linkId) {
        assert.ok(await gone(linkGetNextId, linkId), `link ${linkId} still exists after close()`);
      }
    },
  );
}

test(
  "raw tracepoint link: attach to sched_switch, info names the program, close frees it",
  kernelTest(),
  async () => {
    const prog = progLoad(p, {
      type: ProgType.RAW_TRACEPOINT,
      insns: RET0,
      license: "GPL",
      name: "t_raw_tp",
    });
    const link = rawTracepointOpen(p, "sched_switch", prog.fd);
    const li = link.info();
    assert.equal(li.type, LinkType.RAW_TRACEPOINT);
    assert.equal(li.progId, prog.info().id);
    link.close();
    prog.close();
    assert.ok(await gone(linkGetNextId, li.id));
    assert.throws(
      () => rawTracepointOpen(p, "no_such_tracepoint_xyz", -1),
      (e: unknown) =>
        e instanceof SysError &&
        /BPF_RAW_TRACEPOINT_OPEN of no_such_tracepoint_xyz/.test(e.message),
    );
  },
);

test(
  "BPF_BTF_LOAD accepts a built BTF blob and rejects a bad one with the kernel's log",
  kernelTest(),
  () => {
    const b = new BtfBuilder();
    b.add({ kind: Kind.INT, name: "int", size: 4, encoding: INT_SIGNED, offset: 0, bits: 32 });
    const bytes = b.build();
    const btf = btfLoad(p, bytes, "test BTF");
    try {
      const info = btf.info();
      assert.ok(info.id > 0);
      assert.equal(info.size, bytes.byteLength);
      assert.equal(info.kernelBtf, false);
    } finally {
      btf.close();
    }
    const bad = new BtfBuilder();
    bad.add({ kind: Kind.INT, name: "int", size: 4, encoding: INT_SIGNED, offset: 0, bits: 40 });
    assert.throws(
      () => btfLoad(p, bad.build(), "bad BTF"),
      (e: unknown) =>
        e instanceof SysError && e.errnoName === "EINVAL" && e.step === "BPF_BTF_LOAD of bad BTF" &&
        /BTF log:/.test(e.message),
    );
  },
);

test(
  "BPF_PROG_GET_FD_BY_ID opens a second fd; the program lives until both are closed",
  kernelTest(),
  async () => {
    const prog = progLoad(p, {
      type: ProgType.SOCKET_FILTER,
      insns: RET0,
      license: "GPL",
      name: "t_by_id",
    });
    const id = prog.info().id;
    const second = getFdById(p, BpfCmd.PROG_GET_FD_BY_ID, id, "program");
    assert.notEqual(second.fd, prog.fd);
    assert.equal(progInfo(p, second.fd).name, "t_by_id");
    prog.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(allIds(p, progGetNextId).includes(id), "freed while a second fd was open");
    second.close();
    assert.ok(await gone(progGetNextId, id));
    assert.throws(
      () => getFdById(p, BpfCmd.PROG_GET_FD_BY_ID, id, "program"),
      (e: unknown) => e instanceof SysError && e.errnoName === "ENOENT",
    );
  },
);

test(
  "a verifier log that does not fit (ENOSPC) is retried with a bigger buffer",
  kernelTest(),
  () => {
    // 40 instructions of r0 = r0 + 1 before an exit that reads an uninitialised r2.
    const body = Array.from({ length: 40 }, () => asm.alu64Imm(op.BPF_ADD, 0, 1));
    const insns = encode([asm.mov64Imm(0, 0), ...body, asm.mov64Reg(0, 2), asm.exit()]);
    assert.throws(
      () =>
        progLoad(p, {
          type: ProgType.SOCKET_FILTER,
          insns,
          license: "GPL",
          name: "t_small_log",
          logLevel: 2,
          logSize: 64,
        }),
      (e: unknown) => {
        assert.ok(e instanceof SysError);
        assert.equal(e.errnoName, "EACCES"); // not ENOSPC: the log was grown until it fit
        assert.match(e.message, /R2 !read_ok/);
        return true;
      },
    );
  },
);

test(
  "epollWait wakes when an event arrives during the wait, with timers still running",
  kernelTest(),
  async () => {
    const size = 4096;
    const pid = p.pid();
    const id = tracepointId("syscalls", "sys_enter_getpid")!;
    const rb = mapCreate(p, {
      type: MapType.RINGBUF,
      keySize: 0,
      valueSize: 0,
      maxEntries: size,
      name: "t_rb_wake",
    });
    const prog = progLoad(p, {
      type: ProgType.TRACEPOINT,
      insns: getpidReporter(rb.fd, pid),
      license: "GPL",
      name: "t_wake",
    });
    const ev = tracepointEvent(p, id, "syscalls/sys_enter_getpid");
    const link = linkCreate(p, prog.fd, ev.fd, AttachType.PERF_EVENT);
    const ep = p.epollCreate();
    try {
      p.epollAdd(ep, rb.fd, EPOLLIN, 1);
      let firedAt = 0;
      setTimeout(() => {
        firedAt = performance.now();
        p.pid(); // the event, from a timer, while epollWait is pending
      }, 100);
      const ready = await p.epollWait(ep, 4, 3000);
      const wokeAt = performance.now();
      assert.ok(firedAt > 0, "the timer did not run during the wait");
      assert.deepEqual(ready, [{ data: 1, events: EPOLLIN }]);
      assert.ok(wokeAt - firedAt < 250, `woke ${(wokeAt - firedAt).toFixed(0)} ms after the event`);
    } finally {
      p.close(ep);
      link.close();
      ev.close();
      prog.close();
      rb.close();
    }
  },
);
