// src/events/btf-json.ts on hand-built records of struct kinds (test/fixtures/run/kinds.bpf.c:
// every kind the decoder handles, at the offsets noted there), a record cut short, a key that
// is a plain integer, and the per-CPU sum. Pure, no kernel. Cost: ~0.1 s.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadObjectSpec } from "../src/object/load.ts";
import { Kind } from "../src/btf/types.ts";
import { jsonDecoder, sumJson } from "../src/events/btf-json.ts";
import { jsonLine, type JsonValue } from "../src/output/json.ts";
import { ROOT } from "./tracer-cli.ts";

const spec = loadObjectSpec(
  new Uint8Array(readFileSync(join(ROOT, "test/fixtures/run/kinds.bpf.o"))),
  "kinds.bpf.o",
);
const kindsId = spec.btf.byName("kinds", Kind.STRUCT)[0];

/** A record of struct kinds with every field set, plus a 5-byte flexible tail. */
function record(): DataView {
  const b = new Uint8Array(104 + 5);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, 200);
  dv.setInt8(1, -5);
  dv.setUint16(2, 65000, true);
  dv.setInt16(4, -300, true);
  dv.setUint8(6, 1);
  dv.setInt8(7, -1);
  dv.setUint32(8, 4000000000, true);
  dv.setInt32(12, -70000, true);
  dv.setBigUint64(16, 18446744073709551615n, true);
  dv.setBigInt64(24, -9007199254740993n, true);
  dv.setUint32(32, 2, true); // GREEN
  dv.setUint32(36, 7, true); // no enumerator
  b.set(new TextEncoder().encode("héllo\0x"), 40); // stops at the NUL
  b.set([0x61, 0xff, 0x62, 0], 48); // not UTF-8
  b.set([1, 0, 2, 0], 52); // __u8 bytes: numbers
  dv.setUint16(56, 1, true);
  dv.setUint16(58, 2, true);
  dv.setUint16(60, 3, true);
  b.set([0x61, 0x62, 0, 0, 0xfe, 0x41, 0, 0], 64); // "ab", "\xfeA"
  dv.setUint32(72, 7, true);
  dv.setInt32(76, -7, true);
  dv.setUint32(80, 0x04030201, true);
  dv.setUint32(84, 99, true);
  dv.setBigUint64(88, 0xffff888812345678n, true);
  // lo = 5 (bits 0-2), mid = 17 (bits 3-7), neg = -3 (bits 8-11, signed).
  dv.setUint32(96, 5 | (17 << 3) | ((-3 & 0xf) << 8), true);
  dv.setUint32(100, 5, true);
  b.set(new TextEncoder().encode("tail!"), 104);
  return dv;
}

test("btf-json: every kind of struct kinds decoded from a hand-built record", () => {
  const d = jsonDecoder(spec.btf, kindsId);
  assert.equal(d.name, "kinds");
  assert.equal(d.size, 104);
  const rec: Record<string, JsonValue> = {};
  const dv = record();
  d.put(rec, "event", dv, 0, dv.byteLength);
  assert.deepEqual(rec, {
    event: {
      u8: 200,
      s8: -5,
      u16: 65000,
      s16: -300,
      flag: true,
      c: -1,
      u32: 4000000000,
      s32: -70000,
      u64: 18446744073709551615n,
      s64: -9007199254740993n,
      color: "GREEN",
      other: 7,
      name: "héllo",
      bad: "a\\xffb",
      bad_b64: "Yf9i",
      raw: [1, 0, 2, 0],
      nums: [1, 2, 3],
      pad: 0,
      names: ["ab", "\\xfeA"],
      names_b64: ["YWI=", "/kE="],
      in: { a: 7, b: -7 },
      u: { word: 0x04030201, bytes: [1, 2, 3, 4] },
      anon_a: 99,
      ptr: 0xffff888812345678n,
      lo: 5,
      mid: 17,
      neg: -3,
      tail_len: 5,
      tail: "tail!",
    },
  });
  // 64-bit values exact in the JSON text.
  const line = jsonLine(rec);
  assert.match(line, /"u64":18446744073709551615,"s64":-9007199254740993,/);
  assert.match(line, /"ptr":18446612716735190648,/);
});

test("btf-json: a record cut short keeps the fields that fit, a char array cut at its end", () => {
  const d = jsonDecoder(spec.btf, kindsId);
  const rec: Record<string, JsonValue> = {};
  d.put(rec, "e", record(), 0, 43);
  const e = rec.e as Record<string, JsonValue>;
  assert.deepEqual(Object.keys(e), [
    "u8",
    "s8",
    "u16",
    "s16",
    "flag",
    "c",
    "u32",
    "s32",
    "u64",
    "s64",
    "color",
    "other",
    "name",
  ]);
  assert.equal(e.name, "hé"); // 3 bytes of the array: "h" and the 2 bytes of "é"
});

test("btf-json: a map key of a plain integer type; per-CPU sums", () => {
  const u32 = spec.btf.byName("__u32", Kind.TYPEDEF)[0];
  const rec: Record<string, JsonValue> = {};
  jsonDecoder(spec.btf, u32).put(rec, "key", new DataView(new Uint32Array([4294967295]).buffer), 0);
  assert.deepEqual(rec, { key: 4294967295 });
  assert.equal(sumJson([1, 2, 3n]), 6);
  assert.equal(sumJson([9007199254740991, 1]), 9007199254740992n);
  assert.deepEqual(sumJson([{ a: 1, s: [1, 2] }, { a: 2, s: [3, 4] }]), { a: 3, s: [4, 6] });
  assert.equal(sumJson([{ a: 1, c: "x" }, { a: 2, c: "x" }]), undefined); // text: no sum
});
