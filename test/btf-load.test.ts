// The BTF writer's output checked by the kernel's own BTF verifier (BPF_BTF_LOAD), and read
// back from the kernel (BPF_OBJ_GET_INFO_BY_FD) byte for byte.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Btf } from "../src/btf/reader.ts";
import { BtfBuilder, writeBtf } from "../src/btf/writer.ts";
import { Kind } from "../src/btf/types.ts";
import { btfLoad, objGetInfoByFd } from "../src/kernel/bpf.ts";
import { getPlatform } from "../src/platform/index.ts";
import type { Platform } from "../src/platform/types.ts";
import { SysError } from "../src/errors.ts";
import { kernelTest } from "./env.ts";

/** Loads `blob` with BPF_BTF_LOAD, reads it back through bpf_btf_info.btf, closes it. */
function loadAndReadBack(p: Platform, blob: Uint8Array, what: string): Uint8Array {
  const obj = btfLoad(p, blob, what);
  try {
    const back = new Uint8Array(blob.length);
    const info = new Uint8Array(48); // struct bpf_btf_info
    const dv = new DataView(info.buffer);
    dv.setBigUint64(0, p.addressOf(back), true); // btf
    dv.setUint32(8, back.length, true); // btf_size
    objGetInfoByFd(p, obj.fd, info, what);
    assert.equal(dv.getUint32(8, true), blob.length, "btf_size reported by the kernel");
    assert.ok(dv.getUint32(12, true) > 0, "BTF object id");
    return back;
  } finally {
    obj.close();
  }
}

function everyKind(): Uint8Array {
  const b = new BtfBuilder();
  const int = b.add({ kind: Kind.INT, name: "int", size: 4, encoding: 1, offset: 0, bits: 32 });
  const uint = b.add({
    kind: Kind.INT,
    name: "unsigned int",
    size: 4,
    encoding: 0,
    offset: 0,
    bits: 32,
  });
  const ch = b.add({ kind: Kind.INT, name: "char", size: 1, encoding: 2, offset: 0, bits: 8 });
  const ptr = b.add({ kind: Kind.PTR, name: "", type: ch });
  const arr = b.add({ kind: Kind.ARRAY, name: "", elemType: ch, indexType: uint, nelems: 16 });
  const st = b.add({
    kind: Kind.STRUCT,
    name: "event",
    size: 40,
    kindFlag: true,
    members: [
      { name: "pid", type: int, bitOffset: 0, bitfieldSize: 0 },
      { name: "flags", type: uint, bitOffset: 32, bitfieldSize: 3 },
      { name: "more", type: uint, bitOffset: 35, bitfieldSize: 5 },
      { name: "comm", type: arr, bitOffset: 64, bitfieldSize: 0 },
      { name: "name", type: ptr, bitOffset: 192, bitfieldSize: 0 },
      { name: "", type: 0 + 8, bitOffset: 256, bitfieldSize: 0 }, // the union below (id 8)
    ],
  });
  const e32 = b.add({
    kind: Kind.ENUM,
    name: "state",
    size: 4,
    signed: true,
    values: [{ name: "DEAD", value: -1n }, { name: "ALIVE", value: 1n }],
  });
  const un = b.add({
    kind: Kind.UNION,
    name: "",
    size: 8,
    kindFlag: false,
    members: [
      { name: "i", type: int, bitOffset: 0, bitfieldSize: 0 },
      { name: "s", type: e32, bitOffset: 0, bitfieldSize: 0 },
    ],
  });
  assert.equal(un, 8);
  const u64 = b.add({
    kind: Kind.INT,
    name: "long long unsigned int",
    size: 8,
    encoding: 0,
    offset: 0,
    bits: 64,
  });
  b.add({
    kind: Kind.ENUM64,
    name: "big",
    size: 8,
    signed: false,
    values: [{ name: "BIG", value: 0xffffffff00000000n }],
  });
  b.add({ kind: Kind.FWD, name: "later", union: false });
  const td = b.add({ kind: Kind.TYPEDEF, name: "u64", type: u64 });
  const vol = b.add({ kind: Kind.VOLATILE, name: "", type: td });
  const cst = b.add({ kind: Kind.CONST, name: "", type: vol });
  b.add({ kind: Kind.RESTRICT, name: "", type: ptr });
  b.add({ kind: Kind.FLOAT, name: "double", size: 8 });
  b.add({ kind: Kind.TYPE_TAG, name: "user", type: int });
  const proto = b.add({
    kind: Kind.FUNC_PROTO,
    name: "",
    returnType: int,
    params: [{ name: "ctx", type: ptr }],
  });
  const fn = b.add({ kind: Kind.FUNC, name: "handle", type: proto, linkage: 1 });
  b.add({ kind: Kind.DECL_TAG, name: "hot", type: fn, componentIdx: -1 });
  b.add({ kind: Kind.DECL_TAG, name: "ctx_arg", type: fn, componentIdx: 0 });
  const v = b.add({ kind: Kind.VAR, name: "target", type: cst, linkage: 1 });
  b.add({ kind: Kind.DATASEC, name: ".rodata", size: 8, vars: [{ type: v, offset: 0, size: 8 }] });
  b.add({ kind: Kind.DECL_TAG, name: "member_tag", type: st, componentIdx: 1 });
  return b.build();
}

test(
  "BPF_BTF_LOAD accepts the writer's BTF with every kind, and gives the same bytes back",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const blob = everyKind();
    const back = loadAndReadBack(p, blob, "synthetic BTF");
    assert.deepEqual(back, blob);
    assert.equal(Btf.parse(back).count, Btf.parse(blob).count);
  },
);

test(
  "BPF_BTF_LOAD rejects a corrupted blob from the writer (the reference is not lenient)",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const blob = everyKind();
    // The struct's first member refers to a type id that does not exist.
    const btf = Btf.parse(blob);
    const at = btf.recordOffset(btf.byName("event")[0]) + 12 + 4;
    new DataView(blob.buffer).setUint32(at, 9999, true);
    assert.throws(
      () => btfLoad(p, blob, "corrupt BTF"),
      (e: unknown) => e instanceof SysError && e.errno === 22 && /Invalid member/.test(e.message),
    );
    // Our reader says the same, with the offset.
    assert.throws(
      () => Btf.parse(blob).type(btf.byName("event")[0]),
      /member 0 refers to type 9999/,
    );
  },
);

test(
  "BPF_BTF_LOAD accepts the running kernel's BTF written back by writeBtf",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const kernel = Btf.parse(new Uint8Array(readFileSync("/sys/kernel/btf/vmlinux")));
    const blob = writeBtf(kernel);
    const back = loadAndReadBack(p, blob, "rewritten kernel BTF");
    assert.ok(
      back.length === blob.length && back.every((x, i) => x === blob[i]),
      "same bytes back",
    );
  },
);
