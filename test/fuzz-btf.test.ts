// Bad input: mutated and truncated ELF objects and BTF blobs (the compiled fixture object
// and the running kernel's BTF) must give a FormatError or a result, never another
// exception, a hang or a crash. Seeded, bounded: a failure prints the seed and iteration.
// The generator and mutator are the fuzzers' (test/fuzz/, scripts/fuzz.ts).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseElf } from "../src/elf/reader.ts";
import { Btf } from "../src/btf/reader.ts";
import { parseBtfExt } from "../src/btf/ext.ts";
import { dumpC } from "../src/btf/c-dump.ts";
import { writeBtf } from "../src/btf/writer.ts";
import { Kind } from "../src/btf/types.ts";
import { FormatError } from "../src/errors.ts";
import { rng } from "./fuzz/rng.ts";
import { mutateBytes as mutate } from "./fuzz/mutate.ts";
import { exerciseBtf as exercise } from "./fuzz/parsers.ts";
import { kernelTest } from "./env.ts";

const PROBE = new Uint8Array(readFileSync(new URL("./fixtures/btf/probe.bpf.o", import.meta.url)));

function expectOnlyFormatErrors(label: string, f: () => void) {
  try {
    f();
  } catch (e) {
    if (e instanceof FormatError) return 1;
    throw new Error(`${label}: ${e instanceof Error ? `${e.name}: ${e.message}` : e}`, {
      cause: e,
    });
  }
  return 0;
}

test("fuzz: mutated BPF objects give FormatErrors (ELF, BTF, .BTF.ext, C dump)", () => {
  const seed = 0x5eed1;
  const rand = rng(seed);
  let errors = 0;
  const iterations = 4000;
  for (let i = 0; i < iterations; i++) {
    const bytes = mutate(PROBE, rand);
    errors += expectOnlyFormatErrors(`seed ${seed} iteration ${i}`, () => {
      const elf = parseElf(bytes, "fuzz.o");
      for (const s of elf.sections) elf.relocationsFor(s.index);
      const sec = elf.sectionByName(".BTF");
      if (!sec) return;
      const btf = Btf.parse(sec.data, { what: "fuzz .BTF" });
      exercise(btf, rand, 1000, 1000);
      const ext = elf.sectionByName(".BTF.ext");
      if (ext) parseBtfExt(ext.data, btf);
      // A BTF that parses must survive being written and read back: same bytes written
      // again, same C printed.
      const written = writeBtf(btf);
      const again = Btf.parse(written);
      assert.deepEqual(writeBtf(again), written, `seed ${seed} iteration ${i}: round trip`);
      assert.equal(dumpC(again), dumpC(btf), `seed ${seed} iteration ${i}: C dump`);
    });
  }
  // Most mutations hit DWARF bytes nobody reads; some must have been caught.
  assert.ok(errors > 200, `${errors} FormatErrors in ${iterations} mutations`);
});

test("fuzz: mutated and truncated BTF blobs give FormatErrors, at every length too", () => {
  const elf = parseElf(PROBE, "probe.bpf.o");
  const blob = elf.sectionByName(".BTF")!.data;
  for (let len = 0; len < blob.length; len++) {
    const r = expectOnlyFormatErrors(
      `length ${len}`,
      () => exercise(Btf.parse(blob.subarray(0, len)), rng(1), 1000, 1000),
    );
    // A cut BTF blob is always short of its string section.
    assert.equal(r, 1, `length ${len} was accepted`);
  }
  const seed = 0xb7f;
  const rand = rng(seed);
  let errors = 0;
  for (let i = 0; i < 8000; i++) {
    const bytes = mutate(blob, rand);
    errors += expectOnlyFormatErrors(`seed ${seed} iteration ${i}`, () => {
      const btf = Btf.parse(bytes);
      exercise(btf, rand, 1000, 1000);
      dumpC(btf);
      parseBtfExt(elf.sectionByName(".BTF.ext")!.data, btf);
    });
  }
  assert.ok(errors > 2000, `${errors} FormatErrors in 8000 mutations`);
});

test("fuzz: mutated kernel BTF gives FormatErrors", kernelTest(), () => {
  const kernel = new Uint8Array(readFileSync("/sys/kernel/btf/vmlinux"));
  const seed = 0xcafe;
  const rand = rng(seed);
  let errors = 0;
  const iterations = 100;
  for (let i = 0; i < iterations; i++) {
    // Mutate the header and type section more often than the strings.
    const bytes = mutate(kernel, rand, rand(2) ? 0 : 24);
    errors += expectOnlyFormatErrors(`seed ${seed} iteration ${i}`, () => {
      const btf = Btf.parse(bytes);
      exercise(btf, rand, 3000, 10);
      btf.byName("task_struct", Kind.STRUCT);
    });
  }
  assert.ok(errors > 10, `${errors} FormatErrors in ${iterations} mutations`);
});
