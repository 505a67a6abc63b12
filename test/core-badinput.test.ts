// Bad input to the CO-RE engine: records pointing outside their program, malformed access
// strings, type ids out of range, unknown kinds, instructions that do not fit the kind, and
// randomly mutated records and objects. Each gets a typed error naming the object, program
// and relocation (CoreError), or, for a malformed object file, a FormatError; never another
// exception, never a silent wrong patch.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseElf } from "../src/elf/reader.ts";
import { compareWithLibbpf } from "./harness/core-compare.ts";
import { kernelTest } from "./env.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { relocateCore, relocateObject } from "../src/core/relocate.ts";
import { relocateSection } from "../src/core/section.ts";
import { CoreError } from "../src/core/errors.ts";
import { readBtfFile } from "../src/btf/source.ts";
import { FormatError } from "../src/errors.ts";
import type { CoreReloRecord } from "../src/btf/ext.ts";
import { rng } from "./fuzz/rng.ts";

const FIX = new URL("./fixtures/core/", import.meta.url).pathname;
const BYTES = new Uint8Array(readFileSync(FIX + "core_fields.bpf.o"));
const TARGET = readBtfFile(FIX + "target_a.btf");

const fresh = () => loadObjectSpec(BYTES, "core_fields.bpf.o");

/** Replaces record `i` of `section` with `patch` applied. */
function mutate(section: string, i: number, patch: Partial<CoreReloRecord>) {
  const spec = fresh();
  const list = spec.ext!.coreRelos.get(section)!;
  list[i] = { ...list[i], ...patch };
  return spec;
}

const coreError = (re: RegExp) => (e: unknown) =>
  e instanceof CoreError && re.test(e.message) && /object core_fields\.bpf\.o/.test(e.message);

test("a record pointing outside every program is a CoreError", () => {
  assert.throws(
    () => relocateObject(mutate("raw_tp/sys_enter", 3, { insnOff: 1 << 20 }), TARGET),
    coreError(/relo #3: record in section raw_tp\/sys_enter at byte 1048576 points outside/),
  );
  assert.throws(
    () => relocateObject(mutate("raw_tp/sys_enter", 3, { insnOff: 13 }), TARGET),
    coreError(/not a multiple of 8/),
  );
  const one = mutate("raw_tp/sys_enter", 2, { insnOff: 1 << 20 });
  assert.throws(
    () => relocateCore(one, one.programs.find((p) => p.name === "bitfields")!, TARGET),
    coreError(
      /program 'bitfields' relo #2: record in section raw_tp\/sys_enter at byte 1048576 points outside the section/,
    ),
  );
  const spec = mutate("raw_tp/sys_enter", 0, { insnOff: 1 << 20 });
  const sec = spec.elf.sectionByName("raw_tp/sys_enter")!;
  assert.throws(
    () =>
      relocateSection(spec, { name: sec.name, index: sec.index, insns: sec.data.slice() }, TARGET),
    coreError(/points outside the section/),
  );
});

test("malformed access strings, bad type ids and kinds are CoreErrors naming the relocation", () => {
  const cases: [Partial<CoreReloRecord>, RegExp][] = [
    [
      { accessStr: "0::1" },
      /program 'field_offsets' relo #0 insn #0: .*malformed access string '0::1'/,
    ],
    [{ accessStr: "" }, /malformed access string ''/],
    [{ accessStr: "0:99" }, /member index 99 out of range/],
    [{ typeId: 1 << 30 }, /local type id 1073741824 out of range/],
    [{ typeId: 0 }, /local type id 0 out of range/],
    [{ kind: 77 }, /unrecognized CO-RE relocation kind 77/],
    [{ kind: 8, accessStr: "0:1" }, /type-based relocation needs access string "0"/],
  ];
  for (const [patch, re] of cases) {
    assert.throws(
      () => relocateObject(mutate("raw_tp/sys_enter", 0, patch), TARGET),
      coreError(re),
    );
  }
});

test("an instruction that does not fit its relocation is refused, not patched", () => {
  // Record 0 of field_offsets sits on `r1 = 0` (ALU); move it to the call after it.
  const spec = fresh();
  const prog = spec.programs.find((p) => p.name === "field_offsets")!;
  const before = prog.insns.slice();
  const list = spec.ext!.coreRelos.get("raw_tp/sys_enter")!;
  list.splice(1);
  const rec = list[0];
  list[0] = { ...rec, insnOff: rec.insnOff + 8 * 7 }; // insn 7: call bpf_probe_read_kernel
  assert.throws(
    () => relocateCore(spec, prog, TARGET),
    coreError(/unrecognized insn #7, code:0x85/),
  );
  list[0] = { ...rec, insnOff: rec.insnOff + 8 * 4 }; // insn 4: r1 = r10
  assert.throws(
    () => relocateCore(spec, prog, TARGET),
    coreError(/insn #4 \(ALU\/ALU64\) has a register operand/),
  );
  list[0] = { ...rec, insnOff: rec.insnOff + 8 * 6 }; // insn 6: r2 = 4, not the expected 0
  assert.throws(
    () => relocateCore(spec, prog, TARGET),
    coreError(/unexpected insn #6 \(ALU\/ALU64\) value: got 4, exp 0 -> 32/),
  );
  assert.deepEqual(prog.insns, before);
});

test("randomly mutated records give a result or a CoreError, nothing else", () => {
  const rand = rng(12345);
  const accessPool = [
    "0",
    "0:0",
    "1:2:3",
    "0:2:9",
    "0:13:100000",
    "5",
    "0:1:1:1",
    "0:4294967295",
    "x",
  ];
  let errors = 0;
  let ok = 0;
  for (let round = 0; round < 300; round++) {
    const spec = fresh();
    const list = spec.ext!.coreRelos.get("raw_tp/sys_enter")!;
    const i = rand(list.length);
    const r = { ...list[i] };
    switch (rand(4)) {
      case 0:
        r.kind = rand(14);
        break;
      case 1:
        r.accessStr = accessPool[rand(accessPool.length)];
        break;
      case 2:
        r.typeId = rand(60);
        break;
      default:
        r.insnOff = rand(300) * 8;
    }
    list[i] = r;
    try {
      relocateObject(spec, TARGET);
      ok++;
    } catch (e) {
      assert.ok(e instanceof CoreError, `round ${round}: ${e}`);
      errors++;
    }
  }
  assert.ok(errors > 50 && ok > 10, `errors ${errors}, ok ${ok}`);
});

test("randomly corrupted object files give a FormatError or CoreError, nothing else", () => {
  const rand = rng(777);
  let rejected = 0;
  for (let round = 0; round < 200; round++) {
    const bytes = BYTES.slice();
    for (let k = 0; k < 1 + rand(8); k++) bytes[rand(bytes.length)] = rand(256);
    try {
      const spec = loadObjectSpec(bytes, "core_fields.bpf.o");
      relocateObject(spec, TARGET);
    } catch (e) {
      assert.ok(
        e instanceof FormatError || e instanceof CoreError,
        `round ${round}: ${(e as Error)?.stack ?? e}`,
      );
      // The error says where: an offset, a section, a type id or a relocation.
      assert.match((e as Error).message, /offset|section|\[\d+\]|type|relo|insn|symbol|string/i);
      rejected++;
    }
  }
  // With this seed 30 of the 200 land in bytes the loader or CO-RE checks (the rest in bytes
  // no step reads, such as string padding or instruction immediates); far fewer means a check
  // went missing.
  assert.ok(rejected >= 25, `only ${rejected} of 200 corrupted objects were rejected`);
});

/** File offsets of every CO-RE relocation record of an object's .BTF.ext (16 bytes each). */
function coreRecordOffsets(bytes: Uint8Array): number[] {
  const elf = parseElf(bytes, "core_fields.bpf.o");
  const ext = elf.sectionByName(".BTF.ext")!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const base = ext.offset;
  const hdrLen = dv.getUint32(base + 4, true);
  const start = base + hdrLen + dv.getUint32(base + 24, true);
  const end = start + dv.getUint32(base + 28, true);
  const recSize = dv.getUint32(start, true);
  const out: number[] = [];
  for (let p = start + 4; p < end;) {
    const n = dv.getUint32(p + 4, true);
    p += 8;
    for (let i = 0; i < n; i++, p += recSize) out.push(p);
  }
  return out;
}

test(
  "records mutated in the object file are decided as libbpf decides them (or refused where it refuses)",
  kernelTest(),
  () => {
    const rand = rng(4242);
    const offsets = coreRecordOffsets(BYTES);
    assert.ok(offsets.length > 20, `${offsets.length} records`);
    const dv = new DataView(BYTES.buffer, BYTES.byteOffset);
    const accessStrs = offsets.map((o) => dv.getUint32(o + 8, true));
    const dir = mkdtempSync(join(tmpdir(), "core-mutated-"));
    let relocated = 0, refused = 0, decisions = 0;
    try {
      for (let round = 0; round < 120; round++) {
        const bytes = BYTES.slice();
        const w = new DataView(bytes.buffer);
        const at = offsets[rand(offsets.length)];
        switch (rand(4)) {
          case 0: // another relocation kind
            w.setUint32(at + 12, rand(14), true);
            break;
          case 1: // another record's access string
            w.setUint32(at + 8, accessStrs[rand(accessStrs.length)], true);
            break;
          case 2: // another local type
            w.setUint32(at + 4, rand(60), true);
            break;
          default: // another instruction of the section
            w.setUint32(at, rand(200) * 8, true);
        }
        const file = join(dir, `m${round}.bpf.o`);
        writeFileSync(file, bytes);
        const r = compareWithLibbpf(file, FIX + "target_a.btf");
        decisions += r.compared;
        if (r.failed) refused++;
        else relocated++;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Both outcomes must have been compared many times, and thousands of decisions.
    assert.ok(relocated >= 20 && refused >= 10, `${relocated} relocated, ${refused} refused`);
    assert.ok(decisions > 1000, `${decisions} decisions compared`);
  },
);
