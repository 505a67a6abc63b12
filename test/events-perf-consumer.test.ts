// The perf ring reader on a synthetic perf_event_mmap_page + data area.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PERF_RECORD_LOST, PERF_RECORD_SAMPLE, PerfConsumer } from "../src/events/perf-consumer.ts";

class FakePerfRing {
  meta = new ArrayBuffer(4096);
  data: ArrayBuffer;
  head = 0;
  constructor(readonly size: number) {
    this.data = new ArrayBuffer(size);
  }
  tail(): number {
    return Number(new BigUint64Array(this.meta, 1032, 1)[0]);
  }
  private write(bytes: Uint8Array) {
    const d = new Uint8Array(this.data);
    for (let i = 0; i < bytes.length; i++) d[(this.head + i) % this.size] = bytes[i];
    this.head += bytes.length;
    new BigUint64Array(this.meta, 1024, 1)[0] = BigInt(this.head);
  }
  sample(payload: number[]) {
    const raw = 4 + payload.length;
    const padded = (raw + 7) & ~7;
    const rec = new Uint8Array(8 + padded);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, PERF_RECORD_SAMPLE, true);
    dv.setUint16(6, rec.length, true);
    dv.setUint32(8, padded - 4, true);
    rec.set(payload, 12);
    this.write(rec);
  }
  lostRecord(n: number) {
    const rec = new Uint8Array(24);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, PERF_RECORD_LOST, true);
    dv.setUint16(6, 24, true);
    dv.setBigUint64(8, 1n, true);
    dv.setBigUint64(16, BigInt(n), true);
    this.write(rec);
  }
  memory() {
    return { meta: this.meta, data: this.data, size: this.size };
  }
}

function drainAll(c: PerfConsumer) {
  const got: number[][] = [];
  const lost: number[] = [];
  c.drain((v, off, len) => {
    const out: number[] = [];
    for (let i = 0; i < len; i++) out.push(v.getUint8(off + i));
    got.push(out);
  }, (n) => lost.push(n));
  return { got, lost };
}

test("perf ring reader delivers raw samples and counts PERF_RECORD_LOST", () => {
  const ring = new FakePerfRing(4096);
  const c = new PerfConsumer(ring.memory());
  ring.sample([1, 2, 3, 4]); // raw 8 -> len 4 + 4 pad bytes
  ring.lostRecord(17);
  ring.sample([5, 6, 7, 8, 9, 10, 11, 12]);
  ring.lostRecord(3);
  const { got, lost } = drainAll(c);
  assert.deepEqual(got, [[1, 2, 3, 4], [5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0]]);
  assert.deepEqual(lost, [17, 3]);
  assert.equal(c.lost, 20);
  assert.equal(c.delivered, 2);
  assert.equal(ring.tail(), ring.head);
  assert.equal(c.pending(), 0);
});

test("perf ring reader reassembles samples that wrap around the data area", () => {
  const ring = new FakePerfRing(64);
  const c = new PerfConsumer(ring.memory());
  const seen: number[] = [];
  for (let i = 0; i < 40; i++) {
    const payload = [i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7, i + 8, i + 9, i + 10, i];
    ring.sample(payload); // 8 + 16 = 24 bytes: wraps every few records on a 64-byte ring
    const { got } = drainAll(c);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0].slice(0, 12), payload);
    seen.push(got[0][0]);
  }
  assert.equal(seen.length, 40);
  assert.equal(ring.tail(), 40 * 24);
});
