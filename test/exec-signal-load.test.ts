// `tracer exec` stopped by SIGINT or SIGTERM while an exec storm streams records.
// 1. Regression: it exits 0 without a crash. Under Bun it used to die with "panic(main
//    thread): Segmentation fault at address 0x7F..." after ~2000 records: Bun's JIT compiled
//    the ring consumer's hot Atomics.load of the read-only ring pages into a `lock cmpxchg`, a
//    write, which faults on a PROT_READ mapping (fixed in ringbuf-consumer.ts). Runs were
//    usually ended by Ctrl-C, so it looked like a crash on the signal. Each run here therefore
//    waits for well past 2000 records (or a time limit) before signalling, and some signal
//    early. The tracer runs on the runtime running this file (the suite runs under both).
// 2. Every exec is accounted for: with a storm that counts the execs it issues
//    (test/fixtures/exec/counted-storm.c), printed + lost = issued, exactly, on each signal.

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { kernelTest } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import { mapCreate } from "../src/kernel/bpf.ts";
import { MapType } from "../src/kernel/constants.ts";
import { RingBufReader } from "../src/events/ringbuf.ts";
import { backgroundTracer, compile, tracerArgv, tracerEnv } from "./tracer-cli.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");

/** Records to see before signalling, per run: one early stop, then past the old crash. */
const RUNS: { signal: "SIGINT" | "SIGTERM"; records: number }[] = [
  { signal: "SIGINT", records: 200 },
  { signal: "SIGTERM", records: 200 },
  { signal: "SIGINT", records: 4000 },
  { signal: "SIGTERM", records: 4000 },
  { signal: "SIGINT", records: 4000 },
  { signal: "SIGTERM", records: 4000 },
];
/** Signal anyway after this long (a slow machine may not reach the record count). */
const SIGNAL_AFTER_MS = 15_000;
/** After the signal the tracer must be gone within this long. */
const EXIT_WITHIN_MS = 10_000;

function buildStorm(dir: string): string {
  const out = join(dir, "storm");
  const cc = spawnSync("cc", ["-O2", "-o", out, join(ROOT, "scripts/bench/storm.c")], {
    encoding: "utf8",
  });
  assert.equal(cc.status, 0, `cc failed: ${cc.stderr}`);
  return out;
}

interface RunResult {
  code: number | null;
  signal: string | null;
  stderr: string;
  records: number;
  /** The tracer was gone before it was signalled. */
  exitedEarly: boolean;
  killed: boolean;
}

/** Runs `bun src/main.ts exec`, sends `signal` after `records` lines, waits for its exit. */
function runOnce(signal: NodeJS.Signals, records: number): Promise<RunResult> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, tracerArgv("exec", []), {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: tracerEnv(),
    });
    let stderr = "";
    let lines = -1; // the header line
    let signalled = false;
    let exited = false;
    let killed = false;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const send = () => {
      if (signalled || exited) return;
      signalled = true;
      clearTimeout(fallback);
      // process.kill, not child.kill: after child.kill(sig) Deno's node:child_process reports
      // the child as killed by `sig` whatever its real exit status (Deno 2.9).
      process.kill(child.pid!, signal);
      killTimer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, EXIT_WITHIN_MS);
    };
    const fallback = setTimeout(send, SIGNAL_AFTER_MS);
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (s: string) => stderr += s);
    child.stdout!.on("data", (b: Uint8Array) => {
      for (const c of b) if (c === 10) lines++;
      if (lines >= records) send();
    });
    child.on("close", (code, sig) => {
      exited = true;
      clearTimeout(fallback);
      clearTimeout(killTimer);
      resolveRun({
        code,
        signal: sig,
        stderr,
        records: Math.max(0, lines),
        exitedEarly: !signalled,
        killed,
      });
    });
  });
}

test(
  "exec: SIGINT and SIGTERM during an exec storm exit 0, no crash",
  { ...kernelTest(), timeout: 300_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "exec-signal-load-"));
    const storms: ChildProcess[] = [];
    try {
      const storm = buildStorm(dir);
      // Two exec loops: about one exec per millisecond on a 2-core machine.
      for (let i = 0; i < 2; i++) {
        storms.push(spawn(storm, ["1000000000", "/bin/true"], { stdio: "ignore" }));
      }
      for (const [i, run] of RUNS.entries()) {
        const r = await runOnce(run.signal, run.records);
        const what = `run ${i + 1} (${run.signal} after ${run.records} records)`;
        const detail = `${r.records} records, code ${r.code}, signal ${r.signal}, stderr:\n` +
          r.stderr;
        assert.ok(!/panic|Segmentation/.test(r.stderr), `${what}: crashed; ${detail}`);
        assert.ok(!r.exitedEarly, `${what}: exited before the signal; ${detail}`);
        assert.ok(!r.killed, `${what}: still running ${EXIT_WITHIN_MS} ms after it; ${detail}`);
        assert.equal(r.signal, null, `${what}: killed by a signal; ${detail}`);
        assert.equal(r.code, 0, `${what}: exit status; ${detail}`);
        assert.ok(r.records > 0, `${what}: no record printed; ${detail}`);
      }
    } finally {
      for (const s of storms) {
        const gone = new Promise((res) => s.exitCode !== null ? res(null) : s.on("exit", res));
        s.kill("SIGKILL");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "ring buffer reader: drain and poll after close return 0, never read the unmapped ring",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const map = mapCreate(p, {
      name: "rb_closed",
      type: MapType.RINGBUF,
      keySize: 0,
      valueSize: 0,
      maxEntries: 4 * 4096,
    });
    try {
      const reader = new RingBufReader(p, map);
      assert.equal(reader.drain(() => {}), 0);
      reader.close();
      // The consumer's views now point at unmapped pages: any read there is a SIGSEGV.
      assert.equal(reader.drain(() => {}), 0);
      assert.equal(await reader.poll(() => {}, 10), 0);
      reader.close();
    } finally {
      map.close();
    }
  },
);

/** Whether every child of `pid` has exited (is a zombie or gone): no exec of theirs is pending. */
function childrenSettled(pid: number): boolean {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)
    .filter((x) => x);
  return kids.every((k) => {
    try {
      return / Z /.test(readFileSync(`/proc/${k}/stat`, "utf8").replace(/^.*\)/, ""));
    } catch {
      return true;
    }
  });
}

/** Whether the process is stopped (state T in /proc/PID/stat). */
function isStopped(pid: number): boolean {
  return /^ T /.test(readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\)/, ""));
}

/**
 * Stops the storm and waits until its last child is done: the counter is then final. kill()
 * returns before the storm stops, and until it does it may fork again: children are looked at
 * only once it is stopped.
 */
async function stopStorm(pid: number, counter: string): Promise<bigint> {
  process.kill(pid, "SIGSTOP");
  const deadline = Date.now() + 5000;
  while (!isStopped(pid) || !childrenSettled(pid)) {
    assert.ok(Date.now() < deadline, "the storm's last child never finished");
    await new Promise((r) => setTimeout(r, 5));
  }
  const b = readFileSync(counter);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

test(
  "exec: every exec of a storm stopped by SIGINT or SIGTERM is printed or counted lost, exactly",
  { ...kernelTest(), timeout: 300_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "exec-signal-count-"));
    const storm = compile(join(ROOT, "test/fixtures/exec/counted-storm.c"), join(dir, "cs"));
    const counter = join(dir, "counter");
    try {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        writeFileSync(counter, new Uint8Array(8));
        const s = spawn(storm, [counter, "/bin/true"], { stdio: "ignore" });
        const gone = new Promise((res) => s.on("exit", res));
        try {
          await new Promise((r) => setTimeout(r, 100));
          const before = await stopStorm(s.pid!, counter);
          const out = join(dir, `out-${signal}.jsonl`);
          const t = backgroundTracer("exec", ["--ppid", String(s.pid), "--json", "-o", out]);
          await t.ready;
          process.kill(s.pid!, "SIGCONT");
          // Let it stream: at least 3000 execs, or 15 s on a slow machine.
          const until = Date.now() + 15_000;
          while (Date.now() < until) {
            await new Promise((r) => setTimeout(r, 100));
            const b = readFileSync(counter);
            if (new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true) - before > 3000n) {
              break;
            }
          }
          const issued = Number(await stopStorm(s.pid!, counter) - before);
          process.kill(t.child.pid!, signal);
          assert.equal(await t.exited, 0, t.err());
          const lines = readFileSync(out, "utf8").split("\n").filter((l) => l);
          const records = lines.map((l) => JSON.parse(l));
          const printed = records.filter((e) => e.type === "exec");
          assert.ok(printed.every((e) => e.args[1] === "counted" && e.ppid === s.pid), signal);
          const summary = /^tracer: (\d+) events, (\d+) lost/m.exec(t.err());
          assert.ok(summary, t.err());
          assert.equal(Number(summary[1]), printed.length, t.err());
          assert.equal(printed.length + Number(summary[2]), issued, `${signal}: ${t.err()}`);
          assert.ok(issued > 0, "the storm ran");
        } finally {
          s.kill("SIGKILL");
          process.kill(s.pid!, "SIGCONT");
          await gone;
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
