import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseElf } from "../src/elf/reader.ts";
import { Btf } from "../src/btf/reader.ts";
import { parseBtfExt } from "../src/btf/ext.ts";
import { BtfBuilder, writeBtf } from "../src/btf/writer.ts";
import { btfFromBytes } from "../src/btf/source.ts";
import { dumpC } from "../src/btf/c-dump.ts";
import { essentialName, Kind } from "../src/btf/types.ts";
import { FormatError } from "../src/errors.ts";
import { intStructs } from "./btf-structs.ts";

const PROBE = new URL("./fixtures/btf/probe.bpf.o", import.meta.url);
const probeElf = () => parseElf(new Uint8Array(readFileSync(PROBE)), "probe.bpf.o");
const probeBtf = () => Btf.parse(probeElf().sectionByName(".BTF")!.data, { what: "probe .BTF" });

test("BTF: the fixture object's types decode as bpftool prints them", () => {
  const btf = probeBtf();
  assert.equal(btf.count, 51);
  assert.equal(btf.firstId, 1);
  const flags = btf.type(btf.byName("flags", Kind.STRUCT)[0]);
  assert.equal(flags.kind, Kind.STRUCT);
  if (flags.kind !== Kind.STRUCT) return;
  assert.equal(flags.size, 40);
  assert.equal(flags.kindFlag, true);
  assert.deepEqual(
    flags.members.map((m) => [m.name, m.type, m.bitOffset, m.bitfieldSize]),
    [
      ["a", 9, 0, 3],
      ["b", 9, 3, 5],
      ["c", 2, 8, 12],
      ["", 12, 64, 0],
      ["s", 17, 128, 0],
      ["g", 18, 192, 0],
      ["name", 19, 256, 0],
    ],
  );
  assert.deepEqual(btf.type(17), {
    id: 17,
    name: "small",
    kind: Kind.ENUM,
    size: 4,
    signed: true,
    values: [{ name: "SMALL_A", value: -1n }, { name: "SMALL_B", value: 7n }],
  });
  assert.deepEqual(btf.type(18), {
    id: 18,
    name: "big",
    kind: Kind.ENUM64,
    size: 8,
    signed: false,
    values: [{ name: "BIG_A", value: 0x100000000n }, { name: "BIG_B", value: 0xffffffffffffffffn }],
  });
  assert.deepEqual(btf.type(48), {
    id: 48,
    name: ".maps",
    kind: Kind.DATASEC,
    size: 0,
    vars: [{ type: 23, offset: 0, size: 32 }, { type: 29, offset: 0, size: 16 }],
  });
  assert.deepEqual(btf.type(32), {
    id: 32,
    name: "handle_exec",
    kind: Kind.FUNC,
    type: 31,
    linkage: 1,
  });
  assert.deepEqual(btf.type(31), {
    id: 31,
    name: "",
    kind: Kind.FUNC_PROTO,
    returnType: 2,
    params: [{ name: "ctx", type: 30 }],
  });
  assert.deepEqual(btf.type(41), {
    id: 41,
    name: "target_pid",
    kind: Kind.VAR,
    type: 39,
    linkage: 1,
  });
  assert.equal(btf.kind(0), Kind.UNKN);
  assert.equal(btf.name(0), "");
  assert.throws(() => btf.type(0), RangeError);
  assert.throws(() => btf.type(51), RangeError);
});

test("BTF: resolve, sizeOf and byName on the fixture object", () => {
  const btf = probeBtf();
  assert.equal(btf.resolve(40), 9); // volatile __u32 -> unsigned int
  assert.equal(btf.resolve(39), 9); // const volatile __u32
  assert.equal(btf.sizeOf(39), 4);
  assert.equal(btf.sizeOf(11), 40);
  assert.equal(btf.sizeOf(16), 8); // char[8]
  assert.equal(btf.sizeOf(27), 4096 * 4); // int[4096]
  assert.equal(btf.sizeOf(19), 8); // pointer
  assert.equal(btf.sizeOf(42), 8); // VAR counter (__u64)
  assert.deepEqual(btf.byName("__u32"), [8]);
  assert.deepEqual(btf.byName("task_struct", Kind.STRUCT), [33]);
  assert.deepEqual(btf.byName("task_struct", Kind.UNION), []);
  assert.deepEqual(btf.byName("task_struc"), []);
  assert.deepEqual(btf.byName("task_struct_"), []);
  assert.deepEqual(btf.byName(""), []);
  assert.throws(() => btf.sizeOf(31), /has no size/);
});

test("BTF: .BTF.ext func_info, line_info and CO-RE relocations of the fixture object", () => {
  const elf = probeElf();
  const btf = Btf.parse(elf.sectionByName(".BTF")!.data);
  const ext = parseBtfExt(elf.sectionByName(".BTF.ext")!.data, btf);
  assert.equal(ext.funcInfoRecSize, 8);
  assert.equal(ext.lineInfoRecSize, 16);
  assert.equal(ext.coreReloRecSize, 16);
  assert.deepEqual([...ext.funcInfo.entries()], [
    ["tp/sched/sched_process_exec", [{ insnOff: 0, typeId: 32 }]],
    [".text", [{ insnOff: 0, typeId: 36 }]],
    ["raw_tp/sys_enter", [{ insnOff: 0, typeId: 38 }]],
  ]);
  assert.deepEqual(ext.coreRelos.get("tp/sched/sched_process_exec"), [
    { insnOff: 24, typeId: 33, accessStr: "0:2", kind: 0 },
    { insnOff: 80, typeId: 33, accessStr: "0:1", kind: 0 },
  ]);
  const lines = ext.lineInfo.get(".text")!;
  assert.equal(lines.length, 4);
  assert.deepEqual(lines.map((l) => [l.insnOff, l.line, l.col]), [[0, 49, 12], [24, 49, 19], [
    40,
    49,
    14,
  ], [48, 49, 2]]);
  assert.match(btf.string(lines[0].fileNameOff), /probe\.bpf\.c$/);
  assert.equal(btf.string(lines[0].lineOff).trim(), "return f->a + f->c;");
});

test("BTF: writer round trip of the fixture object gives identical bytes and types", () => {
  const btf = probeBtf();
  const again = Btf.parse(writeBtf(btf));
  assert.equal(again.count, btf.count);
  for (let id = 1; id < btf.count; id++) assert.deepEqual(again.type(id), btf.type(id));
  assert.deepEqual(writeBtf(again), writeBtf(btf));
});

test("BTF: every kind written by BtfBuilder reads back the same", () => {
  const b = new BtfBuilder();
  const int = b.add({ kind: Kind.INT, name: "int", size: 4, encoding: 1, offset: 0, bits: 32 });
  const ptr = b.add({ kind: Kind.PTR, name: "", type: int });
  const arr = b.add({ kind: Kind.ARRAY, name: "", elemType: int, indexType: int, nelems: 7 });
  const st = b.add({
    kind: Kind.STRUCT,
    name: "s",
    size: 40,
    kindFlag: true,
    members: [
      { name: "x", type: int, bitOffset: 0, bitfieldSize: 3 },
      { name: "p", type: ptr, bitOffset: 64, bitfieldSize: 0 },
      { name: "a", type: arr, bitOffset: 128, bitfieldSize: 0 },
    ],
  });
  const un = b.add({
    kind: Kind.UNION,
    name: "u",
    size: 4,
    kindFlag: false,
    members: [{ name: "i", type: int, bitOffset: 0, bitfieldSize: 0 }],
  });
  const en = b.add({
    kind: Kind.ENUM,
    name: "e",
    size: 4,
    signed: true,
    values: [{ name: "NEG", value: -5n }, { name: "POS", value: 3n }],
  });
  const e64 = b.add({
    kind: Kind.ENUM64,
    name: "e64",
    size: 8,
    signed: true,
    values: [{ name: "MIN", value: -(1n << 63n) }],
  });
  const fwd = b.add({ kind: Kind.FWD, name: "later", union: true });
  const td = b.add({ kind: Kind.TYPEDEF, name: "myint", type: int });
  const vol = b.add({ kind: Kind.VOLATILE, name: "", type: td });
  const cst = b.add({ kind: Kind.CONST, name: "", type: vol });
  const res = b.add({ kind: Kind.RESTRICT, name: "", type: ptr });
  const proto = b.add({
    kind: Kind.FUNC_PROTO,
    name: "",
    returnType: int,
    params: [{ name: "a", type: int }, { name: "", type: 0 }],
  });
  const fn = b.add({ kind: Kind.FUNC, name: "f", type: proto, linkage: 1 });
  const v = b.add({ kind: Kind.VAR, name: "v", type: int, linkage: 1 });
  const ds = b.add({
    kind: Kind.DATASEC,
    name: ".data",
    size: 4,
    vars: [{ type: v, offset: 0, size: 4 }],
  });
  const fl = b.add({ kind: Kind.FLOAT, name: "double", size: 8 });
  const tag = b.add({ kind: Kind.DECL_TAG, name: "tag", type: st, componentIdx: -1 });
  const tt = b.add({ kind: Kind.TYPE_TAG, name: "user", type: int });
  const btf = Btf.parse(b.build());
  assert.equal(btf.count, tt + 1);
  const kinds = [
    int,
    ptr,
    arr,
    st,
    un,
    en,
    e64,
    fwd,
    td,
    vol,
    cst,
    res,
    proto,
    fn,
    v,
    ds,
    fl,
    tag,
    tt,
  ]
    .map((id) => btf.kind(id));
  assert.deepEqual(
    kinds,
    [1, 2, 3, 4, 5, 6, 19, 7, 8, 9, 10, 11, 13, 12, 14, 15, 16, 17, 18],
  );
  assert.deepEqual(btf.type(e64), {
    id: e64,
    kind: Kind.ENUM64,
    name: "e64",
    size: 8,
    signed: true,
    values: [{ name: "MIN", value: -(1n << 63n) }],
  });
  assert.deepEqual(btf.type(en), {
    id: en,
    kind: Kind.ENUM,
    name: "e",
    size: 4,
    signed: true,
    values: [{ name: "NEG", value: -5n }, { name: "POS", value: 3n }],
  });
  assert.deepEqual(btf.type(tag), {
    id: tag,
    kind: Kind.DECL_TAG,
    name: "tag",
    type: st,
    componentIdx: -1,
  });
  assert.deepEqual(btf.type(fwd), { id: fwd, kind: Kind.FWD, name: "later", union: true });
  assert.equal(btf.resolve(cst), int);
  assert.equal(btf.sizeOf(cst), 4);
  assert.equal(btf.sizeOf(st), 40);
  assert.equal(btf.sizeOf(arr), 28);
  assert.deepEqual(Btf.parse(writeBtf(btf)).type(st), btf.type(st));
});

test("BTF: candidates() follows libbpf's flavor rule and essentialName matches it", () => {
  assert.equal(essentialName("task_struct___v1"), "task_struct");
  assert.equal(essentialName("task_struct___v1___x"), "task_struct___v1");
  assert.equal(essentialName("foo____bar"), "foo____bar");
  assert.equal(essentialName("___x"), "___x");
  assert.equal(essentialName("plain"), "plain");
  const { b, struct: s } = intStructs();
  const a = s("task_struct");
  const v1 = s("task_struct___v1");
  s("task_struct_x");
  s("task_structs");
  s("task_struct____odd");
  const nested = s("task_struct___a___b");
  const u = b.add({ kind: Kind.UNION, name: "task_struct", size: 4, kindFlag: false, members: [] });
  const btf = Btf.parse(b.build());
  assert.deepEqual(btf.candidates("task_struct", Kind.STRUCT), [a, v1]);
  assert.deepEqual(btf.candidates("task_struct___a", Kind.STRUCT), [nested]);
  assert.deepEqual(btf.candidates("task_struct", Kind.UNION), [u]);
  assert.deepEqual(btf.byName("task_struct"), [a, u]);
});

test("BTF: split BTF continues the base's ids and strings", () => {
  const base = probeBtf();
  const b = new BtfBuilder({ base });
  const td = b.add({ kind: Kind.TYPEDEF, name: "flags_t", type: 11 });
  const ptr = b.add({ kind: Kind.PTR, name: "", type: td });
  const again = b.add({ kind: Kind.TYPEDEF, name: "task_struct", type: 33 });
  const split = Btf.parse(b.build(), { base, what: "split" });
  assert.equal(split.firstId, 51);
  assert.equal(td, 51);
  assert.equal(split.count, 54);
  assert.equal(split.name(td), "flags_t");
  assert.equal(split.name(11), "flags");
  assert.equal(split.resolve(ptr), ptr);
  assert.equal(split.resolve(td), 11);
  assert.equal(split.sizeOf(td), 40);
  assert.deepEqual(split.byName("task_struct"), [33, again]);
  assert.deepEqual(split.byName("flags_t"), [td]);
  assert.deepEqual(split.type(12), base.type(12));
  assert.deepEqual(Btf.parse(writeBtf(split), { base }).type(again), split.type(again));
  // Parsing the split blob without its base fails cleanly.
  assert.throws(() => Btf.parse(b.build()), FormatError);
});

test("BTF: an ELF file's .BTF section is found by btfFromBytes", () => {
  const btf = btfFromBytes(new Uint8Array(readFileSync(PROBE)), "probe.bpf.o");
  assert.equal(btf.count, 51);
  assert.equal(btf.what, "probe.bpf.o .BTF");
});

function btfError(bytes: Uint8Array, pattern: RegExp, base?: Btf) {
  assert.throws(
    () => {
      const btf = Btf.parse(bytes, { what: "bad", base });
      for (let id = btf.firstId; id < btf.count; id++) {
        btf.type(id);
        btf.resolve(id);
      }
    },
    (e: unknown) => e instanceof FormatError && pattern.test(e.message),
  );
}

test("BTF: bad headers, unknown kinds, bad string offsets, bad ids and loops give FormatErrors with offsets", () => {
  const good = writeBtf(probeBtf());
  const mut = (f: (v: DataView, b: Uint8Array) => void) => {
    const b = good.slice();
    f(new DataView(b.buffer), b);
    return b;
  };
  btfError(
    mut((v) => v.setUint16(0, 0x9feb, true)),
    /big-endian BTF is not supported \(at offset 0\)/,
  );
  btfError(mut((_, b) => (b[0] = 1)), /bad BTF magic/);
  btfError(mut((_, b) => (b[2] = 2)), /unsupported BTF version 2/);
  btfError(
    mut((v) => v.setUint32(12, 0xffff0, true)),
    /type section .* past end of data .*at offset 8/,
  );
  btfError(mut((v) => v.setUint32(20, 0xffff0, true)), /string section .* past end/);
  btfError(good.subarray(0, 10), /shorter than a BTF header/);
  // Type 1's info: kind 25.
  btfError(
    mut((v) => v.setUint32(24 + 4, 25 << 24, true)),
    /unknown BTF kind 25 in type 1 \(at offset 24\)/,
  );
  // Type 1's name offset past the strings.
  btfError(
    mut((v) => v.setUint32(24, 0x7fffffff, true)),
    /type 1: name offset 2147483647 past string section \(\d+ bytes\) \(at offset 24\)/,
  );
  // Type 1 (a PTR) refers to a type id out of range.
  btfError(
    mut((v) => v.setUint32(24 + 8, 5000, true)),
    /type 1: it refers to type 5000, past the last id 50 \(at offset 24\)/,
  );
  // A loop: typedef a -> typedef b -> typedef a.
  const b = new BtfBuilder();
  b.add({ kind: Kind.TYPEDEF, name: "a", type: 2 });
  b.add({ kind: Kind.TYPEDEF, name: "b", type: 1 });
  const loop = Btf.parse(b.build());
  assert.throws(
    () => loop.resolve(1),
    (e: unknown) => e instanceof FormatError && /loop/.test(e.message),
  );
  assert.throws(
    () => loop.sizeOf(2),
    (e: unknown) => e instanceof FormatError && /loop/.test(e.message),
  );
  // Array of itself.
  const c = new BtfBuilder();
  c.add({ kind: Kind.ARRAY, name: "", elemType: 1, indexType: 1, nelems: 2 });
  assert.throws(() => Btf.parse(c.build()).sizeOf(1), FormatError);
});

test("BTF: .BTF.ext with bad offsets and type ids gives FormatErrors", () => {
  const elf = probeElf();
  const btf = Btf.parse(elf.sectionByName(".BTF")!.data);
  const ext = elf.sectionByName(".BTF.ext")!.data;
  const mut = (f: (v: DataView) => void) => {
    const b = ext.slice();
    f(new DataView(b.buffer));
    return b;
  };
  const fails = (b: Uint8Array, re: RegExp) =>
    assert.throws(
      () => parseBtfExt(b, btf),
      (e: unknown) => e instanceof FormatError && re.test(e.message),
    );
  fails(mut((v) => v.setUint32(12, 0xfffff, true)), /sub-section .* past end/);
  // First func_info record's type id (after hdr 32 + rec size 4 + sec name 4 + count 4 + insn_off 4).
  const hdr = new DataView(ext.buffer, ext.byteOffset).getUint32(4, true);
  fails(mut((v) => v.setUint32(hdr + 16, 999, true)), /type id 999 out of range/);
  fails(
    mut((v) => v.setUint32(hdr + 4, 0xfffffff, true)),
    /string offset 268435455 not in the BTF string section/,
  );
  fails(ext.subarray(0, 20), /shorter than a .BTF.ext header/);
});

test("BTF: loops through pointers and self-embedding structs give FormatErrors in the C dump", () => {
  const b = new BtfBuilder();
  b.add({ kind: Kind.PTR, name: "", type: 2 });
  b.add({ kind: Kind.PTR, name: "", type: 1 });
  b.add({ kind: Kind.TYPEDEF, name: "loop_t", type: 1 });
  const ptrLoop = Btf.parse(b.build(), { what: "ptr loop" });
  assert.equal(ptrLoop.sizeOf(3), 8);
  assert.throws(
    () => dumpC(ptrLoop),
    (e: unknown) =>
      e instanceof FormatError && /ptr loop: type \d+: types nest deeper than 256/.test(e.message),
  );
  // An anonymous struct that embeds itself: no C for it, and no stack overflow.
  const c = new BtfBuilder();
  c.add({
    kind: Kind.STRUCT,
    name: "",
    size: 8,
    kindFlag: false,
    members: [{ name: "self", type: 1, bitOffset: 0, bitfieldSize: 0 }],
  });
  c.add({ kind: Kind.TYPEDEF, name: "self_t", type: 1 });
  const selfLoop = Btf.parse(c.build(), { what: "self loop" });
  assert.equal(selfLoop.sizeOf(2), 8); // sizes come from the record, not the members
  assert.throws(
    () => dumpC(selfLoop),
    (e: unknown) =>
      e instanceof FormatError && /type 1: a type cycle C cannot express/.test(e.message),
  );
});

test("BTF: a blob at an odd byte offset in its buffer reads the same as an aligned one", () => {
  const blob = writeBtf(probeBtf());
  const shifted = new Uint8Array(blob.length + 3);
  shifted.set(blob, 3);
  const odd = Btf.parse(shifted.subarray(3));
  const aligned = Btf.parse(blob);
  assert.equal(odd.count, aligned.count);
  for (let id = 1; id < aligned.count; id++) assert.deepEqual(odd.type(id), aligned.type(id));
  assert.deepEqual(odd.byName("flags"), [11]);
});
