// `tracer run OBJECT` (without --load-only): the loaded object's programs attached by their
// sections, each ring buffer's or perf buffer's records printed as JSON lines decoded by the
// object's BTF, its hash and array maps printed at exit (and every --interval), `-- CMD` run
// once attached. A program the kernel refuses to load or attach is one line on stderr and the
// others run (libbpf's skeleton would fail the whole load or attach).

import { closeFile, openFile } from "../platform/files.ts";
import { TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import type { Collection } from "../loader/collection.ts";
import { attachProgram } from "../link/attach.ts";
import { closeAll, type Link } from "../link/link.ts";
import { PAGE_SIZE, RingBufReader } from "../events/ringbuf.ts";
import { PerfBufReader } from "../events/perfbuf.ts";
import type { JsonDecoder } from "../events/btf-json.ts";
import { MapType } from "../kernel/constants.ts";
import { jsonLine, type JsonValue } from "../output/json.ts";
import {
  type ChildState,
  commandUser,
  runCommand,
  StopOnSignal,
} from "../tracers/session-command.ts";
import { PERF_BUFFER_BYTES } from "../tracers/run.ts";
import { MapPrinter } from "./run-maps.ts";

export interface TraceOptions {
  /** The event decoder of each ring / perf buffer map, by map name. */
  events: Map<string, JsonDecoder>;
  /** The maps printed at exit and every interval. */
  printer: MapPrinter;
  output?: string;
  durationMs?: number;
  count?: number;
  intervalMs?: number;
  cmd: string[];
  asRoot?: boolean;
  /** --uprobe PROG=PATH:FUNCTION: where uprobe programs attach, by program name. */
  uprobes?: Map<string, string>;
  /** perf_event programs: samples per second on each CPU. */
  sampleFreq?: number;
  /** Programs the kernel refused to load (said on stderr already). */
  notLoaded?: number;
}

/** Longest wait between two reads of the buffers, ms. */
const POLL_MS = 100;

const encoder = new TextEncoder();

interface Buffer {
  name: string;
  reader: RingBufReader | PerfBufReader;
  decoder: JsonDecoder;
  perf: boolean;
  lostSeen: number;
}

/** Attaches every loaded program it can; a refusal is a line on stderr. */
function attachAll(
  p: Platform,
  c: Collection,
  uprobes: Map<string, string>,
  sampleFreq: number | undefined,
): { links: Link[]; refused: number } {
  const links: Link[] = [];
  const attachedNames: string[] = [];
  let refused = 0;
  for (const prog of c.programs.values()) {
    try {
      links.push(attachProgram(p, prog, { uprobe: uprobes.get(prog.name), sampleFreq }));
      attachedNames.push(prog.name);
    } catch (e) {
      if (!(e instanceof TracerError)) {
        closeAll(links.reverse());
        throw e;
      }
      refused++;
      process.stderr.write(
        `tracer: program ${prog.name} (${prog.spec.section}) not attached: ${
          e.message.split("\n")[0]
        }\n`,
      );
    }
  }
  // Two programs on one hook both run (runqlat's tp_btf and raw_tp versions of each handler):
  // said, as an object meant for one of them counts each event twice.
  const byHook = new Map<string, string[]>();
  // A tracepoint, its raw_tp and its tp_btf are one hook; a uprobe and a uretprobe are two.
  const TRACEPOINTS = ["tracepoint", "raw_tp", "tp_btf"];
  links.forEach((l, i) => {
    const kind = TRACEPOINTS.includes(l.kind) ? "tracepoint" : l.kind;
    const key = `${kind} ${l.target.slice(l.target.lastIndexOf("/") + 1)}`;
    byHook.set(key, [...byHook.get(key) ?? [], attachedNames[i]]);
  });
  for (const [key, names] of byHook) {
    if (names.length < 2) continue;
    const hook = key.slice(key.indexOf(" ") + 1);
    process.stderr.write(
      `tracer: programs ${names.join(", ")} all attach to ${hook} and all run; ` +
        `to run one, choose with --program\n`,
    );
  }
  return { links, refused };
}

/** Runs the attached object until -d, -c, CMD's exit or a signal; resolves to the exit status. */
export async function traceObject(
  p: Platform,
  c: Collection,
  o: TraceOptions,
): Promise<number> {
  let child: ChildState | null = null;
  // As every tracer session: Ctrl-C stops, unless CMD runs.
  const signals = new StopOnSignal(p);
  let fd = 1;
  const buffers: Buffer[] = [];
  let links: Link[] = [];
  let epfd = -1;
  try {
    if (o.output) {
      try {
        fd = openFile(o.output, "w");
      } catch (e) {
        throw new TracerError(`cannot open output file ${o.output}: ${(e as Error).message}`);
      }
    }
    // The readers first: a perf buffer's CPU slots are empty until its reader fills them.
    for (const [name, decoder] of o.events) {
      const map = c.map(name);
      const perf = map.type === MapType.PERF_EVENT_ARRAY;
      const reader = perf
        ? new PerfBufReader(p, map, PERF_BUFFER_BYTES / PAGE_SIZE, 0)
        : new RingBufReader(p, map);
      buffers.push({ name, reader, decoder, perf, lostSeen: 0 });
    }
    const attached = attachAll(p, c, o.uprobes ?? new Map(), o.sampleFreq);
    links = attached.links;
    const notRunning = attached.refused + (o.notLoaded ?? 0);
    if (links.length === 0) {
      throw new TracerError(`none of the ${notRunning} programs could be loaded and attached`);
    }
    epfd = p.epollCreate();
    buffers.forEach((b, i) => p.epollAdd(epfd, b.reader.waitFd, 1, i));
    process.stderr.write(
      `tracer: tracing ${c.spec.name} (${links.length} programs attached` +
        (notRunning ? `, ${notRunning} refused` : "") +
        (o.cmd.length ? `), running ${o.cmd[0]}\n` : "); Ctrl-C to stop\n"),
    );
    const write = (text: string) => {
      if (text) p.writeAll(fd, encoder.encode(text));
    };
    let printed = 0;
    let batch = "";
    const handler = (b: Buffer) => (view: DataView, off: number, len: number) => {
      if (o.count !== undefined && printed >= o.count) return;
      const rec: Record<string, JsonValue> = { type: "event", map: b.name };
      b.decoder.put(rec, "event", view, off, len);
      batch += jsonLine(rec);
      printed++;
      if (o.count !== undefined && printed >= o.count) signals.stopped = true;
    };
    const handlers = buffers.map(handler);
    /**
     * Perf buffers: the kernel's count of records that did not fit (PERF_RECORD_LOST), in the
     * stream where the kernel put it.
     */
    const onLost = (b: Buffer) => (count: number) => {
      b.lostSeen += count;
      batch += jsonLine({ type: "lost", map: b.name, lost: count, lost_total: b.lostSeen });
    };
    const drain = () =>
      buffers.forEach((b, i) =>
        b.perf
          ? (b.reader as PerfBufReader).drain(handlers[i], onLost(b))
          : (b.reader as RingBufReader).drain(handlers[i])
      );
    const start = performance.now();
    const deadline = o.durationMs === undefined ? Infinity : start + o.durationMs;
    let nextDump = o.intervalMs === undefined ? Infinity : start + o.intervalMs;
    if (o.cmd.length) {
      const user = o.asRoot ? null : commandUser(p.identity().euid, process.env);
      child = signals.child = runCommand("run", o.cmd, user);
    }
    while (!signals.stopped) {
      const now = performance.now();
      const wait = Math.ceil(Math.max(0, Math.min(POLL_MS, deadline - now, nextDump - now)));
      if (buffers.length && !child?.done) await p.epollWait(epfd, buffers.length, wait);
      else if (!child?.done) await new Promise((res) => setTimeout(res, wait));
      drain();
      if (performance.now() >= nextDump) {
        batch += o.printer.lines();
        nextDump += o.intervalMs!;
      }
      write(batch);
      batch = "";
      if (child?.done || performance.now() >= deadline) break;
      // Bun: a blocking epoll_wait holds its event loop; let CMD's exit be seen.
      await new Promise((res) => setTimeout(res, 0));
    }
    // Detached first: nothing new is sent, so this drain reads every record sent before.
    closeAll(links.reverse());
    links = [];
    drain();
    batch += o.printer.lines();
    write(batch);
    let status = 0;
    if (child) {
      while (!child.done) await new Promise((res) => setTimeout(res, 10));
      status = child.status;
    }
    const lost = buffers.reduce((n, b) => n + b.lostSeen, 0);
    const rings = buffers.filter((b) => !b.perf).map((b) => b.name);
    process.stderr.write(
      `tracer: ${printed} events, ${lost} lost` +
        (rings.length
          ? ` (ring buffer ${rings.join(", ")}: records its programs could not reserve are ` +
            `not visible to user space unless the programs count them)`
          : "") +
        "\n",
    );
    return status;
  } finally {
    signals.remove();
    closeAll(links.reverse());
    if (epfd >= 0) p.close(epfd);
    for (const b of buffers) b.reader.close();
    if (fd !== 1) closeFile(fd);
  }
}
