// The generic tracer runner: loads a tracer's embedded object (CO-RE against the kernel's
// BTF, .rodata from the description), attaches its programs, and reads its ring buffer,
// turning samples into records with the description's decoder. Owns every kernel object
// it creates; close() releases them all.

import type { Btf } from "../btf/reader.ts";
import { kernelBtf } from "../btf/source.ts";
import { TracerError } from "../errors.ts";
import { loadObjectSpec } from "../object/load.ts";
import { type Collection, loadCollection } from "../loader/collection.ts";
import { attachProgram } from "../link/attach.ts";
import { attachTracepoint } from "../link/tracepoint.ts";
import { closeAll, type Link } from "../link/link.ts";
import { RingBufReader } from "../events/ringbuf.ts";
import type { Platform } from "../platform/types.ts";
import { embeddedObject } from "./embedded.ts";
import { eventLayout } from "./layout.ts";
import type { TracerDescription } from "./types.ts";
import type { Phases } from "../phases.ts";

export interface RunOptions {
  /** Target BTF (default: the running kernel's, /sys/kernel/btf/vmlinux). */
  btf?: Btf;
  /** Ring buffer size in bytes (power of two, multiple of the page size). */
  ringBytes?: number;
  /** Start-up phases to mark. */
  phases?: Phases;
}

export interface RunningTracer<R> {
  /**
   * Waits up to `timeoutMs` for data, then delivers every committed record to `onRecord`.
   * Always drains what is there, even without a wakeup (the programs may not wake us).
   * Resolves to the number of samples read.
   */
  poll(timeoutMs: number, onRecord: (r: R) => void): Promise<number>;
  /** Drains what is committed now, without waiting. */
  drain(onRecord: (r: R) => void): number;
  /** The stats counters, summed over CPUs, by index. */
  stats(): bigint[];
  /** Programs attached, as "kind target" strings. */
  readonly attached: string[];
  close(): void;
}

/** Loads, attaches and starts reading a tracer. */
export function startTracer<R>(
  p: Platform,
  desc: TracerDescription<R>,
  opts: RunOptions = {},
): RunningTracer<R> {
  const spec = loadObjectSpec(embeddedObject(desc.object), desc.object);
  opts.phases?.mark("object parse");
  const target = () => opts.btf ?? kernelBtf(undefined, p);
  const layout = eventLayout(spec.btf, desc.eventType);
  const decode = desc.decoder(layout);
  let collection: Collection | null = null;
  const links: Link[] = [];
  let reader: RingBufReader | null = null;
  try {
    collection = loadCollection(p, spec, {
      constants: desc.rodata,
      programs: desc.programs,
      kernelBtf: target,
      phases: opts.phases,
      mapSizes: {
        ...desc.mapSizes,
        ...(opts.ringBytes ? { [desc.ringbuf]: opts.ringBytes } : {}),
      },
    });
    for (const name of desc.programs) links.push(attachProgram(p, collection.program(name)));
    for (const a of desc.alsoAttach ?? []) {
      const prog = collection.program(a.program);
      links.push(attachTracepoint(p, prog.program.fd, prog.name, a.category, a.name));
    }
    opts.phases?.mark("attach");
    const ring = collection.map(desc.ringbuf);
    const ringSpec = spec.maps.find((m) => m.name === desc.ringbuf);
    reader = new RingBufReader(p, {
      fd: ring.fd,
      name: desc.ringbuf,
      type: ringSpec!.type,
      maxEntries: opts.ringBytes ?? ringSpec!.maxEntries,
    });
    opts.phases?.mark("ring buffer");
  } catch (e) {
    reader?.close();
    closeAll(links.reverse());
    collection?.close();
    throw e;
  }
  const c = collection;
  const r = reader;
  const statsMap = c.map(desc.stats.map);
  const ncpu = p.possibleCpus();
  const attached = links.map((l) => `${l.kind} ${l.target}`);
  let closed = false;
  let failure: unknown = null;
  const handler = (onRecord: (rec: R) => void) => (view: DataView, off: number, len: number) => {
    try {
      const rec = decode(view, off, len);
      if (rec !== null) onRecord(rec);
    } catch (e) {
      failure ??= e;
    }
  };
  const check = () => {
    if (failure !== null) {
      const e = failure;
      failure = null;
      throw e instanceof TracerError ? e : new TracerError(`decoding ${desc.eventType}: ${e}`);
    }
  };
  return {
    attached,
    async poll(timeoutMs, onRecord) {
      if (closed) return 0;
      const n = await r.poll(handler(onRecord), timeoutMs);
      check();
      return n;
    },
    drain(onRecord) {
      if (closed) return 0;
      const n = r.drain(handler(onRecord));
      check();
      return n;
    },
    stats() {
      const out: bigint[] = [];
      const key = new Uint8Array(4);
      for (let i = 0; i < desc.stats.names.length; i++) {
        new DataView(key.buffer).setUint32(0, i, true);
        const v = statsMap.lookup(key);
        let sum = 0n;
        if (v) {
          const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
          const stride = v.byteLength / ncpu;
          for (let cpu = 0; cpu < ncpu; cpu++) sum += dv.getBigUint64(cpu * stride, true);
        }
        out.push(sum);
      }
      return out;
    },
    close() {
      if (closed) return;
      closed = true;
      r.close();
      closeAll(links.reverse());
      c.close();
    },
  };
}
