// Ring buffer benchmark (not part of the test suite): run as root with
//   node_modules/.bin/deno run -A scripts/bench-ringbuf.ts   or   node_modules/.bin/bun scripts/bench-ringbuf.ts
// 1. pure: drain + BTF decode of synthetic struct event records from a kernel-layout ring;
// 2. kernel: getpid() storm traced by test/fixtures/loader/getpid.bpf.o (tracepoint ->
//    ring buffer with a wakeup per event), drained every 256 calls; events/s, per-call
//    overhead against the untraced loop, and reservation failures from the per-CPU drops map.
import { readFileSync } from "node:fs";
import process from "node:process";
import { RingConsumer } from "../src/events/ringbuf-consumer.ts";
import { structDecoder } from "../src/events/decoder.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { loadCollection } from "../src/loader/collection.ts";
import { attachProgram } from "../src/link/attach.ts";
import { RingBufReader } from "../src/events/ringbuf.ts";
import { getPlatform } from "../src/platform/index.ts";
import { currentTid } from "../test/loader-ids.ts";

const spec = loadObjectSpec(
  new Uint8Array(readFileSync(new URL("../test/fixtures/loader/getpid.bpf.o", import.meta.url))),
  "getpid.bpf.o",
);
const decoder = structDecoder(spec.btf, "event");

function pure(records: number) {
  const size = 1 << 22;
  const consumer = new ArrayBuffer(4096), producer = new ArrayBuffer(4096);
  const data = new ArrayBuffer(2 * size);
  const c = new RingConsumer({ consumer, producer, data, size });
  const dv = new DataView(data);
  const recLen = decoder.size;
  const comm = new TextEncoder().encode("bench-worker\0\0\0\0");
  const commOff = decoder.fields.find((f) => f.path === "comm")!.offset;
  const bytes = new Uint8Array(data);
  const step = (recLen + 8 + 7) & ~7;
  const perFill = Math.floor(size / step) - 1;
  let pos = 0, done = 0, sink = 0;
  const t0 = performance.now();
  while (done < records) {
    const n = Math.min(perFill, records - done);
    for (let i = 0; i < n; i++) {
      const off = (pos + i * step) % size;
      dv.setUint32(off, recLen, true);
      dv.setUint32(off + 8, i, true);
      bytes.set(comm, off + 8 + commOff);
    }
    pos += n * step;
    new BigUint64Array(producer)[0] = BigInt(pos);
    c.drain((v, off, len) => {
      const e = decoder.decode(v, off, len);
      sink += e.pid as number;
    }, 256);
    done += n;
  }
  const ms = performance.now() - t0;
  console.log(
    `pure drain+decode: ${records} records of ${recLen} B in ${ms.toFixed(0)} ms = ${
      (records / ms / 1000).toFixed(2)
    } M records/s (${(ms * 1e6 / records).toFixed(0)} ns each) [${sink > 0}]`,
  );
}

async function kernel(calls: number) {
  const p = await getPlatform();
  const untraced0 = performance.now();
  for (let i = 0; i < calls; i++) p.pid();
  const untraced = performance.now() - untraced0;

  const coll = loadCollection(p, spec, {
    programs: ["on_getpid"],
    constants: { target_tid: currentTid() },
    mapSizes: { events: 1 << 20 },
  });
  const link = attachProgram(p, coll.program("on_getpid"));
  const reader = new RingBufReader(p, coll.map("events"));
  let got = 0;
  const onSample = (v: DataView, off: number, len: number) => {
    decoder.decode(v, off, len);
    got++;
  };
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    p.pid();
    if ((i & 255) === 255) reader.drain(onSample);
  }
  reader.drain(onSample);
  const ms = performance.now() - t0;
  const drops = coll.map("drops").lookup(new Uint8Array(4))!;
  const dv = new DataView(drops.buffer);
  let lost = 0n;
  for (let off = 0; off < drops.byteLength; off += 8) lost += dv.getBigUint64(off, true);
  reader.close();
  link.close();
  coll.close();
  console.log(
    `kernel (${p.runtime}): ${calls} getpid() traced in ${ms.toFixed(0)} ms, ${got} events read, ` +
      `${lost} reservations failed; ${(got / ms / 1000).toFixed(3)} M events/s; ` +
      `per call ${(ms * 1e6 / calls).toFixed(0)} ns traced vs ${
        (untraced * 1e6 / calls).toFixed(0)
      } ns untraced`,
  );
}

if (!process.env.SKIP_PURE) pure(2_000_000);
if (!process.env.SKIP_KERNEL) await kernel(Number(process.env.CALLS ?? 500_000));
