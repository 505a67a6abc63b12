// The ring buffer consumer on a synthetic ring laid out like the kernel's (data mapped twice).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  RINGBUF_BUSY_BIT,
  RINGBUF_DISCARD_BIT,
  RingConsumer,
} from "../src/events/ringbuf-consumer.ts";

/** A fake kernel producer writing records the way bpf_ringbuf_reserve/submit do. */
class FakeRing {
  consumer = new ArrayBuffer(4096);
  producer = new ArrayBuffer(4096);
  data: ArrayBuffer;
  prod = 0;
  constructor(readonly size: number) {
    this.data = new ArrayBuffer(2 * size);
  }
  private setProd(v: number) {
    this.prod = v;
    new BigUint64Array(this.producer)[0] = BigInt(v);
  }
  consumerPos(): number {
    return Number(new BigUint64Array(this.consumer)[0]);
  }
  /** Writes bytes at a ring position into both copies of the data area. */
  private write(pos: number, bytes: Uint8Array) {
    const d = new Uint8Array(this.data);
    for (let i = 0; i < bytes.length; i++) {
      const o = (pos + i) % this.size;
      d[o] = bytes[i];
      d[o + this.size] = bytes[i];
    }
  }
  private header(pos: number, len: number) {
    const h = new Uint8Array(8);
    new DataView(h.buffer).setUint32(0, len >>> 0, true);
    this.write(pos, h);
  }
  /** Reserves a record (BUSY) and returns its position. */
  reserve(len: number): number {
    const pos = this.prod;
    this.header(pos, len | RINGBUF_BUSY_BIT);
    this.setProd(pos + ((len + 8 + 7) & ~7));
    return pos;
  }
  commit(pos: number, payload: Uint8Array, discard = false) {
    this.write(pos + 8, payload);
    this.header(pos, payload.length | (discard ? RINGBUF_DISCARD_BIT : 0));
  }
  push(payload: Uint8Array, discard = false) {
    this.commit(this.reserve(payload.length), payload, discard);
  }
  memory() {
    return { consumer: this.consumer, producer: this.producer, data: this.data, size: this.size };
  }
}

const rec = (...b: number[]) => new Uint8Array(b);
const collect = (c: RingConsumer, batch = 64) => {
  const got: number[][] = [];
  const n = c.drain((v, off, len) => {
    got.push(Array.from(new Uint8Array(v.buffer, v.byteOffset + off, len)));
  }, batch);
  return { n, got };
};

test("ringbuf consumer delivers committed records in order and publishes the position", () => {
  const ring = new FakeRing(256);
  const c = new RingConsumer(ring.memory());
  ring.push(rec(1, 2, 3));
  ring.push(rec(4, 5, 6, 7, 8, 9, 10, 11, 12));
  ring.push(rec());
  const { n, got } = collect(c);
  assert.equal(n, 3);
  assert.deepEqual(got, [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12], []]);
  // 3 -> 16 bytes, 9 -> 24 bytes (8 + 9 rounded up to 8), 0 -> 8 bytes
  assert.equal(ring.consumerPos(), 16 + 24 + 8);
  assert.equal(c.pending(), 0);
  assert.equal(collect(c).n, 0);
});

test("ringbuf consumer stops at a BUSY record and resumes once it is committed", () => {
  const ring = new FakeRing(256);
  const c = new RingConsumer(ring.memory());
  ring.push(rec(1));
  const held = ring.reserve(2);
  ring.push(rec(3)); // committed after a busy one: must wait for it (order is preserved)
  let r = collect(c);
  assert.deepEqual(r.got, [[1]]);
  assert.equal(ring.consumerPos(), 16);
  assert.equal(c.pending(), 32);
  ring.commit(held, rec(2, 2));
  r = collect(c);
  assert.deepEqual(r.got, [[2, 2], [3]]);
  assert.equal(ring.consumerPos(), 48);
});

test("ringbuf consumer skips DISCARD records without delivering them", () => {
  const ring = new FakeRing(256);
  const c = new RingConsumer(ring.memory());
  ring.push(rec(1));
  ring.push(rec(9, 9, 9), true);
  ring.push(rec(2));
  const r = collect(c);
  assert.deepEqual(r.got, [[1], [2]]);
  assert.equal(c.discarded, 1);
  assert.equal(c.delivered, 2);
  assert.equal(ring.consumerPos(), 48);
});

test("ringbuf consumer reads records that wrap past the end through the double mapping", () => {
  const ring = new FakeRing(64);
  const c = new RingConsumer(ring.memory());
  let expected = 0;
  const seen: number[] = [];
  // 20-byte payloads take 32 bytes; positions pass 64 many times, records straddle the end.
  for (let round = 0; round < 50; round++) {
    const p = new Uint8Array(20 + (round % 3));
    p.fill(round & 0xff);
    ring.push(p);
    c.drain((v, off, len) => {
      assert.equal(len, 20 + (seen.length % 3));
      for (let i = 0; i < len; i++) assert.equal(v.getUint8(off + i), seen.length & 0xff);
      seen.push(len);
    });
    expected++;
  }
  assert.equal(seen.length, expected);
  assert.equal(ring.consumerPos(), ring.prod);
  assert.ok(ring.prod > 64 * 20);
});

test("ringbuf consumer publishes the position after each batch", () => {
  const ring = new FakeRing(1024);
  const c = new RingConsumer(ring.memory());
  for (let i = 0; i < 10; i++) ring.push(rec(i));
  const positions: number[] = [];
  c.drain(() => positions.push(ring.consumerPos()), 4);
  // Before each record is handled: 0 published until 4 records are consumed, then 64, then 128.
  assert.deepEqual(positions, [0, 0, 0, 0, 64, 64, 64, 64, 128, 128]);
  assert.equal(ring.consumerPos(), 160);
});

test("ringbuf consumer consumes the record whose handler throws, then rethrows", () => {
  const ring = new FakeRing(256);
  const c = new RingConsumer(ring.memory());
  ring.push(rec(1));
  ring.push(rec(2));
  ring.push(rec(3));
  assert.throws(() =>
    c.drain((v, off) => {
      if (v.getUint8(off) === 2) throw new Error("bad record");
    }), /bad record/);
  assert.equal(ring.consumerPos(), 32);
  assert.deepEqual(collect(c).got, [[3]]);
});

test("ringbuf consumer handles positions beyond 2^32", () => {
  const ring = new FakeRing(128);
  const start = 2 ** 32 + 2 ** 31 - 16;
  ring.prod = start;
  new BigUint64Array(ring.producer)[0] = BigInt(start);
  new BigUint64Array(ring.consumer)[0] = BigInt(start);
  const c = new RingConsumer(ring.memory());
  ring.push(rec(7, 7));
  ring.push(rec(8));
  assert.deepEqual(collect(c).got, [[7, 7], [8]]);
  assert.equal(ring.consumerPos(), start + 32);
});

test("ringbuf consumer rejects a size that is not a power of two", () => {
  assert.throws(
    () =>
      new RingConsumer({
        consumer: new ArrayBuffer(8),
        producer: new ArrayBuffer(8),
        data: new ArrayBuffer(200),
        size: 100,
      }),
    /not a power of two/,
  );
});

test("ringbuf consumer: a drain with a limit returns while a producer keeps refilling the ring", () => {
  // The producer adds a record for each one read, as a storm does when it keeps up with the
  // reader: without a limit this drain would never return (RingBufReader.poll passes one).
  const ring = new FakeRing(256);
  const c = new RingConsumer(ring.memory());
  for (let i = 0; i < 4; i++) ring.push(rec(i));
  let seen = 0;
  const n = c.drain(
    () => {
      seen++;
      ring.push(rec(seen & 0xff));
    },
    64,
    100,
  );
  assert.equal(n, 100);
  assert.equal(seen, 100);
  // Read: the 4 first records, then the producer's 1..96; the next drain goes on in order.
  assert.equal(collect(c, 64).got[0][0], 97);
});
