// One tracer run, for every tracer: privileges, the output file, loading and attaching (with
// the tracer's fallbacks), the ready line, signals, `-- CMD`, printing records until the
// duration, the count, CMD's exit or a signal, in-band lost reports, the exit summary, and
// closing everything. A tracer gives only its description and its formatter (SessionTracer).
// CLI-level: uses node:fs and node:child_process.

import { spawn } from "node:child_process";
import process from "node:process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { readKernelBtfFile } from "../btf/source.ts";
import { hostArchitecture } from "../btf/arch.ts";
import { SysError, TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { measureBootClock } from "./boot-clock.ts";
import { type EventBuffer, type RunningTracer, startTracer } from "./run.ts";
import { memoryLine, Phases } from "../phases.ts";
import { hasBpfLoop, hasBpfPrivileges } from "../kernel/probes.ts";
import { startWithFallback } from "./fallback.ts";
import type { FormatOptions, RecordFormatter } from "./format.ts";
import type { TracerDescription } from "./types.ts";
import { LostWarning } from "./lost-warning.ts";

/** The options every tracer command has (src/cli/session-options.ts parses them). */
export interface SessionOptions {
  json: boolean;
  /** -T, -t, -U */
  clock: boolean;
  elapsed: boolean;
  uidColumn: boolean;
  output?: string;
  durationMs?: number;
  count?: number;
  btf?: string;
  wakeupBytes: number;
  /** A forced way of attaching (--hooks, --attach); default: the tracer's order, with fallback. */
  strategy?: string;
  /** Ring buffer size in bytes (default: the object's), or each CPU's perf buffer. */
  ringBytes?: number;
  /** --buffer: ring or perf; default ring where the kernel has ring buffers. */
  buffer?: EventBuffer;
  /** --timings: print the start-up phases after the ready line. */
  timings?: boolean;
  /** --verbose: every attachment and every hook skipped, on stderr after the ready line. */
  verbose?: boolean;
  /** `-- CMD ARGS...`: empty when not given. */
  cmd: string[];
  /** --as-root: under sudo, run CMD as root rather than as the user who ran sudo. */
  asRoot?: boolean;
}

/** What the session needs to know about what it runs. */
export interface DescribeContext<S extends string> {
  strategy: S;
  /** `-- CMD` mode: only this process and its descendants (the tracer's own pid). */
  followTgid?: number;
  /** Wake the reader when this many bytes wait in the ring (capped at half the ring). */
  wakeupBytes: number;
  /** Whether bpf_loop loads on this kernel (a probe, run when first asked). */
  hasBpfLoop(): boolean;
}

export interface SessionTracer<R, S extends string = string> {
  /** The command's name: "exec", in the ready line and messages. */
  name: string;
  /** Ways of attaching in order of preference; a refused one falls back to the next. */
  strategies: readonly S[];
  /** What a strategy is called in messages: "hooks", "strategy". */
  strategyNoun: string;
  /** The strategy to use with --btf: a foreign BTF has no ids of this kernel's BTF hooks. */
  withoutKernelBtf: S;
  /** Whether the ready line names the strategy chosen. */
  showStrategy?: boolean;
  /**
   * The ring buffer's size when --ring-bytes is not given (default: the object's, 4 MiB):
   * smaller for a tracer whose event rate is bounded, as its pages count in the RSS.
   */
  ringBytes?: number;
  describe(ctx: DescribeContext<S>): TracerDescription<R>;
  formatter(o: FormatOptions): RecordFormatter<R>;
}

const KERNEL_BTF = "/sys/kernel/btf/vmlinux";

/** Longest time events wait in the ring before they are printed. */
const POLL_MS = 100;

/** The ring buffer's size when the object's is not overridden (bpf/*.bpf.c). */
const DEFAULT_RING_BYTES = 4 << 20;

const encoder = new TextEncoder();

/** Output written within a drain once this many characters wait. */
const FLUSH_CHARS = 1 << 18;

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

/** Capability numbers the tracer needs without root (linux/capability.h). */
const CAPS: [string, bigint][] = [["CAP_BPF", 39n], ["CAP_PERFMON", 38n]];

/**
 * Why this process cannot load and attach BPF programs, or null when it can: names the
 * capabilities missing (tracefs, for tracepoints, also needs CAP_DAC_READ_SEARCH without root:
 * said by the attach step when it meets it).
 */
export function missingPrivilege(capEff: bigint): string | null {
  if (hasBpfPrivileges(capEff)) return null;
  const missing = CAPS.filter(([, bit]) => (capEff & (1n << bit)) === 0n).map(([n]) => n);
  return `needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs; this process lacks ` +
    `${missing.join(" and ")}: run it with sudo`;
}

/**
 * The line printed at exit: events printed, events lost, and every other non-zero kernel
 * counter (truncations, unreadable argv, ...), e.g. "1234 events, 0 lost, 2 args_truncated".
 * `names` are the stats counters' names by index; index 0 is the lost count.
 */
export function summaryLine(printed: number, stats: bigint[], names: readonly string[]): string {
  const parts = [`${printed} events`, `${stats[0] ?? 0n} lost`];
  names.forEach((name, i) => {
    if (i > 0 && (stats[i] ?? 0n) > 0n) parts.push(`${stats[i]} ${name}`);
  });
  return parts.join(", ");
}

/**
 * A line for stderr, written through the platform: not through process.stderr, whose first
 * use loads the runtime's stream machinery (measured: ~20 ms of a Bun start-up).
 */
function say(p: Platform, text: string): void {
  p.writeAll(2, encoder.encode(text));
}

/** Opens -o FILE (before anything is loaded: a bad path fails before tracing starts). */
function openOutput(path: string | undefined): number {
  if (!path) return 1;
  try {
    return openSync(path, "w");
  } catch (e) {
    throw new TracerError(`cannot open output file ${path}: ${(e as Error).message}`);
  }
}

/** Loads and attaches the tracer, with its fallbacks; warnings go to stderr. */
function start<R, S extends string>(
  p: Platform,
  t: SessionTracer<R, S>,
  o: SessionOptions,
  phases: Phases,
): { tracer: RunningTracer<R>; strategy: S } {
  const btf = o.btf ? readKernelBtfFile(o.btf, hostArchitecture(process.arch), p) : undefined;
  const followTgid = o.cmd.length ? p.pid() : undefined;
  // Past half the ring the reader must be woken, or the ring fills between two timer drains.
  const wakeupBytes = Math.min(
    o.wakeupBytes,
    (o.ringBytes ?? t.ringBytes ?? DEFAULT_RING_BYTES) / 2,
  );
  const startWith = (strategy: S) => ({
    strategy,
    tracer: startTracer(
      p,
      t.describe({
        strategy,
        followTgid,
        wakeupBytes,
        // TRACER_NO_BPF_LOOP=1 (a test switch): the bounded-loop programs of older kernels.
        hasBpfLoop: () => process.env.TRACER_NO_BPF_LOOP !== "1" && hasBpfLoop(p),
      }),
      {
        btf,
        ringBytes: o.ringBytes,
        defaultRingBytes: t.ringBytes,
        buffer: o.buffer,
        // TRACER_NO_BOOT_NS=1 (a test switch): the monotonic clock of kernels before 5.8.
        clock: process.env.TRACER_NO_BOOT_NS === "1" ? "monotonic" : undefined,
        perfWakeupBytes: o.wakeupBytes,
        phases,
      },
    ),
  });
  // A forced strategy, or --btf (a foreign BTF has no ids of this kernel's BTF hooks), decide;
  // else the tracer's order, falling back when the kernel refuses one.
  const forced = (o.strategy as S | undefined) ?? (o.btf ? t.withoutKernelBtf : undefined);
  if (forced) return startWith(forced);
  return startWithFallback(
    t.strategies,
    startWith,
    (line) => say(p, `tracer: ${line}\n`),
    t.strategyNoun,
  );
}

/**
 * Who `-- CMD` runs as: under sudo, the user who ran sudo (SUDO_UID/SUDO_GID), not root, as
 * that user would have run it; otherwise this process's own user. (`-- sudo CMD` runs CMD as
 * root again.)
 */
export function commandUser(
  euid: number,
  env: Record<string, string | undefined>,
): { uid: number; gid: number } | null {
  if (euid !== 0) return null;
  const uid = Number(env.SUDO_UID), gid = Number(env.SUDO_GID);
  if (!env.SUDO_UID || !env.SUDO_GID || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    return null;
  }
  return uid === 0 ? null : { uid, gid };
}

/**
 * The environment `-- CMD` runs in as user `uid` (under sudo): this one with HOME, USER and
 * LOGNAME of that user's /etc/passwd entry (`passwd` is its text), as `sudo -u USER` would set
 * them; root's HOME never stays. A uid without an entry gets HOME=/ and no USER/LOGNAME.
 */
export function userEnvironment(
  uid: number,
  passwd: string,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && k !== "HOME" && k !== "USER" && k !== "LOGNAME") out[k] = v;
  }
  const entry = passwd.split("\n").map((l) => l.split(":"))
    .find((f) => f.length >= 7 && f[2] === String(uid));
  if (!entry) return { ...out, HOME: "/" };
  return { ...out, HOME: entry[5], USER: entry[0], LOGNAME: entry[0] };
}

function readPasswd(): string {
  try {
    return readFileSync("/etc/passwd", "utf8");
  } catch {
    return "";
  }
}

/** Runs `-- CMD`; the returned state says when it is done and its exit status. */
function runCommand(
  name: string,
  cmd: string[],
  user: { uid: number; gid: number } | null,
): { done: boolean; status: number } {
  const state = { done: false, status: 0 };
  // As another user: its uid and gid (the runtimes' spawn drops every supplementary group
  // then, root's included) and its HOME.
  const as = user ? { ...user, env: userEnvironment(user.uid, readPasswd(), process.env) } : {};
  const proc = spawn(cmd[0], cmd.slice(1), { stdio: "inherit", ...as });
  proc.on("error", (e: NodeJS.ErrnoException) => {
    process.stderr.write(`tracer ${name}: cannot run ${cmd[0]}: ${e.code ?? e.message}\n`);
    state.status = e.code === "ENOENT" ? 127 : 126;
    state.done = true;
  });
  proc.on("exit", (code, signal) => {
    state.status = code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0);
    state.done = true;
  });
  return state;
}

/** Runs one tracer session; resolves to the exit status (CMD's with `-- CMD`, else 0). */
export async function runSession<R, S extends string>(
  p: Platform,
  t: SessionTracer<R, S>,
  o: SessionOptions,
): Promise<number> {
  // The first phase runs from the runtime's time origin (its start) to here.
  let stop = false;
  let child: { done: boolean; status: number } | null = null;
  // Ctrl-C: without CMD, stop; with CMD, the child gets it too and we stop when it exits.
  // Installed before anything is loaded: a signal during start-up lets start-up finish, then
  // the session ends at once like any other (summary, everything closed, exit 0).
  const removers = (["SIGINT", "SIGTERM"] as const).map((sig) =>
    p.onSignal(sig, () => {
      if (!child) stop = true;
    })
  );
  try {
    return await session(p, t, o, {
      stopped: () => stop,
      stop: () => stop = true,
      startChild: (c) => child = c,
    });
  } finally {
    for (const remove of removers) remove();
  }
}

/**
 * Test hook (test/faults.test.ts): with TRACER_TEST_PAUSE=NAME the tracer stops itself
 * (SIGSTOP) when start-up phase NAME ends ("runtime start", "kernel BTF", "attach" ...; see
 * --timings) or at step "attached N" (the Nth hook attached), the first time it passes there,
 * so a test can read its objects and send a signal at exactly that point.
 */
function pauseHook(phases: Phases): void {
  let at = process.env.TRACER_TEST_PAUSE;
  if (!at) return;
  phases.onMark = (name) => {
    if (name !== at) return;
    at = undefined; // once: a strategy that falls back passes the same points again
    process.kill(process.pid, "SIGSTOP");
  };
}

interface SessionControl {
  stopped(): boolean;
  stop(): void;
  startChild(c: { done: boolean; status: number }): void;
}

async function session<R, S extends string>(
  p: Platform,
  t: SessionTracer<R, S>,
  o: SessionOptions,
  ctl: SessionControl,
): Promise<number> {
  const phases = new Phases();
  pauseHook(phases);
  phases.mark("runtime start");
  const missing = missingPrivilege(p.identity().capEff);
  if (missing) throw new TracerError(missing);
  if (!o.btf && !existsSync(KERNEL_BTF)) {
    throw new TracerError(
      `this kernel has no BTF at ${KERNEL_BTF}: give one with --btf FILE ` +
        "(raw BTF, or a vmlinux ELF with a .BTF section, e.g. from the kernel's debug package)",
    );
  }
  const fd = openOutput(o.output);
  let started;
  try {
    started = start(p, t, o, phases);
  } catch (e) {
    if (fd !== 1) closeSync(fd);
    throw e;
  }
  const { tracer, strategy } = started;
  let status = 0;
  let child: { done: boolean; status: number } | null = null;
  try {
    const details = [`${tracer.attached.length} programs attached`];
    if (t.showStrategy) details.push(`${strategy} ${t.strategyNoun}`);
    if (tracer.buffer === "perf") details.push("perf buffer");
    say(
      p,
      `tracer: tracing ${t.name} (${details.join(", ")})` +
        (o.cmd.length ? `, running ${o.cmd[0]}\n` : "; Ctrl-C to stop\n"),
    );
    if (o.timings) say(p, `tracer: start-up: ${phases.format()}\n`);
    if (o.verbose) {
      for (const a of tracer.attached) say(p, `tracer: attached ${a}\n`);
      for (const s of tracer.skipped) say(p, `tracer: skipped ${s}\n`);
      for (const f of tracer.fallbacks) say(p, `tracer: fallback: ${f}\n`);
    }
    // Batches are encoded into one reused buffer (no allocation per batch); a batch that
    // does not fit gets a buffer of its own.
    let out = new Uint8Array(1 << 20);
    const write = (text: string) => {
      if (!text) return;
      if (text.length * 3 > out.length) out = new Uint8Array(text.length * 3);
      const bytes = out.subarray(0, encoder.encodeInto(text, out).written);
      try {
        p.writeAll(fd, bytes);
      } catch (e) {
        // A full disk or a quota: one line naming the file and the errno, not a stack trace.
        if (e instanceof SysError && o.output) {
          throw new SysError(`writing events to ${o.output}`, e.errno);
        }
        throw e;
      }
    };
    const clock = measureBootClock((c) => p.clockNs(c));
    const bootNow = () => p.clockNs("boot");
    const fmt = t.formatter({
      json: o.json,
      clock: o.clock,
      elapsed: o.elapsed,
      uidColumn: o.uidColumn,
      wallOffsetNs: clock.wallOffsetNs,
      startBootNs: clock.bootNowNs,
    });
    write(fmt.header());

    let printed = 0;
    let lostSeen = 0n;
    const lostWarning = new LostWarning();
    const deadline = o.durationMs === undefined ? Infinity : performance.now() + o.durationMs;
    if (o.cmd.length) {
      const user = o.asRoot ? null : commandUser(p.identity().euid, process.env);
      child = runCommand(t.name, o.cmd, user);
      ctl.startChild(child);
    }

    let batch = "";
    const onRecord = (r: R) => {
      // Past -c N nothing more is printed; a signal stops waiting but what is in the ring
      // is still drained and printed.
      if (o.count !== undefined && printed >= o.count) return;
      batch += fmt.record(r);
      printed++;
      // A long drain (a storm refilling the ring as fast as it is read) is written as it goes,
      // losses reported with it: memory stays bounded by this, not by the storm.
      if (batch.length >= FLUSH_CHARS) {
        reportLost();
        write(batch);
        batch = "";
      }
      if (o.count !== undefined && printed >= o.count) ctl.stop();
    };
    // In-band (where in the stream the gap is) and, rate-limited, live on stderr.
    const reportLost = () => {
      const lost = tracer.stats()[0];
      if (lost !== lostSeen) {
        batch += fmt.lost(Number(lost - lostSeen), Number(lost), bootNow());
        lostSeen = lost;
      }
      const warning = lostWarning.check(lost, performance.now());
      if (warning) say(p, warning);
    };
    while (!ctl.stopped()) {
      const childDone = child?.done ?? false;
      const wait = Math.ceil(Math.max(0, Math.min(POLL_MS, deadline - performance.now())));
      if (childDone) tracer.drain(onRecord);
      else await tracer.poll(wait, onRecord);
      reportLost();
      write(batch);
      batch = "";
      if (childDone || performance.now() >= deadline) break;
    }
    // Detaches, then reads every record left: none sent before the stop goes unread or uncounted.
    tracer.finish(onRecord);
    reportLost();
    write(batch);
    if (child) {
      while (!child.done) await new Promise((res) => setTimeout(res, 10));
      status = child.status;
    }
    // Runs the kernel itself skipped (another BPF program was running on that CPU) are not in
    // the programs' counters: said apart, as each may be a record lost.
    const skipped = tracer.skippedRuns();
    say(
      p,
      `tracer: ${summaryLine(printed, tracer.stats(), tracer.statNames)}` +
        (skipped > 0n ? `, ${skipped} runs skipped by the kernel` : "") + "\n",
    );
    if (o.timings) say(p, `tracer: memory: ${memoryLine(process.memoryUsage())}\n`);
  } finally {
    tracer.close();
    if (fd !== 1) closeSync(fd);
  }
  return status;
}
