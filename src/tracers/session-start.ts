// Loading and attaching a session's tracers: each with its fallbacks (its ways of attaching in
// order of preference, or the one forced), the ring size and wakeup, and one kernel BTF for
// all. With `partial` (tracer watch), a tracer the kernel refuses is said in one line and left
// out while the others run; otherwise its error ends the session.

import type { Btf } from "../btf/reader.ts";
import { readKernelBtfFile } from "../btf/source.ts";
import { hostArchitecture } from "../btf/arch.ts";
import { TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import type { Phases } from "../phases.ts";
import { hasBpfLoop } from "../kernel/probes.ts";
import { builtCoreCache, type RunningTracer, startTracer } from "./run.ts";
import { startWithFallback } from "./fallback.ts";
import { say } from "./say.ts";
import type { SessionOptions, SessionTracer } from "./session.ts";
import type { ContextRecord } from "./types.ts";
import type { ContextResolver } from "./context.ts";

/** The ring buffer's size when the object's is not overridden (bpf/*.bpf.c). */
const DEFAULT_RING_BYTES = 4 << 20;

/** A tracer of the session, loaded and attached. */
export interface Started {
  t: SessionTracer<ContextRecord>;
  tracer: RunningTracer<ContextRecord>;
  /** The way of attaching the kernel accepted. */
  strategy: string;
}

/** The start-up phases one tracer of several went through (--timings). */
export interface TracerPhases {
  name: string;
  list: { name: string; ms: number }[];
  refused: boolean;
}

/** A tracer the kernel refused (tracer watch): its name and the first line of the reason. */
export interface Refused {
  name: string;
  reason: string;
}

const warn = (p: Platform, line: string) => say(p, `tracer: ${line}\n`);

/** Loads and attaches one tracer, with its fallbacks; warnings go to stderr. */
function startOne<R extends ContextRecord, S extends string>(
  p: Platform,
  t: SessionTracer<R, S>,
  o: SessionOptions,
  phases: Phases,
  btf: Btf | undefined,
  prefix: string,
  context: ContextResolver,
): { tracer: RunningTracer<R>; strategy: S } {
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
        coreCache: o.noCache ? undefined : builtCoreCache(),
        phases,
        context,
      },
    ),
  });
  // A forced strategy (the tracer's own, or the command's), or --btf (a foreign BTF has no ids
  // of this kernel's BTF hooks), decide; else the tracer's order, falling back when refused.
  const forced = t.strategy ?? (o.strategy as S | undefined) ??
    (o.btf ? t.withoutKernelBtf : undefined);
  if (forced) return startWith(forced);
  return startWithFallback(
    t.strategies,
    startWith,
    (line) => warn(p, prefix + line),
    t.strategyNoun,
  );
}

/**
 * Loads and attaches every tracer, in order. A refusal (a TracerError) ends it, the tracers
 * started before closed, unless `partial`: then it is one line on stderr and the tracer is
 * left out; when every tracer is refused, that is the error. Any other exception (a bug)
 * closes what was started and propagates.
 */
export function startAll(
  p: Platform,
  tracers: readonly SessionTracer<ContextRecord>[],
  o: SessionOptions,
  phases: Phases,
  partial: boolean,
  context: ContextResolver,
): { started: Started[]; refused: Refused[]; phases: TracerPhases[] } {
  const btf = o.btf ? readKernelBtfFile(o.btf, hostArchitecture(process.arch), p) : undefined;
  const started: Started[] = [];
  const refused: Refused[] = [];
  // Several tracers: each one's phases are taken out of the list and kept under its name.
  const byTracer: TracerPhases[] = [];
  const own = (t: SessionTracer<ContextRecord>, from: number, wasRefused: boolean) => {
    if (tracers.length > 1) {
      byTracer.push({ name: t.name, list: phases.list.splice(from), refused: wasRefused });
    }
  };
  // Messages name the tracer when there are several.
  const prefix = (t: SessionTracer<ContextRecord>) => tracers.length > 1 ? `${t.name}: ` : "";
  try {
    for (const t of tracers) {
      const from = phases.list.length;
      try {
        started.push({ t, ...startOne(p, t, o, phases, btf, prefix(t), context) });
        own(t, from, false);
      } catch (e) {
        if (!partial || !(e instanceof TracerError)) throw e;
        own(t, from, true);
        const reason = e.message.split("\n")[0];
        refused.push({ name: t.name, reason });
        warn(p, `${t.name}: not traced: ${reason}`);
      }
    }
    if (started.length === 0) {
      throw new TracerError(
        `none of ${refused.map((r) => r.name).join(", ")} could attach on this kernel`,
      );
    }
  } catch (e) {
    for (const s of started.reverse()) s.tracer.close();
    throw e;
  }
  return { started, refused, phases: byTracer };
}

/**
 * The --timings line: the session's phases, and with several tracers each one's apart, e.g.
 * "runtime start 15.0 ms; exec: object parse 10.7 ms, ..., attach 0.4 ms (60.1 ms); open: ...;
 * total 190.2 ms".
 */
export function startupTimings(phases: Phases, byTracer: readonly TracerPhases[]): string {
  if (byTracer.length === 0) return phases.format();
  const list = (l: { name: string; ms: number }[]) =>
    l.map((x) => `${x.name} ${x.ms.toFixed(1)} ms`).join(", ");
  const sum = (l: { ms: number }[]) => l.reduce((n, x) => n + x.ms, 0);
  const total = phases.totalMs + byTracer.reduce((n, t) => n + sum(t.list), 0);
  return [
    list(phases.list),
    ...byTracer.map((t) =>
      `${t.name}${t.refused ? " (not traced)" : ""}: ${list(t.list)} (${sum(t.list).toFixed(1)} ms)`
    ),
    `total ${total.toFixed(1)} ms`,
  ].join("; ");
}
