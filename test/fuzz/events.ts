// Fuzz targets of the event decoders of exec, open and connect: random records of every
// length, and mutated well-formed records (built field by field from the layout in the
// shipped object's own BTF, as the BPF programs write them, with hostile bytes in the
// text fields), each decoded from a view of exactly its length and then formatted as a
// table row and a JSON line (which must parse).

import { Btf } from "../../src/btf/reader.ts";
import { parseElf } from "../../src/elf/reader.ts";
import { DecoderError } from "../../src/events/decoder.ts";
import { embeddedObject } from "../../src/tracers/embedded.ts";
import { eventLayout } from "../../src/tracers/layout.ts";
import { execTracer } from "../../src/tracers/exec.ts";
import { execFormatter } from "../../src/tracers/exec-format.ts";
import { openTracer } from "../../src/tracers/open.ts";
import { openFormatter } from "../../src/tracers/open-format.ts";
import { connectTracer } from "../../src/tracers/connect.ts";
import { connectFormatter } from "../../src/tracers/connect-format.ts";
import type { FormatOptions, RecordFormatter } from "../../src/tracers/format.ts";
import type { EventLayout, TracerDescription } from "../../src/tracers/types.ts";
import { mutateStructured } from "./mutate.ts";
import type { Rand } from "./rng.ts";
import type { FuzzTarget } from "./target.ts";

/** The layout of the event struct in a shipped object's BTF. */
export function shippedLayout(object: string, struct: string): EventLayout {
  const elf = parseElf(embeddedObject(object), object);
  return eventLayout(Btf.parse(elf.sectionByName(".BTF")!.data), struct);
}

/** Writes fields of a record by name, as the BPF program lays them out. */
export class RecordWriter {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;
  constructor(readonly layout: EventLayout, extra = 0) {
    this.bytes = new Uint8Array(layout.size + extra);
    this.dv = new DataView(this.bytes.buffer);
  }
  set(name: string, v: number | bigint): this {
    const f = this.layout.field(name);
    if (f.size === 8) this.dv.setBigUint64(f.offset, BigInt.asUintN(64, BigInt(v)), true);
    else if (f.size === 4) this.dv.setUint32(f.offset, Number(BigInt.asUintN(32, BigInt(v))), true);
    else if (f.size === 2) this.dv.setUint16(f.offset, Number(v) & 0xffff, true);
    else this.bytes[f.offset] = Number(v) & 0xff;
    return this;
  }
  /** Copies bytes into a field (cut at its size), from `skip` bytes into it. */
  put(name: string, b: Uint8Array, skip = 0): this {
    const f = this.layout.field(name);
    this.bytes.set(
      b.subarray(0, Math.max(0, this.bytes.length - f.offset - skip)),
      f.offset + skip,
    );
    return this;
  }
}

const enc = new TextEncoder();

/** A random byte string biased to what breaks terminals and decoders. */
export function hostileBytes(rand: Rand, max: number): Uint8Array {
  const pieces = [
    [0x1b, 0x5b, 0x33, 0x31, 0x6d], // ESC [31m
    [0x1b, 0x5d, 0x30, 0x3b], // OSC
    [0x9b], // C1 CSI byte alone (invalid UTF-8)
    [0xc2, 0x9b], // U+009B, C1 CSI
    [0xe2, 0x80, 0xae], // U+202E RLO
    [0xe2, 0x81, 0xa6], // U+2066 LRI
    [0xe2, 0x80, 0xa8], // U+2028
    [0xef, 0xbb, 0xbf], // BOM
    [0xed, 0xa0, 0x80], // a surrogate (invalid)
    [0xc0, 0xaf], // overlong '/'
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0xe4, 0xb8, 0xad], // 中 (wide)
    [0xf0, 0x9f, 0x98, 0x80], // 😀 (wide)
    [0xcc, 0x81], // combining acute
    [0x5c], // backslash
    [0x22], // quote
    [0x20], // space
    [0x0a],
    [0x0d],
    [0x09],
    [0x7f],
    [0x00],
  ];
  const out: number[] = [];
  const n = rand(max + 1);
  while (out.length < n) {
    const how = rand(4);
    if (how === 0) out.push(rand(256));
    else if (how === 1) out.push(0x20 + rand(95));
    else out.push(...pieces[rand(pieces.length)]);
  }
  return new Uint8Array(out.slice(0, n));
}

const FORMATS: FormatOptions[] = [
  { wallOffsetNs: 0n, startBootNs: 0n },
  {
    clock: true,
    elapsed: true,
    uidColumn: true,
    wallOffsetNs: 1700000000000000000n,
    startBootNs: 5n,
  },
  { json: true, wallOffsetNs: 1700000000000000000n, startBootNs: 0n },
];

interface EventTargetSpec<R> {
  name: string;
  object: string;
  struct: string;
  tracers: TracerDescription<R>[];
  formatters: (o: FormatOptions) => RecordFormatter<R>[];
  /** A well-formed record with hostile text. */
  record(layout: EventLayout, rand: Rand): Uint8Array;
  /** Byte offset where the variable part starts (the rest is fixed fields). */
  fixedEnd(layout: EventLayout): number;
}

function eventTarget<R>(spec: EventTargetSpec<R>): FuzzTarget {
  return {
    name: spec.name,
    about: `${spec.struct} decoder (layout from bpf/${spec.object}.bpf.o's BTF) and its ` +
      "table and JSON formatters: random records of every length, mutated well-formed records",
    prepare() {
      const layout = shippedLayout(spec.object, spec.struct);
      const decoders = spec.tracers.map((t) => t.decoder(layout));
      const formatters = FORMATS.flatMap((o) => spec.formatters(o).map((f) => ({ o, f })));
      const fixed = spec.fixedEnd(layout);
      return {
        generate(rand) {
          if (rand(4) === 0) {
            const b = new Uint8Array(rand(layout.size + 256));
            for (let i = 0; i < b.length; i++) b[i] = rand(4) ? rand(256) : 0;
            return b;
          }
          const rec = spec.record(layout, rand);
          if (rand(3) === 0) return rec;
          return mutateStructured(rec, rand, [{ start: 0, end: fixed }]);
        },
        run(input) {
          const copy = input.slice();
          const view = new DataView(copy.buffer, 0, copy.length);
          for (const decode of decoders) {
            const rec = decode(view, 0, copy.length);
            if (rec === null) continue;
            for (const { o, f } of formatters) {
              f.header();
              const text = f.record(rec);
              if (o.json) JSON.parse(text);
              else if (text.split("\n").length !== 2) {
                throw new Error(`table row of ${text.split("\n").length - 1} lines`);
              }
            }
          }
        },
        allowed: (e) => e instanceof DecoderError,
      };
    },
  };
}

export const execEventTarget = eventTarget({
  name: "event-exec",
  object: "exec",
  struct: "exec_event",
  tracers: [execTracer({ failed: true }), execTracer({ maxArgs: 2, name: /a|\\x/ })],
  formatters: (o) => [execFormatter(o)],
  fixedEnd: (l) => l.field("data").offset,
  record(l, rand) {
    const filename = hostileBytes(rand, 64);
    const args: number[] = [];
    for (let i = 0, n = rand(6); i < n; i++) args.push(...hostileBytes(rand, 24), 0);
    const w = new RecordWriter(l, filename.length + args.length - l.field("data").size);
    w.set("time_ns", rand(2) ? BigInt(rand(1 << 30)) * 1000n : 0xffffffffffffffffn)
      .set("cgroup_id", rand(1 << 20)).set("mntns_id", 4026531832).set("pid", rand(1 << 22))
      .set("tid", rand(1 << 22)).set("ppid", rand(1 << 22)).set("uid", rand(2) ? 0 : 0xffffffff)
      .set("gid", rand(70000)).set("ret", rand(2) ? 0 : -rand(200)).set("argc", rand(10))
      .set("filename_len", filename.length).set("args_len", args.length).set("flags", rand(16))
      .put("comm", hostileBytes(rand, 16)).put("pcomm", hostileBytes(rand, 16))
      .put("data", filename).put("data", new Uint8Array(args), filename.length);
    return w.bytes;
  },
});

export const openEventTarget = eventTarget({
  name: "event-open",
  object: "open",
  struct: "open_event",
  tracers: [
    openTracer({}),
    openTracer({ fullPath: true }),
    openTracer({ fullPath: true, pathPrefix: enc.encode("/"), name: /./ }),
  ],
  formatters: (o) => [
    openFormatter(o),
    openFormatter({ ...o, extended: true, fullPath: true }),
    openFormatter({ ...o, extended: true, arch: "arm64" }),
  ],
  fixedEnd: (l) => l.field("data").offset,
  record(l, rand) {
    const path = hostileBytes(rand, 80);
    if (rand(2) && path.length) path[0] = 0x2f;
    const full: number[] = [];
    for (let i = 0, n = rand(4); i < n; i++) full.push(...hostileBytes(rand, 16), 0);
    const w = new RecordWriter(l, path.length + full.length - l.field("data").size);
    w.set("time_ns", BigInt(rand(1 << 30)) * 997n).set("cgroup_id", rand(1 << 20))
      .set("mntns_id", 4026531832).set("open_flags", rand(2) ? rand(1 << 22) : 0xffffffff)
      .set("pid", rand(1 << 22)).set("tid", rand(1 << 22)).set("uid", rand(70000))
      .set("ret", rand(2) ? rand(100) : -rand(150)).set("dirfd", rand(2) ? -100 : rand(10))
      .set("mode", rand(0x10000)).set("path_len", path.length).set("full_len", full.length)
      .set("flags", rand(64)).set("syscall", rand(4)).put("comm", hostileBytes(rand, 16))
      .put("data", path).put("data", new Uint8Array(full), path.length);
    return w.bytes;
  },
});

export const connectEventTarget = eventTarget({
  name: "event-connect",
  object: "connect",
  struct: "connect_event",
  tracers: [connectTracer({}), connectTracer({ name: /\\x|\u202e/ })],
  formatters: (o) => [connectFormatter(o)],
  fixedEnd: (l) => l.size,
  record(l, rand) {
    const w = new RecordWriter(l);
    const addr = (n: number) =>
      new Uint8Array(Array.from({ length: n }, () => rand(3) ? 0 : rand(256)));
    w.set("time_ns", BigInt(rand(1 << 30)) * 1013n).set("start_ns", rand(1 << 30))
      .set("cgroup_id", rand(1 << 20)).set("mntns_id", 4026531832).set("netns_id", 4026531833)
      .set("pid", rand(1 << 22)).set("tid", rand(1 << 22)).set("uid", rand(70000))
      .set("err", rand(2) ? 0 : rand(200)).set("family", rand(2) ? 2 : 10)
      .set("sport", rand(0x10000)).set("dport", rand(0x10000))
      .put("saddr", addr(16)).put("daddr", addr(16)).put("comm", hostileBytes(rand, 16));
    return w.bytes;
  },
});
