// One `tracer exec` run: start the tracer, optionally run `-- CMD`, print records until
// the duration, the count, CMD's exit or a signal, report lost events, close everything.
// CLI-level: uses node:fs and node:child_process.

import { spawn } from "node:child_process";
import process from "node:process";
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { readBtfFile } from "../btf/source.ts";
import { TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { measureBootClock } from "./boot-clock.ts";
import { execFormatter } from "./exec-format.ts";
import { EXEC_STATS, type ExecRecord, execTracer } from "./exec.ts";
import { type EventBuffer, startTracer } from "./run.ts";
import { Phases } from "../phases.ts";
import { hasBpfPrivileges } from "../kernel/probes.ts";
import { type Hooks, startWithHookFallback } from "./hooks.ts";

export interface ExecSessionOptions {
  failed: boolean;
  failedOnly: boolean;
  uid?: number;
  ppid?: number;
  name?: RegExp;
  clock: boolean;
  elapsed: boolean;
  uidColumn: boolean;
  maxArgs?: number;
  json: boolean;
  output?: string;
  durationMs?: number;
  count?: number;
  btf?: string;
  wakeupBytes: number;
  /** tp_btf hooks (need kernel BTF) or tracepoint/raw_tp ones; default: tracepoint with --btf. */
  hooks?: "tp_btf" | "tracepoint";
  /** Ring buffer size in bytes (default: the object's, 4 MiB), or each CPU's perf buffer. */
  ringBytes?: number;
  /** --buffer: ring or perf; default ring where the kernel has ring buffers. */
  buffer?: EventBuffer;
  /** --timings: print the start-up phases after the ready line. */
  timings?: boolean;
  /** `-- CMD ARGS...`: empty when not given. */
  cmd: string[];
}

const KERNEL_BTF = "/sys/kernel/btf/vmlinux";

/** Longest time events wait in the ring before they are printed. */
const POLL_MS = 100;

const encoder = new TextEncoder();

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

/** Why this process cannot load and attach BPF programs, or null when it can. */
export function missingPrivilege(capEff: bigint): string | null {
  if (hasBpfPrivileges(capEff)) return null;
  return "needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs: run it with sudo";
}

/**
 * The line printed at exit: events printed, events lost, and every other non-zero kernel
 * counter (truncations, unreadable argv, ...), e.g. "1234 events, 0 lost, 2 args_truncated".
 */
export function exitSummary(printed: number, stats: bigint[]): string {
  const parts = [`${printed} events`, `${stats[0] ?? 0n} lost`];
  EXEC_STATS.forEach((name, i) => {
    if (i > 0 && (stats[i] ?? 0n) > 0n) parts.push(`${stats[i]} ${name}`);
  });
  return parts.join(", ");
}

export async function runExecSession(p: Platform, o: ExecSessionOptions): Promise<number> {
  // The first phase runs from the runtime's time origin (its start) to here.
  const phases = new Phases();
  phases.mark("runtime start");
  const missing = missingPrivilege(p.identity().capEff);
  if (missing) throw new TracerError(missing);
  if (!o.btf && !existsSync(KERNEL_BTF)) {
    throw new TracerError(
      `this kernel has no BTF at ${KERNEL_BTF}: give one with --btf FILE ` +
        "(raw BTF, or a vmlinux ELF with a .BTF section, e.g. from the kernel's debug package)",
    );
  }
  const btf = o.btf ? readBtfFile(o.btf, undefined, p) : undefined;
  // The output file is opened before anything is loaded: a bad path fails before tracing starts.
  let fd = 1;
  if (o.output) {
    try {
      fd = openSync(o.output, "w");
    } catch (e) {
      throw new TracerError(`cannot open output file ${o.output}: ${(e as Error).message}`);
    }
  }
  const followTgid = o.cmd.length ? p.pid() : undefined;
  const start = (hooks: Hooks) =>
    startTracer(
      p,
      execTracer({
        failed: o.failed,
        failedOnly: o.failedOnly,
        uid: o.uid,
        ppid: o.ppid,
        followTgid,
        maxArgs: o.maxArgs,
        name: o.name,
        hooks,
        // Past half the ring the reader must be woken, or the ring fills between two timer drains.
        wakeupBytes: Math.min(o.wakeupBytes, (o.ringBytes ?? 4 << 20) / 2),
      }),
      { btf, ringBytes: o.ringBytes, buffer: o.buffer, perfWakeupBytes: o.wakeupBytes, phases },
    );
  let tracer;
  try {
    // --hooks, or --btf (a foreign BTF has no ids of this kernel's tp_btf), decide; else tp_btf
    // with a fallback to tracepoints when the kernel refuses it.
    const hooks = o.hooks ?? (o.btf ? "tracepoint" : undefined);
    tracer = hooks
      ? start(hooks)
      : startWithHookFallback(start, (line) => process.stderr.write(`tracer: ${line}\n`));
  } catch (e) {
    if (fd !== 1) closeSync(fd);
    throw e;
  }
  let status = 0;
  let stop = false;
  let child: { done: boolean; status: number } | null = null;
  const removers: (() => void)[] = [];
  try {
    // Ctrl-C: without CMD, stop; with CMD, the child gets it too and we stop when it exits.
    // Installed before the ready line, so a signal sent on seeing it is never fatal.
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      removers.push(p.onSignal(sig, () => {
        if (!child) stop = true;
      }));
    }
    const via = tracer.buffer === "perf" ? ", perf buffer" : "";
    process.stderr.write(
      `tracer: tracing exec (${tracer.attached.length} programs attached${via})` +
        (o.cmd.length ? `, running ${o.cmd[0]}\n` : "; Ctrl-C to stop\n"),
    );
    if (o.timings) process.stderr.write(`tracer: start-up: ${phases.format()}\n`);
    const write = (text: string) => {
      if (!text) return;
      const bytes = encoder.encode(text);
      if (fd === 1) p.writeAll(1, bytes);
      else for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
    };
    const clock = measureBootClock((c) => p.clockNs(c));
    const bootNow = () => p.clockNs("boot");
    const fmt = execFormatter({
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
    const deadline = o.durationMs === undefined ? Infinity : performance.now() + o.durationMs;

    if (o.cmd.length) {
      const state = { done: false, status: 0 };
      child = state;
      const proc = spawn(o.cmd[0], o.cmd.slice(1), { stdio: "inherit" });
      proc.on("error", (e: NodeJS.ErrnoException) => {
        process.stderr.write(`tracer exec: cannot run ${o.cmd[0]}: ${e.code ?? e.message}\n`);
        state.status = e.code === "ENOENT" ? 127 : 126;
        state.done = true;
      });
      proc.on("exit", (code, signal) => {
        state.status = code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0);
        state.done = true;
      });
    }

    let batch = "";
    const onRecord = (r: ExecRecord) => {
      // Past -c N nothing more is printed; a signal stops waiting but what is in the ring
      // is still drained and printed.
      if (o.count !== undefined && printed >= o.count) return;
      batch += fmt.record(r);
      printed++;
      if (o.count !== undefined && printed >= o.count) stop = true;
    };
    const reportLost = () => {
      const lost = tracer.stats()[0];
      if (lost !== lostSeen) {
        batch += fmt.lost(Number(lost - lostSeen), Number(lost), bootNow());
        lostSeen = lost;
      }
    };
    while (!stop) {
      const childDone = child?.done ?? false;
      const wait = Math.ceil(Math.max(0, Math.min(POLL_MS, deadline - performance.now())));
      if (childDone) tracer.drain(onRecord);
      else await tracer.poll(wait, onRecord);
      reportLost();
      write(batch);
      batch = "";
      if (childDone || performance.now() >= deadline) break;
    }
    tracer.drain(onRecord);
    reportLost();
    write(batch);
    if (child) {
      while (!child.done) await new Promise((res) => setTimeout(res, 10));
      status = child.status;
    }
    process.stderr.write(`tracer: ${exitSummary(printed, tracer.stats())}\n`);
  } finally {
    for (const remove of removers) remove();
    tracer.close();
    if (fd !== 1) closeSync(fd);
  }
  return status;
}
