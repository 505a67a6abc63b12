// CO-RE matching rules on small synthetic BTF (built with the BTF writer): each rule of
// libbpf's relo_core.c, the error cases, and bad input. Values asserted are the ones libbpf's
// rules give (worked out by hand from relo_core.c for each case).

import { test } from "node:test";
import assert from "node:assert/strict";
import { BtfBuilder } from "../src/btf/writer.ts";
import { Btf } from "../src/btf/reader.ts";
import { INT_SIGNED, Kind, type NewType } from "../src/btf/types.ts";
import { asm, encode, InsnBuffer } from "../src/asm/insn.ts";
import * as op from "../src/asm/opcodes.ts";
import type { CoreReloRecord } from "../src/btf/ext.ts";
import { cacheFor, relocateRecord } from "../src/core/relocate.ts";
import { CoreError, CoreStepError } from "../src/core/errors.ts";
import { CoreReloKind as K } from "../src/core/kinds.ts";
import { coreEssentialName } from "../src/core/names.ts";
import { parseAccessString } from "../src/core/spec.ts";
import { POISON_HELPER_ID } from "../src/core/patch.ts";
import { explainVerifierLog } from "../src/core/explain.ts";

/** Builds a BTF from types given as a function of a name->id map (ids in insertion order). */
function btf(types: NewType[]): Btf {
  const b = new BtfBuilder();
  for (const t of types) b.add(t);
  return Btf.parse(b.build(), { what: "synthetic" });
}

const int = (name = "int", size = 4, signed = true): NewType => ({
  kind: Kind.INT,
  name,
  size,
  encoding: signed ? INT_SIGNED : 0,
  offset: 0,
  bits: size * 8,
});
const m = (name: string, type: number, bitOffset: number, bitfieldSize = 0) => ({
  name,
  type,
  bitOffset,
  bitfieldSize,
});
const struct = (
  name: string,
  size: number,
  members: ReturnType<typeof m>[],
  kind: Kind.STRUCT | Kind.UNION = Kind.STRUCT,
): NewType => ({ kind, name, size, kindFlag: members.some((x) => x.bitfieldSize > 0), members });
const arr = (elemType: number, nelems: number): NewType => ({
  kind: Kind.ARRAY,
  name: "",
  elemType,
  indexType: 1,
  nelems,
});
const ptr = (type: number): NewType => ({ kind: Kind.PTR, name: "", type });

/** Runs one relocation on one instruction; returns the result and the patched instruction. */
function relo(
  local: Btf,
  target: Btf,
  rec: Omit<CoreReloRecord, "insnOff">,
  insns = encode([asm.mov64Imm(1, 0)]),
) {
  const buf = new InsnBuffer(insns);
  const spec = { name: "test.o", btf: local };
  const fn = { name: "prog", section: "raw_tp/x", offset: 0 };
  const r = relocateRecord(
    spec,
    fn,
    buf,
    { ...rec, insnOff: 0 },
    0,
    target,
    cacheFor(spec, target),
  );
  return { r, insn: buf.get(0), buf };
}

// Local: 1 int, 2 struct s { int a; union { int b; struct { int c; int d; }; }; int arr[4]; }
const LOCAL = btf([
  int(), // 1
  struct("", 8, [m("c", 1, 0), m("d", 1, 32)]), // 2 anon struct
  struct("", 8, [m("b", 1, 0), m("", 2, 0)], Kind.UNION), // 3 anon union
  arr(1, 4), // 4
  struct("s", 28, [m("a", 1, 0), m("", 3, 32), m("arr", 4, 96)]), // 5
]);

test("essential names are cut like libbpf's bpf_core_essential_name_len", () => {
  assert.equal(coreEssentialName("task_struct___v1"), "task_struct");
  assert.equal(coreEssentialName("x___y___z"), "x___y");
  assert.equal(coreEssentialName("a____b"), "a____b");
  assert.equal(coreEssentialName("foo___"), "foo___");
  assert.equal(coreEssentialName("___foo"), "___foo");
  assert.equal(coreEssentialName("abc"), "abc");
});

test("access strings: well-formed parse, malformed ones are refused", () => {
  assert.deepEqual(parseAccessString("0:1:22"), [0, 1, 22]);
  for (const bad of ["", ":0", "0::1", "0:", "a", "-1", "0:1x", " 0"]) {
    assert.throws(() => parseAccessString(bad), CoreStepError, bad);
  }
});

test("byte_off: member found through anonymous union and struct nested differently", () => {
  // Target: struct s { long pad; struct { union { struct { int d; int c; }; long b; }; }; int a; }
  const target = btf([
    int(), // 1
    int("long", 8), // 2
    struct("", 8, [m("d", 1, 0), m("c", 1, 32)]), // 3
    struct("", 8, [m("", 3, 0), m("b", 2, 0)], Kind.UNION), // 4
    struct("", 8, [m("", 4, 0)]), // 5
    struct("s", 24, [m("pad", 2, 0), m("", 5, 64), m("a", 1, 128)]), // 6
  ]);
  // local s.d = 0:1:1:1 (offset 8) -> target 0:1:0:0:0 (offset 8 + 0)
  const d = relo(
    LOCAL,
    target,
    { typeId: 5, accessStr: "0:1:1:1", kind: K.FIELD_BYTE_OFFSET },
    encode([asm.mov64Imm(1, 8)]),
  );
  assert.equal(d.r.new, 8);
  assert.equal(d.r.targetSpec, "[6] struct s.d (0:1:0:0:0 @ offset 8)");
  const c = relo(
    LOCAL,
    target,
    { typeId: 5, accessStr: "0:1:1:0", kind: K.FIELD_BYTE_OFFSET },
    encode([asm.mov64Imm(1, 4)]),
  );
  assert.equal(c.r.new, 12);
  assert.equal(c.insn.imm, 12);
  const a = relo(LOCAL, target, { typeId: 5, accessStr: "0:0", kind: K.FIELD_BYTE_OFFSET });
  assert.equal(a.r.new, 16);
  assert.equal(a.r.localSpec, "[5] struct s.a (0:0 @ offset 0)");
});

test("arrays: an index beyond the target's bounds does not match (poison); local out of bounds is an error", () => {
  const target = btf([int(), arr(1, 2), struct("s", 8, [m("arr", 2, 0)])]);
  // s.arr[3]: local 0:2:3 (arr has 4 elements), target has 2.
  const r = relo(
    LOCAL,
    target,
    { typeId: 5, accessStr: "0:2:3", kind: K.FIELD_BYTE_OFFSET },
    encode([asm.mov64Imm(1, 24)]),
  );
  assert.equal(r.r.poisoned, true);
  assert.equal(r.insn.code, op.BPF_JMP | op.BPF_CALL);
  assert.equal(r.insn.imm, POISON_HELPER_ID);
  // field_exists on the same access is 0, not poisoned.
  const e = relo(
    LOCAL,
    target,
    { typeId: 5, accessStr: "0:2:3", kind: K.FIELD_EXISTS },
    encode([asm.mov64Imm(1, 1)]),
  );
  assert.equal(e.r.new, 0);
  assert.equal(e.r.poisoned, false);
  // Local index 4 of a 4-element array: the record itself is bad.
  assert.throws(
    () => relo(LOCAL, target, { typeId: 5, accessStr: "0:2:4", kind: K.FIELD_BYTE_OFFSET }),
    (err: unknown) =>
      err instanceof CoreError && /array index 4 out of bounds/.test(err.message) &&
      /program 'prog' relo #0/.test(err.message),
  );
});

test("flexible arrays: any index into a trailing zero-length array matches", () => {
  const local = btf([int(), arr(1, 0), struct("f", 4, [m("n", 1, 0), m("data", 2, 32)])]);
  const target = btf([int("long", 8), arr(1, 0), struct("f", 8, [m("n", 1, 0), m("data", 2, 64)])]);
  const r = relo(
    local,
    target,
    { typeId: 3, accessStr: "0:1:10", kind: K.FIELD_BYTE_OFFSET },
    encode([asm.mov64Imm(1, 44)]),
  );
  assert.equal(r.r.new, 8 + 10 * 8);
});

test("pointer used as an array: the first index scales by the target struct size", () => {
  const target = btf([int(), struct("s", 40, [m("a", 1, 96)])]);
  const r = relo(
    LOCAL,
    target,
    { typeId: 5, accessStr: "3:0", kind: K.FIELD_BYTE_OFFSET },
    encode([asm.mov64Imm(1, 84)]),
  );
  assert.equal(r.r.new, 3 * 40 + 12);
});

test("bitfields: byte offset/size widen to a naturally aligned load; shifts follow; too big is an error", () => {
  // local: struct b { unsigned int x:5 @ bit 3 }
  const local = btf([int("unsigned int", 4, false), struct("b", 4, [m("x", 1, 3, 5)])]);
  // target: x:12 at bit 30 of a u32 storage -> crosses the 4-byte unit -> 8-byte load at 0.
  const target = btf([int("unsigned int", 4, false), struct("b", 8, [m("x", 1, 30, 12)])]);
  const insns = () => encode([asm.mov64Imm(1, 0)]);
  const kinds: [number, number, number][] = [
    [K.FIELD_BYTE_OFFSET, 0, 0],
    [K.FIELD_BYTE_SIZE, 4, 8],
    [K.FIELD_LSHIFT_U64, 56, 64 - (30 + 12)],
    [K.FIELD_RSHIFT_U64, 59, 52],
    [K.FIELD_SIGNED, 0, 0],
  ];
  for (const [kind, orig, want] of kinds) {
    const buf = insns();
    new InsnBuffer(buf).setImm(0, orig);
    const r = relo(local, target, { typeId: 2, accessStr: "0:0", kind }, buf);
    assert.equal(r.r.new, want, `kind ${kind}`);
  }
  // u64 storage, 10 bits at bit 60 of a packed struct: no 64-bit load holds it.
  const wide = btf([int("unsigned long", 8, false), struct("b", 9, [m("x", 1, 60, 10)])]);
  assert.throws(
    () => relo(local, wide, { typeId: 2, accessStr: "0:0", kind: K.FIELD_BYTE_OFFSET }),
    (err: unknown) => err instanceof CoreError && /E2BIG/.test(err.message),
  );
});

test("candidates: agreeing flavors are fine, disagreeing ones are an ambiguity error", () => {
  const local = btf([int(), struct("t", 8, [m("a", 1, 0), m("b", 1, 32)])]);
  const agree = btf([
    int(),
    struct("t", 8, [m("a", 1, 0), m("b", 1, 32)]),
    struct("t___2", 12, [m("x", 1, 0), m("a", 1, 0), m("b", 1, 32)]),
  ]);
  const ok = relo(
    local,
    agree,
    { typeId: 2, accessStr: "0:1", kind: K.FIELD_BYTE_OFFSET },
    encode([asm.mov64Imm(1, 4)]),
  );
  assert.equal(ok.r.new, 4);
  assert.equal(ok.r.targetType, 2);
  const clash = btf([
    int(),
    struct("t", 8, [m("a", 1, 0), m("b", 1, 32)]),
    struct("t___v2", 8, [m("b", 1, 0), m("a", 1, 32)]),
  ]);
  assert.throws(
    () =>
      relo(
        local,
        clash,
        { typeId: 2, accessStr: "0:1", kind: K.FIELD_BYTE_OFFSET },
        encode([asm.mov64Imm(1, 4)]),
      ),
    (err: unknown) =>
      err instanceof CoreError && /field offset ambiguity: 0 != 32/.test(err.message) &&
      /\[2\] struct t\.b \(0:1 @ offset 4\)/.test(err.message),
  );
});

test("field compatibility: int vs struct does not match; enum matches enum64 of the same name", () => {
  const local = btf([
    int(),
    { kind: Kind.ENUM, name: "e", size: 4, signed: false, values: [{ name: "A", value: 1n }] },
    struct("t", 8, [m("x", 1, 0), m("y", 2, 32)]),
  ]);
  const target = btf([
    int(),
    struct("inner", 4, [m("q", 1, 0)]),
    {
      kind: Kind.ENUM64,
      name: "e",
      size: 8,
      signed: false,
      values: [{ name: "A", value: 1n << 40n }],
    },
    struct("t", 16, [m("x", 2, 0), m("y", 3, 64)]),
  ]);
  const x = relo(
    local,
    target,
    { typeId: 3, accessStr: "0:0", kind: K.FIELD_EXISTS },
    encode([asm.mov64Imm(1, 1)]),
  );
  assert.equal(x.r.new, 0);
  const y = relo(
    local,
    target,
    { typeId: 3, accessStr: "0:1", kind: K.FIELD_BYTE_OFFSET },
    encode([asm.mov64Imm(1, 4)]),
  );
  assert.equal(y.r.new, 8);
  // enum value: the 64-bit target value goes into an ld_imm64.
  const ld = encode(asm.ldImm64(1, 1n));
  const v = relo(local, target, { typeId: 2, accessStr: "0", kind: K.ENUMVAL_VALUE }, ld);
  assert.equal(v.r.new, 2 ** 40);
  assert.equal(v.buf.imm64(0), 1n << 40n);
});

test("enum values: a signed 32-bit enumerator is sign-extended; a missing one is poisoned", () => {
  const mk = (v: bigint) =>
    btf([{
      kind: Kind.ENUM,
      name: "e",
      size: 4,
      signed: true,
      values: [{ name: "NEG", value: v }],
    }]);
  const r = relo(
    mk(-3n),
    mk(-30n),
    { typeId: 1, accessStr: "0", kind: K.ENUMVAL_VALUE },
    encode([asm.mov64Imm(1, -3)]),
  );
  assert.equal(r.r.new, 0xffffffffffffffe2n);
  assert.equal(r.insn.imm, -30);
  const none = btf([{
    kind: Kind.ENUM,
    name: "e",
    size: 4,
    signed: true,
    values: [{ name: "OTHER", value: 1n }],
  }]);
  const p = relo(
    mk(-3n),
    none,
    { typeId: 1, accessStr: "0", kind: K.ENUMVAL_VALUE },
    encode([asm.mov64Imm(1, -3)]),
  );
  assert.equal(p.r.poisoned, true);
  const e = relo(
    mk(-3n),
    none,
    { typeId: 1, accessStr: "0", kind: K.ENUMVAL_EXISTS },
    encode([asm.mov64Imm(1, 1)]),
  );
  assert.equal(e.r.new, 0);
});

test("type_matches: int size and sign, members by name, pointers match forward declarations", () => {
  const local = btf([
    int(), // 1
    { kind: Kind.FWD, name: "o", union: false }, // 2 (unused)
    struct("o", 4, [m("z", 1, 0)]), // 3
    ptr(3), // 4
    struct("t", 16, [m("a", 1, 0), m("p", 4, 64)]), // 5
  ]);
  const good = btf([
    int(),
    { kind: Kind.FWD, name: "o", union: false },
    ptr(2),
    int("long", 8),
    struct("t", 24, [m("extra", 4, 0), m("p", 3, 64), m("a", 1, 128)]),
  ]);
  const yes = relo(
    local,
    good,
    { typeId: 5, accessStr: "0", kind: K.TYPE_MATCHES },
    encode([asm.mov64Imm(1, 1)]),
  );
  assert.equal(yes.r.new, 1);
  const unsigned = btf([
    int("int", 4, false),
    { kind: Kind.FWD, name: "o", union: false },
    ptr(2),
    struct("t", 16, [m("a", 1, 0), m("p", 3, 64)]),
  ]);
  const no = relo(
    local,
    unsigned,
    { typeId: 5, accessStr: "0", kind: K.TYPE_MATCHES },
    encode([asm.mov64Imm(1, 1)]),
  );
  assert.equal(no.r.new, 0);
  const exists = relo(
    local,
    unsigned,
    { typeId: 5, accessStr: "0", kind: K.TYPE_EXISTS },
    encode([asm.mov64Imm(1, 1)]),
  );
  assert.equal(exists.r.new, 1);
  const size = relo(
    local,
    good,
    { typeId: 5, accessStr: "0", kind: K.TYPE_SIZE },
    encode([asm.mov64Imm(1, 16)]),
  );
  assert.equal(size.r.new, 24);
  const id = relo(
    local,
    good,
    { typeId: 5, accessStr: "0", kind: K.TYPE_ID_TARGET },
    encode(asm.ldImm64(1, 5n)),
  );
  assert.equal(id.r.new, 5);
});

test("loads: an unsigned field that grows changes the load size; a signed one is poisoned", () => {
  const local = btf([
    int("unsigned int", 4, false),
    int("int"),
    struct("t", 8, [m("u", 1, 0), m("s", 2, 32)]),
  ]);
  const target = btf([
    int("unsigned long", 8, false),
    int("long", 8),
    struct("t", 16, [m("u", 1, 0), m("s", 2, 64)]),
  ]);
  const ldx = (off: number) => encode([asm.ldxMem(op.BPF_W, 1, 2, off)]);
  const u = relo(local, target, { typeId: 3, accessStr: "0:0", kind: K.FIELD_BYTE_OFFSET }, ldx(0));
  assert.deepEqual(u.r.memSize, { old: 4, new: 8 });
  assert.equal(op.size(u.insn.code), op.BPF_DW);
  const s = relo(local, target, { typeId: 3, accessStr: "0:1", kind: K.FIELD_BYTE_OFFSET }, ldx(4));
  assert.equal(s.r.poisoned, true);
  assert.equal(s.insn.imm, POISON_HELPER_ID);
});

test("bad input: type id out of range, unknown kind, wrong instruction, wrong original value", () => {
  const target = btf([int()]);
  const isCore = (re: RegExp) => (err: unknown) => err instanceof CoreError && re.test(err.message);
  assert.throws(
    () => relo(LOCAL, target, { typeId: 99, accessStr: "0", kind: K.TYPE_EXISTS }),
    isCore(/type id 99 out of range/),
  );
  assert.throws(
    () => relo(LOCAL, target, { typeId: 5, accessStr: "0", kind: 13 }),
    isCore(/kind 13/),
  );
  assert.throws(
    () => relo(LOCAL, target, { typeId: 5, accessStr: "0:x", kind: K.FIELD_BYTE_OFFSET }),
    isCore(/malformed access string/),
  );
  assert.throws(
    () => relo(LOCAL, target, { typeId: 5, accessStr: "0:9", kind: K.FIELD_BYTE_OFFSET }),
    isCore(/member index 9 out of range/),
  );
  assert.throws(
    () =>
      relo(
        LOCAL,
        LOCAL,
        { typeId: 5, accessStr: "0:0", kind: K.FIELD_BYTE_OFFSET },
        encode([asm.exit()]),
      ),
    isCore(/unrecognized insn #0/),
  );
  assert.throws(
    () =>
      relo(
        LOCAL,
        LOCAL,
        { typeId: 5, accessStr: "0:2", kind: K.FIELD_BYTE_OFFSET },
        encode([asm.mov64Imm(1, 7)]),
      ),
    isCore(/unexpected insn #0 \(ALU\/ALU64\) value: got 7, exp 12 -> 12/),
  );
  assert.throws(
    () =>
      relo(
        LOCAL,
        LOCAL,
        { typeId: 5, accessStr: "0:2", kind: K.FIELD_BYTE_OFFSET },
        encode([asm.mov64Reg(1, 2)]),
      ),
    isCore(/register operand/),
  );
});

test("a verifier rejection at a poisoned instruction is explained by its relocation", () => {
  const target = btf([int(), struct("s", 4, [m("a", 1, 0)])]);
  const insns = encode([asm.mov64Imm(0, 0), asm.ldxMem(op.BPF_W, 1, 2, 12), asm.exit()]);
  const buf = new InsnBuffer(insns);
  const spec = { name: "test.o", btf: LOCAL };
  const r = relocateRecord(
    spec,
    { name: "prog", section: "raw_tp/x", offset: 0 },
    buf,
    { insnOff: 8, typeId: 5, accessStr: "0:2", kind: K.FIELD_BYTE_OFFSET },
    3,
    target,
    cacheFor(spec, target),
  );
  assert.equal(r.poisoned, true);
  const log = "0: (b7) r0 = 0\n1: (85) call unknown#195896080\ninvalid func unknown#195896080\n";
  const text = explainVerifierLog([r], log, "prog");
  assert.ok(text);
  assert.match(
    text,
    /instruction 1: program 'prog' relo #3 \(insn #1\): <byte_off> \[5\] struct s\.arr \(0:2 @ offset 12\)/,
  );
  assert.equal(explainVerifierLog([r], "R1 invalid mem access 'scalar'\n"), null);
  // A subprogram's relocation, appended at instruction 40 of the loaded program.
  const sub = { ...r, program: "helper", insn: 2 };
  const other = { ...r, program: "prog", insn: 7 };
  const subLog = "42: (85) call unknown#195896080\ninvalid func unknown#195896080\n";
  const picked = explainVerifierLog([other, sub], subLog, "prog", new Map([["helper", 40]]));
  assert.match(picked!, /at instruction 42: program 'helper' relo #3 \(insn #2\)/);
  assert.match(explainVerifierLog([other, sub], subLog, "prog")!, /one of: .*'prog'.*'helper'/);
});
