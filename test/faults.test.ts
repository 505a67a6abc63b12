// Faults, for exec, open and connect on the real kernel: SIGKILL mid-stream, Ctrl-C at each
// start-up phase, -o on a full file system, a closed pipe, several tracers at once, a
// tracepoint the kernel lacks, and bad --btf files. After each, none of the kernel objects
// the tracer held (by id) may remain.
// Cost: about 40 s under Deno, 25 s under Bun, 20 s with TRACER_BIN (some 30 tracer start-ups).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { kernelTest } from "./env.ts";
import {
  backgroundTracer,
  jsonLines,
  processIds,
  ROOT,
  runTracer,
  tracerCommandLine,
  tracerEnv,
} from "./tracer-cli.ts";
import { kernelObjectFds, stillLoaded } from "./loader-ids.ts";
import { getPlatform } from "../src/platform/index.ts";
import { openTracer } from "../src/tracers/open.ts";
import { startTracer } from "../src/tracers/run.ts";
import { TracerError } from "../src/errors.ts";
import { BtfBuilder } from "../src/btf/writer.ts";
import { Kind } from "../src/btf/types.ts";

const DIR = mkdtempSync(join(tmpdir(), "tracer-faults-"));
const FILE = join(DIR, "opened");
writeFileSync(FILE, "x");
/** A loopback port nothing listens on (connects to it are refused). */
const PORT = 40000 + (process.pid % 20000);
const MARK = `fault-mark-${process.pid}`;
const NONE = { progs: [], maps: [], links: [] };

type Rec = Record<string, unknown>;

interface Kind_ {
  /** Makes one event of this kind (from a child process). */
  trigger(): void;
  /** `-- CMD` that makes the same event. */
  cmd: string[];
  /** Whether a JSON record is the trigger's event. */
  match(r: Rec): boolean;
}

const connectCmd = `(exec 3<>/dev/tcp/127.0.0.1/${PORT}) 2>/dev/null; true`;
const KINDS: Record<"exec" | "open" | "connect", Kind_> = {
  exec: {
    trigger: () => spawnSync("/bin/true", [MARK]),
    cmd: ["/bin/true", MARK],
    match: (r) => r.filename === "/bin/true" && (r.args as string[])[1] === MARK,
  },
  open: {
    trigger: () => spawnSync("/bin/sh", ["-c", `: < ${FILE}`]),
    cmd: ["/bin/sh", "-c", `: < ${FILE}`],
    match: (r) => r.path === FILE && r.error === null,
  },
  connect: {
    trigger: () => spawnSync("bash", ["-c", connectCmd]),
    cmd: ["bash", "-c", connectCmd],
    match: (r) => r.dport === PORT && r.result === "ECONNREFUSED",
  },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const records = (out: string) => jsonLines(out).filter((r) => r.type !== "lost") as Rec[];

/** Waits until process `pid` is stopped (state T): it reached its TRACER_TEST_PAUSE point. */
async function stopped(pid: number): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    let stat = "";
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      throw new Error(`process ${pid} exited before its pause point`);
    }
    if (/^\d+ \(.*\) T /.test(stat)) return;
    await sleep(20);
  }
  throw new Error(`process ${pid} never stopped`);
}

const noStackTrace = (stderr: string) => assert.doesNotMatch(stderr, /\n\s+at |Uncaught/, stderr);

test(
  "SIGKILL mid-stream: nothing of the killed tracer remains; the next run works",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    for (const [name, k] of Object.entries(KINDS)) {
      const t = backgroundTracer(name, ["--json"]);
      await t.ready;
      const ids = processIds(t.child.pid!);
      assert.ok(ids.progs.length > 0 && ids.links.length > 0, name);
      // Mid-stream: killed once its events are coming out.
      for (let i = 0; i < 100 && !records(t.out()).some(k.match); i++) {
        k.trigger();
        await sleep(50);
      }
      assert.ok(records(t.out()).some(k.match), `${name}: no event before the kill`);
      t.child.kill("SIGKILL");
      await t.exited;
      assert.deepEqual(await stillLoaded(p, ids), NONE, `${name}: left in the kernel`);
      const again = runTracer(name, ["--json", "--", ...k.cmd]);
      assert.equal(again.status, 0, `${name}: ${again.stderr}`);
      assert.equal(records(again.stdout).filter(k.match).length, 1, `${name}: ${again.stdout}`);
    }
  },
);

// Each pause point, and what the tracer holds there: [phase, programs?, links].
const PHASES: [string, string, string[], (ids: ReturnType<typeof processIds>) => boolean][] = [
  ["exec", "runtime start", ["-x"], (i) => i.progs.length + i.maps.length === 0],
  ["exec", "object BTF + maps", ["-x"], (i) => i.maps.length > 0 && i.progs.length === 0],
  ["exec", "verifier (program loads)", ["-x"], (i) => i.progs.length > 0 && !i.links.length],
  ["exec", "attached 2", ["-x"], (i) => i.links.length === 2],
  // 5 exec hooks and the announcement of new cgroups (bpf/cgroup.h).
  ["exec", "attach", ["-x"], (i) => i.links.length === 6],
  ["open", "attached 3", [], (i) => i.links.length === 3],
  ["connect", "attached 2", [], (i) => i.links.length === 2],
];

test(
  "Ctrl-C during start-up, before, during and after attach: exit 0, nothing left",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    for (const [name, phase, args, holds] of PHASES) {
      const what = `${name} at "${phase}"`;
      const t = backgroundTracer(
        name,
        ["--json", ...args],
        tracerEnv({ TRACER_TEST_PAUSE: phase }),
      );
      t.ready.catch(() => {});
      await stopped(t.child.pid!);
      const ids = processIds(t.child.pid!);
      assert.ok(holds(ids), `${what}: holds ${JSON.stringify(ids)}`);
      process.kill(t.child.pid!, "SIGINT"); // pending while stopped: handled exactly at the pause point
      process.kill(t.child.pid!, "SIGCONT");
      assert.equal(await t.exited, 0, `${what}: ${t.err()}`);
      noStackTrace(t.err());
      assert.match(t.err(), /^tracer: \d+ events, \d+ lost/m, what);
      assert.deepEqual(await stillLoaded(p, ids), NONE, `${what}: left in the kernel`);
    }
  },
);

test(
  "-o on a full file system: one line naming the file and ENOSPC, exit 1, nothing left",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const mnt = join(DIR, "full");
    mkdirSync(mnt);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=16k", "none", mnt], {
      encoding: "utf8",
    });
    assert.equal(m.status, 0, m.stderr);
    try {
      // Filled to the last block: the first event written fails.
      const fd = openSync(join(mnt, "filler"), "w");
      try {
        for (;;) writeSync(fd, new Uint8Array(4096));
      } catch (e) {
        assert.equal((e as { code?: string }).code, "ENOSPC");
      } finally {
        closeSync(fd);
      }
      for (const [name, k] of Object.entries(KINDS)) {
        const out = join(mnt, `${name}.jsonl`);
        const t = backgroundTracer(name, ["--json", "-o", out]);
        await t.ready;
        const ids = processIds(t.child.pid!);
        const exited = t.exited;
        let code: number | null | undefined;
        exited.then((c) => code = c);
        for (let i = 0; i < 100 && code === undefined; i++) {
          k.trigger();
          await sleep(50);
        }
        assert.equal(await exited, 1, `${name}: ${t.err()}`);
        const lines = t.err().trim().split("\n");
        assert.equal(lines.at(-1), `tracer ${name}: writing events to ${out}: ENOSPC`, t.err());
        noStackTrace(t.err());
        assert.deepEqual(await stillLoaded(p, ids), NONE, `${name}: left in the kernel`);
      }
    } finally {
      spawnSync("umount", [mnt]);
    }
  },
);

test("a closed pipe (tracer --json | head -n 1): exit 0, no message", kernelTest(), () => {
  // More than a pipe's 64 KiB of records, so the tracer writes after head has gone.
  const loops: Record<string, string> = {
    exec: "for i in $(seq 400); do /bin/true; done",
    open: `for i in $(seq 800); do : < ${FILE}; done`,
  };
  for (const [name, loop] of Object.entries(loops)) {
    const [cmd, argv] = tracerCommandLine(name, ["--json", "--", "/bin/sh", "-c", loop]);
    const line = [cmd, ...argv].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    const r = spawnSync("bash", ["-c", `set -o pipefail; ${line} | head -n 1`], {
      encoding: "utf8",
      cwd: ROOT,
      env: tracerEnv(),
    });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    assert.equal(r.stdout.trim().split("\n").length, 1, r.stdout);
    assert.equal(JSON.parse(r.stdout).type, name);
    // Only the ready line: no error, no stack trace, no summary (the reader is gone).
    assert.match(r.stderr, new RegExp(`^tracer: tracing ${name} [^\\n]*\\n$`), r.stderr);
  }
});

test(
  "two tracers of each kind at once, all three kinds at once: each gets every event",
  kernelTest(),
  async () => {
    const N = 20;
    const filters: Record<string, string[]> = {
      exec: [],
      open: ["--path", FILE],
      connect: ["-P", String(PORT)],
    };
    const tracers = Object.keys(KINDS).flatMap((name) =>
      [0, 1].map(() => ({ name, t: backgroundTracer(name, ["--json", ...filters[name]]) }))
    );
    await Promise.all(tracers.map(({ t }) => t.ready));
    const work = spawnSync("bash", [
      "-c",
      `for i in $(seq ${N}); do /bin/true ${MARK}-$i; : < ${FILE}; ${connectCmd}; done`,
    ]);
    assert.equal(work.status, 0);
    for (const { t } of tracers) process.kill(t.child.pid!, "SIGINT");
    for (const { name, t } of tracers) {
      assert.equal(await t.exited, 0, `${name}: ${t.err()}`);
      const recs = records(t.out());
      assert.match(t.err(), /, 0 lost/, t.err());
      const ours = {
        exec: () =>
          recs.filter((r) =>
            r.filename === "/bin/true" && String((r.args as string[])[1]).startsWith(`${MARK}-`)
          )
            .map((r) => (r.args as string[])[1]).sort(),
        open: () => recs.filter(KINDS.open.match).map(() => "open"),
        connect: () => recs.filter(KINDS.connect.match).map(() => "connect"),
      }[name as "exec"]();
      const expected = name === "exec"
        ? Array.from({ length: N }, (_, i) => `${MARK}-${i + 1}`).sort()
        : Array(N).fill(name);
      assert.deepEqual(ours, expected, name);
    }
  },
);

test(
  "a tracepoint the kernel lacks: an optional one is skipped and said, the others work; a required one is a clear error",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const desc = openTracer({ pid: process.pid });
    const bogus = { program: "exit_open_tp", category: "syscalls", name: "sys_exit_no_such_call" };
    const t = startTracer(p, { ...desc, alsoAttach: [{ ...bogus, optional: true }] });
    try {
      assert.deepEqual(t.skipped, [
        "tracepoint syscalls/sys_exit_no_such_call (not on this kernel)",
      ]);
      const path = join(DIR, "seen");
      writeFileSync(path, "");
      const seen: string[] = [];
      for (let i = 0; i < 50 && !seen.includes(path); i++) {
        closeSync(openSync(path, "r"));
        await t.poll(
          20,
          (r) => seen.push(typeof r.path === "string" ? r.path : new TextDecoder().decode(r.path)),
        );
      }
      assert.ok(seen.includes(path), "the other probes keep working");
    } finally {
      t.close();
    }
    const before = kernelObjectFds();
    assert.throws(
      () => startTracer(p, { ...desc, alsoAttach: [bogus] }),
      (e) =>
        e instanceof TracerError &&
        /^tracepoint syscalls\/sys_exit_no_such_call does not exist on this kernel \(no \/sys\/kernel(\/debug)?\/tracing\/events\/syscalls\/sys_exit_no_such_call\/id\)$/
          .test(e.message),
    );
    assert.deepEqual(kernelObjectFds(), before, "everything it made is closed");
  },
);

/** An ELF64 little-endian file of machine `machine` whose only section is .BTF = `btf`. */
function elfWithBtf(btf: Uint8Array, machine: number): Uint8Array {
  const names = new TextEncoder().encode("\0.BTF\0.shstrtab\0");
  const btfOff = 64, namesOff = btfOff + btf.length, shOff = (namesOff + names.length + 7) & ~7;
  const out = new Uint8Array(shOff + 3 * 64);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, machine, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shOff), true);
  v.setUint16(52, 64, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, 3, true);
  v.setUint16(62, 2, true);
  out.set(btf, btfOff);
  out.set(names, namesOff);
  const section = (i: number, name: number, type: number, off: number, size: number) => {
    const s = shOff + i * 64;
    v.setUint32(s, name, true);
    v.setUint32(s + 4, type, true);
    v.setBigUint64(s + 24, BigInt(off), true);
    v.setBigUint64(s + 32, BigInt(size), true);
    v.setBigUint64(s + 48, 1n, true);
  };
  section(1, 1, 1, btfOff, btf.length); // .BTF, PROGBITS
  section(2, 6, 3, namesOff, names.length); // .shstrtab, STRTAB
  return out;
}

/** A little-endian BTF whose struct pt_regs is arm64's (regs[31], sp, pc, pstate, orig_x0). */
function arm64Btf(): Uint8Array {
  const b = new BtfBuilder();
  const u64 = b.add({
    kind: Kind.INT,
    name: "long long unsigned int",
    size: 8,
    encoding: 0,
    offset: 0,
    bits: 64,
  });
  const idx = b.add({ kind: Kind.INT, name: "int", size: 4, encoding: 1, offset: 0, bits: 32 });
  const regs = b.add({ kind: Kind.ARRAY, name: "", elemType: u64, indexType: idx, nelems: 31 });
  const member = (name: string, type: number, byte: number) => ({
    name,
    type,
    bitOffset: byte * 8,
    bitfieldSize: 0,
  });
  b.add({
    kind: Kind.STRUCT,
    name: "pt_regs",
    size: 288,
    kindFlag: false,
    members: [
      member("regs", regs, 0),
      member("sp", u64, 248),
      member("pc", u64, 256),
      member("pstate", u64, 264),
      member("orig_x0", u64, 272),
    ],
  });
  return b.build();
}

test(
  "a bad --btf file (empty, truncated, corrupted, big-endian, arm64): one line, exit 1, no bpf() call",
  kernelTest(),
  () => {
    const kernel = new Uint8Array(readFileSync("/sys/kernel/btf/vmlinux"));
    const corrupt = kernel.slice();
    corrupt.fill(0xff, 24, 32); // the first type's name and info: kind 31
    const bigEndian = kernel.slice(0, 4096);
    const hv = new DataView(bigEndian.buffer);
    for (const [at, size] of [[0, 2], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4]]) {
      const n = size === 2 ? hv.getUint16(at, true) : hv.getUint32(at, true);
      if (size === 2) hv.setUint16(at, n, false);
      else hv.setUint32(at, n, false);
    }
    const files: [string, Uint8Array, RegExp][] = [
      ["empty", new Uint8Array(), /0 bytes is shorter than a BTF header/],
      ["truncated", kernel.slice(0, 100_000), /past end of data/],
      ["corrupt", corrupt, /unknown BTF kind 31/],
      ["big-endian", bigEndian, /big-endian BTF is not supported/],
      [
        "arm64-vmlinux",
        elfWithBtf(kernel, 183),
        /a vmlinux of another architecture \(arm64\), this machine is x86_64/,
      ],
      [
        "arm64-raw",
        arm64Btf(),
        /BTF of another architecture \(arm64: its struct pt_regs\), this machine is x86_64/,
      ],
    ];
    for (const [name, bytes, why] of files) {
      const path = join(DIR, `${name}.btf`);
      writeFileSync(path, bytes);
      const log = join(DIR, `${name}.strace`);
      const [cmd, argv] = tracerCommandLine("exec", ["--btf", path, "-d", "1"]);
      const r = spawnSync("strace", ["-f", "-qq", "-e", "trace=bpf", "-o", log, cmd, ...argv], {
        encoding: "utf8",
        cwd: ROOT,
        env: tracerEnv(),
      });
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.ok(r.stderr.startsWith(`tracer exec: ${path}: `), r.stderr);
      assert.match(r.stderr, why, name);
      assert.doesNotMatch(readFileSync(log, "utf8"), /bpf\(/, `${name}: bpf() was called`);
    }
  },
);

test("faults test cleanup", () => {
  rmSync(DIR, { recursive: true, force: true });
});
