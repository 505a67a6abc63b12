// One tracer session, for every tracer command: privileges, the output file, loading and
// attaching (with each tracer's fallbacks), the ready line, signals, `-- CMD`, printing records
// until the duration, the count, CMD's exit or a signal, in-band lost reports, the exit summary,
// and closing everything. A session runs one tracer (tracer exec, open, connect) or several
// into one time-ordered stream (tracer watch): a tracer gives only its description and its
// formatter (SessionTracer), the command the stream's formatter (StreamFormat).

import { closeFile, exists, openFile } from "../platform/files.ts";
import { SysError, TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { measureBootClock } from "./boot-clock.ts";
import { type EventBuffer, REORDER_WINDOW_NS } from "./run.ts";
import { memoryLine, Phases } from "../phases.ts";
import { hasBpfPrivileges } from "../kernel/probes.ts";
import type { FormatOptions, RecordFormatter, StreamCells } from "./format.ts";
import type { ContextRecord, TracerDescription } from "./types.ts";
import { sessionContext } from "./session-context.ts";
import { say } from "./say.ts";
import { LostWarning } from "./lost-warning.ts";
import {
  type ChildState,
  commandUser,
  runCommand,
  startLauncher,
  StopOnSignal,
} from "./session-command.ts";
import { startAll, type Started, startupTimings } from "./session-start.ts";
import { singleStream, type StreamFormat, StreamMerge } from "./stream.ts";
import { sessionSummary } from "./summary.ts";

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
  /** --no-cache: neither read nor write the per-boot CO-RE cache. */
  noCache?: boolean;
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
  /** --cgroup: only this cgroup (a path in the hierarchy of `cgroup` fields) and below. */
  cgroup?: string;
  /** --container: only containers whose id starts with this. */
  container?: string;
  /** --containers: a CONTAINER column in the table. */
  containersColumn?: boolean;
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

export interface SessionTracer<R extends ContextRecord, S extends string = string> {
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
  /** A way of attaching forced by the command's options for this tracer (tracer watch). */
  strategy?: S;
  /**
   * The ring buffer's size when --ring-bytes is not given (default: the object's, 4 MiB):
   * smaller for a tracer whose event rate is bounded, as its pages count in the RSS.
   */
  ringBytes?: number;
  describe(ctx: DescribeContext<S>): TracerDescription<R>;
  formatter(o: FormatOptions): RecordFormatter<R>;
  /** The record's cells in tracer watch's table (TYPE, PID, COMM, DETAIL). */
  cells?(r: R): StreamCells;
}

/** What a session runs and prints. */
export interface SessionPlan {
  /** The command's name in messages ("watch"; default: the first tracer's). */
  command?: string;
  /** The tracers, in the order they are loaded. */
  tracers: readonly SessionTracer<ContextRecord>[];
  /** The stream's formatter (default: the single tracer's own). */
  format?: StreamFormat;
  /**
   * Several tracers in one stream (tracer watch): messages name each tracer, and a tracer the
   * kernel refuses is said and left out while the others run.
   */
  combined?: boolean;
}

const KERNEL_BTF = "/sys/kernel/btf/vmlinux";

/** Longest time events wait in the ring before they are printed. */
const POLL_MS = 100;

const encoder = new TextEncoder();

/** Output written within a drain once this many characters wait. */
const FLUSH_CHARS = 1 << 18;

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

/** Opens -o FILE (before anything is loaded: a bad path fails before tracing starts). */
function openOutput(path: string | undefined): number {
  if (!path) return 1;
  try {
    return openFile(path, "w");
  } catch (e) {
    throw new TracerError(`cannot open output file ${path}: ${(e as Error).message}`);
  }
}

/** Runs one session; resolves to the exit status (CMD's with `-- CMD`, else 0). */
export async function runSession(
  p: Platform,
  plan: SessionPlan,
  o: SessionOptions,
): Promise<number> {
  const signals = new StopOnSignal(p);
  try {
    return await session(p, plan, o, {
      stopped: () => signals.stopped,
      stop: () => signals.stopped = true,
      startChild: (c) => signals.child = c,
    });
  } finally {
    signals.remove();
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
  startChild(c: ChildState): void;
}

/** The ready line (stderr): what is traced, how, and whether CMD runs. */
function readyLine(started: readonly Started[], o: SessionOptions, combined: boolean): string {
  const programs = started.reduce((n, s) => n + s.tracer.attached.length, 0);
  const details = [`${programs} programs attached`];
  for (const { t, strategy } of started) {
    if (t.showStrategy) {
      details.push(`${combined ? `${t.name}: ` : ""}${strategy} ${t.strategyNoun}`);
    }
  }
  if (started.some((s) => s.tracer.buffer === "perf")) details.push("perf buffer");
  return `tracer: tracing ${started.map((s) => s.t.name).join(", ")} (${details.join(", ")})` +
    (o.cmd.length ? `, running ${o.cmd[0]}\n` : "; Ctrl-C to stop\n");
}

/** One running tracer's share of the session: its records printed and losses reported. */
interface Part extends Started {
  printed: number;
  lostSeen: bigint;
  lostWarning: LostWarning;
  onRecord: (r: ContextRecord) => void;
}

async function session(
  p: Platform,
  plan: SessionPlan,
  o: SessionOptions,
  ctl: SessionControl,
): Promise<number> {
  const phases = new Phases();
  pauseHook(phases);
  phases.mark("runtime start");
  const missing = missingPrivilege(p.identity().capEff);
  if (missing) throw new TracerError(missing);
  if (!o.btf && !exists(KERNEL_BTF)) {
    throw new TracerError(
      `this kernel has no BTF at ${KERNEL_BTF}: give one with --btf FILE ` +
        "(raw BTF, or a vmlinux ELF with a .BTF section, e.g. from the kernel's debug package)",
    );
  }
  const context = sessionContext(plan.command ?? plan.tracers[0].name, o);
  const combined = !!plan.combined;
  const fd = openOutput(o.output);
  // Under sudo, `-- CMD` starts now, as the user with the user's groups, and waits until the
  // tracer is attached and follows it (its own start-up overlaps the tracer's, untraced).
  const user = o.cmd.length && !o.asRoot ? commandUser(p.identity().euid, process.env) : null;
  const launcher = user ? startLauncher(p.selfCommand(), o.cmd, user) : null;
  let begun;
  try {
    begun = startAll(p, plan.tracers, o, phases, combined, context);
  } catch (e) {
    launcher?.abort();
    if (fd !== 1) closeFile(fd);
    throw e;
  }
  const { started, refused } = begun;
  // Several buffers: one epoll waits on all of them; records are merged in time order.
  const several = started.length > 1;
  const merge = several ? new StreamMerge<ContextRecord>() : null;
  let waitFd = -1;
  let status = 0;
  let child: ChildState | null = null;
  try {
    if (several) {
      waitFd = p.epollCreate();
      started.forEach((s, i) => p.epollAdd(waitFd, s.tracer.waitFd, 1, /* EPOLLIN */ i));
    }
    if (launcher) {
      try {
        await launcher.ready;
      } catch (e) {
        throw new TracerError((e as Error).message);
      }
      for (const s of started) s.tracer.follow(launcher.pid);
    }
    say(p, readyLine(started, o, combined));
    if (o.timings) {
      say(p, `tracer: start-up: ${startupTimings(phases, begun.phases)}\n`);
    }
    if (o.verbose) {
      for (const { t, tracer } of started) {
        const name = combined ? `${t.name}: ` : "";
        if (tracer.core) say(p, `tracer: ${name}CO-RE: ${tracer.core}\n`);
        for (const a of tracer.attached) say(p, `tracer: ${name}attached ${a}\n`);
        for (const s of tracer.skipped) say(p, `tracer: ${name}skipped ${s}\n`);
        for (const f of tracer.fallbacks) say(p, `tracer: ${name}fallback: ${f}\n`);
      }
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
    const format = plan.format ?? singleStream;
    const fmt = format({
      json: o.json,
      clock: o.clock,
      elapsed: o.elapsed,
      uidColumn: o.uidColumn,
      containersColumn: o.containersColumn,
      wallOffsetNs: clock.wallOffsetNs,
      startBootNs: clock.bootNowNs,
    }, started.map((s) => s.t));
    write(fmt.header());

    let printed = 0;
    const deadline = o.durationMs === undefined ? Infinity : performance.now() + o.durationMs;
    if (o.cmd.length) {
      child = launcher ? launcher.go() : runCommand(plan.command ?? started[0].t.name, o.cmd, null);
      ctl.startChild(child);
    }

    let batch = "";
    const emit = (i: number, r: ContextRecord) => {
      // Past -c N nothing more is printed; a signal stops waiting but what is in the ring
      // is still drained and printed.
      if (o.count !== undefined && printed >= o.count) return;
      batch += fmt.record(i, r);
      printed++;
      parts[i].printed++;
      // A long drain (a storm refilling the ring as fast as it is read) is written as it goes,
      // losses reported with it: memory stays bounded by this, not by the storm.
      if (batch.length >= FLUSH_CHARS) {
        reportLost();
        write(batch);
        batch = "";
      }
      if (o.count !== undefined && printed >= o.count) ctl.stop();
    };
    const parts: Part[] = started.map((s, i) => {
      const timeOf = s.tracer.timeOf;
      if (merge && !timeOf) throw new TracerError(`the ${s.t.name} tracer has no record time`);
      return {
        ...s,
        printed: 0,
        lostSeen: 0n,
        lostWarning: new LostWarning(undefined, combined ? `${s.t.name}: ` : ""),
        onRecord: merge ? (r) => merge.push(i, r, timeOf!(r)) : (r) => emit(i, r),
      };
    });
    // In-band (where in the stream the gap is) and, rate-limited, live on stderr.
    const reportLost = () => {
      parts.forEach((part, i) => {
        const lost = part.tracer.stats()[0];
        if (lost !== part.lostSeen) {
          batch += fmt.lost(i, Number(lost - part.lostSeen), Number(lost), bootNow());
          part.lostSeen = lost;
        }
        const warning = part.lostWarning.check(lost, performance.now());
        if (warning) say(p, warning);
      });
    };
    /**
     * Reads every tracer, waiting up to `wait` ms for one to be woken (none: drain now).
     * Resolves to the boot-clock time before the reads: merged records stamped a window
     * before it are complete.
     */
    const read = async (wait: number | null): Promise<bigint> => {
      if (!several) {
        if (wait === null) parts[0].tracer.drain(parts[0].onRecord);
        else await parts[0].tracer.poll(wait, parts[0].onRecord);
        return bootNow();
      }
      if (wait !== null) await p.epollWait(waitFd, parts.length, wait);
      const now = bootNow();
      for (const part of parts) {
        if (wait === null) part.tracer.drain(part.onRecord);
        else await part.tracer.poll(0, part.onRecord);
      }
      return now;
    };
    while (!ctl.stopped()) {
      const childDone = child?.done ?? false;
      const wait = Math.ceil(Math.max(0, Math.min(POLL_MS, deadline - performance.now())));
      const readAt = await read(childDone ? null : wait);
      merge?.release(emit, readAt - REORDER_WINDOW_NS);
      reportLost();
      write(batch);
      batch = "";
      if (childDone || performance.now() >= deadline) break;
    }
    // Detaches, then reads every record left: none sent before the stop goes unread or uncounted.
    for (const part of parts) part.tracer.finish(part.onRecord);
    merge?.release(emit);
    reportLost();
    write(batch);
    if (child) {
      while (!child.done) await new Promise((res) => setTimeout(res, 10));
      status = child.status;
    }
    const summary = sessionSummary(
      parts.map((part) => ({
        name: part.t.name,
        printed: part.printed,
        stats: part.tracer.stats(),
        statNames: part.tracer.statNames,
        skippedRuns: part.tracer.skippedRuns(),
      })),
      refused.map((r) => r.name),
      combined,
    );
    const unplaced = context.unresolvedDropped;
    say(
      p,
      `tracer: ${summary}` +
        (unplaced > 0
          ? `, ${unplaced} records of cgroups gone before their path was read (dropped)`
          : "") +
        "\n",
    );
    if (o.timings) say(p, `tracer: memory: ${memoryLine(process.memoryUsage())}\n`);
  } finally {
    if (!child) launcher?.abort(); // stopped before CMD could run
    if (waitFd >= 0) p.close(waitFd);
    for (const s of started.reverse()) s.tracer.close();
    if (fd !== 1) closeFile(fd);
  }
  return status;
}
