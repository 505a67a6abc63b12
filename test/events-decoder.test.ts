// The BTF-driven event decoder, on a hand-made type table (the real-object test is in
// events-decoder-object.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type BtfType,
  INT_BOOL,
  INT_SIGNED,
  Kind,
  type Member,
  type NewType,
} from "../src/btf/types.ts";
import { cString, structDecoder, type TypeSource } from "../src/events/decoder.ts";

/** A tiny type table: ids are positions (0 = void). */
class Table implements TypeSource {
  types: BtfType[] = [];
  add(t: NewType): number {
    const id = this.types.length + 1;
    this.types.push({ ...t, id } as BtfType);
    return id;
  }
  type(id: number): BtfType {
    const t = this.types[id - 1];
    if (!t) throw new Error(`no type ${id}`);
    return t;
  }
  byName(name: string, kind?: Kind): number[] {
    return this.types.filter((t) => t.name === name && (kind === undefined || t.kind === kind))
      .map((t) => t.id);
  }
}

const m = (
  name: string,
  type: number,
  byteOff: number,
  bitfieldSize = 0,
  bitExtra = 0,
): Member => ({
  name,
  type,
  bitOffset: byteOff * 8 + bitExtra,
  bitfieldSize,
});

function eventTable() {
  const t = new Table();
  const u8 = t.add({
    kind: Kind.INT,
    name: "unsigned char",
    size: 1,
    encoding: 0,
    offset: 0,
    bits: 8,
  });
  const u8t = t.add({ kind: Kind.TYPEDEF, name: "u8", type: u8 });
  const char = t.add({
    kind: Kind.INT,
    name: "char",
    size: 1,
    encoding: INT_SIGNED,
    offset: 0,
    bits: 8,
  });
  const s16 = t.add({
    kind: Kind.INT,
    name: "short",
    size: 2,
    encoding: INT_SIGNED,
    offset: 0,
    bits: 16,
  });
  const u32 = t.add({
    kind: Kind.INT,
    name: "unsigned int",
    size: 4,
    encoding: 0,
    offset: 0,
    bits: 32,
  });
  const s32 = t.add({
    kind: Kind.INT,
    name: "int",
    size: 4,
    encoding: INT_SIGNED,
    offset: 0,
    bits: 32,
  });
  const u64 = t.add({
    kind: Kind.INT,
    name: "unsigned long long",
    size: 8,
    encoding: 0,
    offset: 0,
    bits: 64,
  });
  const s64 = t.add({
    kind: Kind.INT,
    name: "long long",
    size: 8,
    encoding: INT_SIGNED,
    offset: 0,
    bits: 64,
  });
  const bool = t.add({
    kind: Kind.INT,
    name: "_Bool",
    size: 1,
    encoding: INT_BOOL,
    offset: 0,
    bits: 8,
  });
  const u32t = t.add({ kind: Kind.TYPEDEF, name: "u32", type: u32 });
  const cu64 = t.add({ kind: Kind.CONST, name: "", type: u64 });
  const idx = u32;
  const comm = t.add({ kind: Kind.ARRAY, name: "", elemType: char, indexType: idx, nelems: 16 });
  const flags = t.add({ kind: Kind.ARRAY, name: "", elemType: u8t, indexType: idx, nelems: 3 });
  const arr = t.add({ kind: Kind.ARRAY, name: "", elemType: s32, indexType: idx, nelems: 2 });
  const inner = t.add({
    kind: Kind.STRUCT,
    name: "inner",
    size: 6,
    kindFlag: false,
    members: [m("neg", s16, 0), m("flags", flags, 2)],
  });
  const anon = t.add({
    kind: Kind.UNION,
    name: "",
    size: 8,
    kindFlag: false,
    members: [m("as_u64", u64, 0), m("as_s64", s64, 0)],
  });
  const state = t.add({
    kind: Kind.ENUM,
    name: "state",
    size: 4,
    signed: true,
    values: [{ name: "NEG", value: -1n }],
  });
  const ptr = t.add({ kind: Kind.PTR, name: "", type: 0 });
  const event = t.add({
    kind: Kind.STRUCT,
    name: "event",
    size: 96,
    kindFlag: true,
    members: [
      m("pid", u32t, 0),
      m("tid", u32, 4),
      m("seq", cu64, 8),
      m("magic", s32, 16),
      m("ppid", u32, 20),
      m("big", u64, 24),
      m("comm", comm, 32),
      m("in", inner, 48),
      m("arr", arr, 56),
      m("", anon, 64),
      m("st", state, 72),
      m("ok", bool, 76),
      m("lo3", u32, 77, 3, 0),
      m("hi5", s32, 77, 5, 3),
      m("ptr", ptr, 80),
      m("neg64", s64, 88),
    ],
  });
  return { t, event };
}

function sampleRecord(): DataView {
  const b = new Uint8Array(8 + 96);
  const dv = new DataView(b.buffer, 8); // the record starts 8 bytes into the buffer
  dv.setUint32(0, 4242, true);
  dv.setUint32(4, 4243, true);
  dv.setBigUint64(8, 12345678901n, true);
  dv.setInt32(16, -7, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0xfedcba9876543210n, true);
  b.set(new TextEncoder().encode("bash\0junk"), 8 + 32);
  dv.setInt16(48, -2, true);
  b.set([1, 2, 3], 8 + 50);
  dv.setInt32(56, -1, true);
  dv.setInt32(60, 7, true);
  dv.setBigUint64(64, 0xffffffffffffffffn, true);
  dv.setInt32(72, -1, true);
  dv.setUint8(76, 1);
  dv.setUint8(77, 0b11010_101); // lo3 = 5, hi5 = 0b11010 = -6 as signed 5-bit
  dv.setBigUint64(80, 0xffff888812345678n, true);
  dv.setBigInt64(88, -5n, true);
  return new DataView(b.buffer);
}

test("decoder maps every field of a struct from its BTF layout", () => {
  const { t } = eventTable();
  const d = structDecoder(t, "event");
  assert.equal(d.size, 96);
  const e = d.decode(sampleRecord(), 8, 96);
  assert.deepEqual(e, {
    pid: 4242,
    tid: 4243,
    seq: 12345678901,
    magic: -7,
    ppid: 1,
    big: 0xfedcba9876543210n,
    comm: "bash",
    in: { neg: -2, flags: [1, 2, 3] },
    arr: [-1, 7],
    as_u64: 0xffffffffffffffffn,
    as_s64: -1,
    st: -1,
    ok: true,
    lo3: 5,
    hi5: -6,
    ptr: 0xffff888812345678n,
    neg64: -5,
  });
});

test("decoder gives bigints for every 64-bit field with u64: bigint, and bytes for chars", () => {
  const { t } = eventTable();
  const d = structDecoder(t, "event", { u64: "bigint", chars: "bytes" });
  const e = d.decode(sampleRecord(), 8);
  assert.equal(e.seq, 12345678901n);
  assert.equal(e.neg64, -5n);
  assert.deepEqual(
    e.comm,
    new Uint8Array([98, 97, 115, 104, 0, 106, 117, 110, 107, 0, 0, 0, 0, 0, 0, 0]),
  );
});

test("decoder describes its top-level fields with offsets and sizes", () => {
  const { t } = eventTable();
  const d = structDecoder(t, "event");
  const byName = Object.fromEntries(d.fields.map((f) => [f.path, f]));
  assert.deepEqual(byName.comm, {
    path: "comm",
    offset: 32,
    size: 16,
    kind: "string",
    signed: false,
  });
  assert.deepEqual(byName.magic, { path: "magic", offset: 16, size: 4, kind: "int", signed: true });
  assert.equal(byName.as_s64.offset, 64);
  assert.equal(byName.hi5.offset, 77);
});

test("decoder rejects a short record and a missing struct by name", () => {
  const { t } = eventTable();
  const d = structDecoder(t, "event");
  assert.throws(() => d.decode(sampleRecord(), 8, 50), /event event: record of 50 bytes, need 96/);
  assert.throws(() => structDecoder(t, "nope"), /no struct 'nope'/);
});

test("decoder reads a trailing flexible char array up to the record's length", () => {
  const t = new Table();
  const u32 = t.add({
    kind: Kind.INT,
    name: "unsigned int",
    size: 4,
    encoding: 0,
    offset: 0,
    bits: 32,
  });
  const char = t.add({
    kind: Kind.INT,
    name: "char",
    size: 1,
    encoding: INT_SIGNED,
    offset: 0,
    bits: 8,
  });
  const flex = t.add({ kind: Kind.ARRAY, name: "", elemType: char, indexType: u32, nelems: 0 });
  t.add({
    kind: Kind.STRUCT,
    name: "path_event",
    size: 4,
    kindFlag: false,
    members: [m("len", u32, 0), m("path", flex, 4)],
  });
  const d = structDecoder(t, "path_event");
  const b = new Uint8Array(4 + 9);
  new DataView(b.buffer).setUint32(0, 9, true);
  b.set(new TextEncoder().encode("/etc/host"), 4);
  assert.deepEqual(d.decode(new DataView(b.buffer), 0, b.length), { len: 9, path: "/etc/host" });
});

test("cString keeps valid UTF-8 and escapes invalid bytes faithfully", () => {
  const bytes = new Uint8Array([0x68, 0xc3, 0xa9, 0x00, 0x41]);
  assert.equal(cString(new DataView(bytes.buffer), 0, 5), "hé");
  const bad = new Uint8Array([0x61, 0xff, 0x5c, 0x62]);
  assert.equal(cString(new DataView(bad.buffer), 0, 4), "a\\xff\\\\b");
  const view = (b: number[]) => new DataView(new Uint8Array(b).buffer);
  // Valid sequences survive next to invalid bytes; overlong, surrogate and cut sequences
  // are escaped byte by byte.
  assert.equal(
    cString(view([0xc3, 0xa9, 0xff, 0x61, 0x5c]), 0, 5),
    "é\\xffa\\\\",
  );
  assert.equal(cString(view([0xc0, 0x80, 0x41]), 0, 3), "\\xc0\\x80A");
  assert.equal(cString(view([0xed, 0xa0, 0x80]), 0, 3), "\\xed\\xa0\\x80");
  assert.equal(cString(view([0x41, 0xe2, 0x82]), 0, 3), "A\\xe2\\x82");
  assert.equal(cString(view([0xf0, 0x9f, 0x98, 0x80, 0xfe]), 0, 5), "😀\\xfe");
  const noNul = new Uint8Array([0x61, 0x62, 0x63]);
  assert.equal(cString(new DataView(noNul.buffer), 0, 2), "ab");
});
