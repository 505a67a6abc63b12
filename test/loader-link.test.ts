// The loader's pure steps on a real object (no kernel needed): subprogram linking with
// func/line info, map relocations, and the DATASEC fixup of the object's BTF.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadObjectSpec } from "../src/object/load.ts";
import { linkProgram } from "../src/loader/link-subprograms.ts";
import { relocateMaps } from "../src/loader/relocate-maps.ts";
import { fixDatasecs } from "../src/loader/btf-fixup.ts";
import { NO_NEW_KINDS, sanitizeBtf } from "../src/loader/btf-sanitize.ts";
import { retryInterrupted } from "../src/loader/collection.ts";
import { SysError } from "../src/errors.ts";
import { Btf } from "../src/btf/reader.ts";
import { Kind } from "../src/btf/types.ts";
import { InsnBuffer } from "../src/asm/insn.ts";
import * as op from "../src/asm/opcodes.ts";

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./fixtures/loader/${name}`, import.meta.url)));

function spec() {
  return loadObjectSpec(fixture("getpid.bpf.o"), "getpid.bpf.o");
}

test("linker appends each called subprogram once and points every call at its start", () => {
  const s = spec();
  const pool = s.programs.concat(s.subprograms);
  const entry = s.programs.find((p) => p.name === "on_getpid")!;
  const linked = linkProgram(entry, pool);
  // on_getpid calls count_drop and fill (in that order in its code).
  assert.deepEqual(linked.layout.map((l) => l.name), ["on_getpid", "count_drop", "fill"]);
  const sizes = Object.fromEntries(pool.map((f) => [f.name, f.insns.length / 8]));
  assert.deepEqual(linked.layout.map((l) => l.start), [
    0,
    sizes.on_getpid,
    sizes.on_getpid + sizes.count_drop,
  ]);
  assert.equal(linked.insns.length / 8, sizes.on_getpid + sizes.count_drop + sizes.fill);
  const buf = new InsnBuffer(linked.insns);
  const starts = new Set(linked.layout.map((l) => l.start));
  let calls = 0;
  for (let i = 0; i < buf.count; i++) {
    if (buf.code(i) === (op.BPF_JMP | op.BPF_CALL) && buf.src(i) === op.BPF_PSEUDO_CALL) {
      assert.ok(starts.has(i + buf.imm(i) + 1), `call at ${i} lands on a function start`);
      calls++;
    }
    if (buf.isLdImm64(i)) i++;
  }
  assert.equal(calls, 2);
  // func_info: one record per function, at its start, naming its BTF FUNC.
  assert.deepEqual(linked.funcInfo.map((f) => f.insnOff), linked.layout.map((l) => l.start));
  assert.deepEqual(
    linked.funcInfo.map((f) => [s.btf.kind(f.typeId), s.btf.name(f.typeId)]),
    linked.layout.map((l) => [Kind.FUNC, l.name]),
  );
  // line_info: sorted, and every function's first instruction has a line.
  const offs = linked.lineInfo.map((l) => l.insnOff);
  assert.deepEqual(offs, [...offs].sort((a, b) => a - b));
  for (const l of linked.layout) assert.ok(offs.includes(l.start), `line info at ${l.name}`);
});

test("linker fails clearly on a call to an instruction that starts no function", () => {
  const s = spec();
  const pool = s.programs.concat(s.subprograms).map((f) => ({ ...f, insns: f.insns.slice() }));
  const entry = pool.find((p) => p.name === "on_getpid")!;
  // Drop the subprograms from the pool: the calls now lead nowhere.
  assert.throws(
    () => linkProgram(entry, [entry]),
    /program on_getpid, function on_getpid, instruction \d+: target is instruction \d+ of section \d+, which starts no function/,
  );
});

test("map relocations turn ld_imm64 into map fds and map values with offsets", () => {
  const s = spec();
  const fill = { ...s.subprograms.find((f) => f.name === "fill")! };
  fill.insns = fill.insns.slice();
  const n = relocateMaps(fill, {
    mapFd: () => 99,
    dataFd: (section) => ({ ".rodata": 11, ".bss": 12, ".data": 13 })[section],
  });
  assert.equal(n, 3); // counter (.bss), magic (.rodata), cookie (.data)
  const buf = new InsnBuffer(fill.insns);
  const seen: [number, number, number][] = [];
  for (const r of fill.relocations) {
    assert.equal(buf.src(r.insn), op.BPF_PSEUDO_MAP_VALUE);
    seen.push([buf.imm(r.insn), buf.imm(r.insn + 1), r.insn]);
  }
  // fds by section, offsets = the variables' places in their sections (all at 0 here).
  assert.deepEqual(seen.map(([fd, off]) => [fd, off]).sort(), [[11, 0], [12, 0], [13, 0]]);

  const entry = { ...s.programs.find((f) => f.name === "on_getpid")! };
  entry.insns = entry.insns.slice();
  relocateMaps(entry, {
    mapFd: (_section, symbol) => ({ calls: 21, events: 22, drops: 23 })[symbol],
    dataFd: (section) => (section === ".rodata" ? 11 : undefined),
  });
  const eb = new InsnBuffer(entry.insns);
  const tgid = entry.relocations.find((r) => r.symbol === "target_tid")!;
  assert.deepEqual([eb.src(tgid.insn), eb.imm(tgid.insn), eb.imm(tgid.insn + 1)], [
    op.BPF_PSEUDO_MAP_VALUE,
    11,
    4, // target_tid follows the 4-byte magic in .rodata
  ]);
  const events = entry.relocations.find((r) => r.symbol === "events")!;
  assert.deepEqual([eb.src(events.insn), eb.imm(events.insn)], [op.BPF_PSEUDO_MAP_FD, 22]);
});

test("BTF fixup gives each DATASEC its section size and its variables their symbol offsets", () => {
  const s = spec();
  const fixed = Btf.parse(fixDatasecs(s.btf, s.elf), { what: "fixed" });
  const sec = (name: string) => {
    const id = fixed.byName(name, Kind.DATASEC)[0];
    const t = fixed.type(id);
    assert.ok(t.kind === Kind.DATASEC);
    return {
      size: t.size,
      vars: t.vars.map((v) => [fixed.name(v.type), v.offset, v.size]),
    };
  };
  assert.deepEqual(sec(".rodata"), { size: 8, vars: [["magic", 0, 4], ["target_tid", 4, 4]] });
  assert.deepEqual(sec(".bss"), { size: 8, vars: [["counter", 0, 8]] });
  const maps = sec(".maps");
  assert.equal(maps.size, s.elf.sectionByName(".maps")!.size);
  const symValue = (n: string) => s.elf.symbols.find((x) => x.name === n)!.value;
  assert.deepEqual(
    maps.vars.map(([n, off]) => [n, off]),
    ["calls", "events", "drops"].map((n) => [n, symValue(n)]).sort((a, b) =>
      (a[1] as number) - (b[1] as number)
    ),
  );
  // The original is untouched (clang's zeros).
  const orig = s.btf.type(s.btf.byName(".rodata", Kind.DATASEC)[0]);
  assert.ok(orig.kind === Kind.DATASEC && orig.size === 0);
});

test("program loads interrupted by a signal (EAGAIN) are retried, other errors are not", () => {
  let calls = 0;
  const flaky = () => {
    if (++calls < 3) throw new SysError("BPF_PROG_LOAD of program x", 11);
    return "loaded";
  };
  assert.equal(retryInterrupted(flaky), "loaded");
  assert.equal(calls, 3);
  let busy = 0;
  assert.throws(
    () =>
      retryInterrupted(() => {
        busy++;
        throw new SysError("BPF_PROG_LOAD of program x", 11);
      }),
    (e: unknown) => e instanceof SysError && e.errnoName === "EAGAIN",
  );
  assert.equal(busy, 5);
  let denied = 0;
  assert.throws(() =>
    retryInterrupted(() => {
      denied++;
      throw new SysError("BPF_PROG_LOAD of program x", 13);
    }), /EACCES/);
  assert.equal(denied, 1);
});

test("BTF sanitizer rewrites FLOAT, DECL_TAG, TYPE_TAG, ENUM64 and global FUNC linkage", () => {
  const s = loadObjectSpec(fixture("kinds.bpf.o"), "kinds.bpf.o");
  const { bytes, changed } = sanitizeBtf(s.btf, fixDatasecs(s.btf, s.elf), NO_NEW_KINDS);
  assert.deepEqual(changed, { FUNC: 6, DECL_TAG: 1, TYPE_TAG: 1, FLOAT: 1, ENUM64: 1 });
  const out = Btf.parse(bytes, { what: "sanitized" });
  assert.equal(out.count, s.btf.count + 1); // same ids, plus ENUM64's placeholder INT at the end
  const kinds = new Set<number>();
  for (let id = 1; id < out.count; id++) kinds.add(out.kind(id));
  for (const k of [Kind.FLOAT, Kind.DECL_TAG, Kind.TYPE_TAG, Kind.ENUM64]) {
    assert.ok(!kinds.has(k), Kind[k]);
  }
  // enum big_values: a union of its enumerators' names, each a 4-byte int, same size.
  const big = out.type(out.byName("big_values", Kind.UNION)[0]);
  assert.ok(big.kind === Kind.UNION && big.size === 8);
  assert.deepEqual(big.members.map((m) => [m.name, m.type, m.bitOffset]), [
    ["BIG_ONE", s.btf.count, 0],
    ["BIG_HUGE", s.btf.count, 0],
  ]);
  const placeholder = out.type(s.btf.count);
  assert.ok(placeholder.kind === Kind.INT && placeholder.size === 4);
  const toPerf = out.byName("to_perf", Kind.FUNC);
  assert.equal(toPerf.length, 1);
  for (const id of toPerf) {
    const f = out.type(id);
    assert.ok(f.kind === Kind.FUNC && f.linkage === 0);
  }
  // struct tagged keeps its layout: ratio is now an empty 4-byte struct, ptr -> const int.
  const tagged = out.type(out.byName("tagged", Kind.STRUCT)[0]);
  assert.ok(tagged.kind === Kind.STRUCT);
  assert.equal(out.sizeOf(tagged.id), 16);
  const ratio = out.type(tagged.members[1].type);
  assert.ok(ratio.kind === Kind.STRUCT && ratio.size === 4 && ratio.members.length === 0);
  const ptr = out.type(tagged.members[0].type);
  assert.ok(ptr.kind === Kind.PTR);
  assert.equal(out.kind(ptr.type), Kind.CONST);
});
