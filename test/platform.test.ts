// The FFI platform layer, under whichever runtime runs the tests (Deno or Bun).

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTest } from "./env.ts";
import { runScript, shellCommand } from "./platform-run.ts";
import { getPlatform } from "../src/platform/index.ts";
import { parseCpuList, parseStatus } from "../src/platform/procfs.ts";
import { decodeEpollEvents, encodeEpollEvent } from "../src/platform/libc.ts";
import { SysError } from "../src/errors.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../src/kernel/constants.ts";
import { PerfSwConfig, PerfType } from "../src/kernel/constants.ts";
import { perfEventOpen } from "../src/kernel/perf.ts";

const p = await getPlatform();
const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;

test("getPlatform picks this runtime's back end, once", async () => {
  assert.equal(p.runtime, isDeno ? "deno" : "bun");
  assert.equal(await getPlatform(), p);
});

test("pid() and identity() agree with node:process", () => {
  assert.equal(p.pid(), process.pid);
  const id = p.identity();
  assert.equal(id.uid, process.getuid!());
  assert.equal(id.euid, process.geteuid!());
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))!;
  assert.equal(id.capEff, BigInt("0x" + m[1]));
});

test("parseStatus and parseCpuList read the kernel's formats", () => {
  assert.deepEqual(parseStatus("Name:\tx\nUid:\t1000\t0\t0\t0\nCapEff:\t000001ffffffffff\n"), {
    uid: 1000,
    euid: 0,
    capEff: 0x1ffffffffffn,
  });
  assert.deepEqual(parseCpuList("0-3,8-9,12\n"), [0, 1, 2, 3, 8, 9, 12]);
  assert.deepEqual(parseCpuList("0\n"), [0]);
  assert.throws(() => parseCpuList("0-x"), /bad CPU list/);
  const possible = parseCpuList(readFileSync("/sys/devices/system/cpu/possible", "utf8"));
  assert.equal(p.possibleCpus(), Math.max(...possible) + 1);
});

test("epoll_event encoding round-trips (packed 12 bytes on x86_64)", () => {
  const e = encodeEpollEvent("x64", 0x19, 123456);
  assert.equal(e.byteLength, 12);
  assert.deepEqual(decodeEpollEvents("x64", e, 1), [{ events: 0x19, data: 123456 }]);
  const a = encodeEpollEvent("arm64", 1, 7);
  assert.equal(a.byteLength, 16);
  assert.deepEqual(decodeEpollEvents("arm64", a, 1), [{ events: 1, data: 7 }]);
});

test("addressOf + view: a zero-copy view of a typed array, subarrays at their offset", () => {
  const buf = new Uint8Array(64);
  const base = p.addressOf(buf);
  assert.equal(p.addressOf(buf.subarray(8)), base + 8n);
  const view = new Uint8Array(p.view(base, 64));
  view[5] = 0xab;
  assert.equal(buf[5], 0xab);
  buf[9] = 0xcd;
  assert.equal(view[9], 0xcd);
});

test("mmap gives memory the views share; munmap releases it", () => {
  const len = 8192;
  const addr = p.mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "mmap anon");
  assert.equal(addr % 4096n, 0n);
  const a = new Uint32Array(p.view(addr, len));
  const b = new DataView(p.view(addr + 4096n, 4096));
  a[1024] = 0xdeadbeef;
  assert.equal(b.getUint32(0, true), 0xdeadbeef);
  Atomics.store(a, 3, 7);
  assert.equal(Atomics.load(new Uint32Array(p.view(addr, 16)), 3), 7);
  p.munmap(addr, len);
  assert.throws(
    () => p.mmap(4096, PROT_READ, MAP_PRIVATE, 999999, 0, "mmap of a bad fd"),
    (e: unknown) => e instanceof SysError && e.message === "mmap of a bad fd: EBADF",
  );
});

test("errno is read right after the call: EBADF from close and read of a bad fd", () => {
  assert.throws(() => p.close(987654), (e: unknown) => e instanceof SysError && e.errno === 9);
  assert.throws(
    () => p.read(987654, new Uint8Array(8), "read of fd 987654"),
    (e: unknown) => e instanceof SysError && e.message === "read of fd 987654: EBADF",
  );
  assert.throws(
    () => p.ioctl(987654, 0x2400, 0, "ioctl of fd 987654"),
    (e: unknown) => e instanceof SysError && e.errnoName === "EBADF",
  );
  assert.throws(
    () => p.epollAdd(987654, 0, 1, 0),
    (e: unknown) => e instanceof SysError && e.errnoName === "EBADF",
  );
});

test("read() of a perf counter fd returns its 8-byte count", kernelTest(), () => {
  const ev = perfEventOpen(
    p,
    { type: PerfType.SOFTWARE, config: BigInt(PerfSwConfig.TASK_CLOCK) },
    {
      pid: 0,
      cpu: -1,
      what: "task clock",
    },
  );
  try {
    let x = 0;
    for (let i = 0; i < 1e6; i++) x += i;
    assert.ok(x > 0);
    const buf = new Uint8Array(8);
    assert.equal(p.read(ev.fd, buf, "read task clock"), 8);
    assert.ok(new DataView(buf.buffer).getBigUint64(0, true) > 0n);
  } finally {
    ev.close();
  }
});

test("epollWait times out on time and keeps the event loop running meanwhile", async () => {
  const ep = p.epollCreate();
  try {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const t0 = performance.now();
    const ready = await p.epollWait(ep, 8, 300);
    const ms = performance.now() - t0;
    clearInterval(timer);
    assert.deepEqual(ready, []);
    assert.ok(ms >= 290 && ms < 800, `waited ${ms.toFixed(0)} ms for 300`);
    assert.ok(ticks >= 4, `only ${ticks} timer ticks during a 300 ms wait`);
    const t1 = performance.now();
    assert.deepEqual(await p.epollWait(ep, 8, 0), []);
    assert.ok(performance.now() - t1 < 100);
  } finally {
    p.close(ep);
  }
  await assert.rejects(
    p.epollWait(987654, 1, 10),
    (e: unknown) => e instanceof SysError && e.errnoName === "EBADF",
  );
});

// SIGTERM, not SIGINT: `deno test` itself reacts to SIGINT by ending the run. Same delivery path.
test("a SIGTERM during epollWait reaches the handler within 250 ms (50 ms slices on Bun)", async () => {
  const ep = p.epollCreate();
  let seenAt = 0;
  const remove = p.onSignal("SIGTERM", () => {
    seenAt = performance.now();
  });
  try {
    let sentAt = 0;
    setTimeout(() => {
      sentAt = performance.now();
      process.kill(process.pid, "SIGTERM");
    }, 30);
    const waits: number[] = [];
    while (seenAt === 0 && waits.length < 20) {
      await p.epollWait(ep, 1, 100);
      waits.push(performance.now());
    }
    assert.ok(seenAt > 0, "SIGTERM handler never ran");
    assert.ok(seenAt - sentAt < 250, `handler ran ${(seenAt - sentAt).toFixed(0)} ms after kill`);
  } finally {
    remove();
    p.close(ep);
  }
});

test("writeAll writes every byte through a pipe (partial writes continued)", () => {
  const r = runScript("test/platform-writer.ts", "exact", String(3 << 20));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.length, 3 << 20);
  assert.equal(r.stdout.slice(0, 28), "ABCDEFGHIJKLMNOPQRSTUVWXYZAB");
  assert.equal(
    r.stdout.slice(-2),
    String.fromCharCode(0x41 + ((3 << 20) - 2) % 26, 0x41 + ((3 << 20) - 1) % 26),
  );
});

test("writeAll exits 0 quietly on EPIPE: `writer | head -c1` succeeds", () => {
  const cmd = `${shellCommand("test/platform-writer.ts", "flood")} 2>"$ERR" | head -c1; ` +
    `echo " status=\${PIPESTATUS[0]}"; cat "$ERR"`;
  const err = `/tmp/tracer-epipe-${process.pid}.err`;
  const r = spawnSync("bash", ["-c", cmd], { encoding: "utf8", env: { ...process.env, ERR: err } });
  assert.equal(r.stdout, "a status=0\n");
});

test(
  "mountFs is mount(2): a tmpfs appears in mountinfo; an unknown type is ENODEV",
  kernelTest(),
  () => {
    const dir = mkdtempSync(join(tmpdir(), "mountfs-"));
    try {
      p.mountFs("tmpfs", dir);
      try {
        const line = readFileSync("/proc/self/mountinfo", "utf8").split("\n")
          .find((l) => l.split(" ")[4] === dir);
        assert.ok(line, `${dir} not in mountinfo`);
        assert.match(line, / - tmpfs tmpfs /);
      } finally {
        assert.equal(spawnSync("umount", [dir]).status, 0);
      }
      assert.throws(
        () => p.mountFs("nosuchfs", dir),
        (e: unknown) =>
          e instanceof SysError && e.errno === 19 && e.message.includes(`mount nosuchfs at ${dir}`),
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  },
);
