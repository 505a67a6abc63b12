// relocateSection (the loader's per-section entry point) decides and patches exactly what
// relocateObject (per function, libbpf's frame of reference) does.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadObjectSpec } from "../src/object/load.ts";
import { relocateObject } from "../src/core/relocate.ts";
import { relocateSection } from "../src/core/section.ts";
import { readBtfFile } from "../src/btf/source.ts";
import { SHF_EXECINSTR } from "../src/elf/constants.ts";

const FIX = new URL("./fixtures/core/", import.meta.url).pathname;

for (
  const [object, target] of [["core_fields.bpf.o", "target_a.btf"], [
    "core_kernel.bpf.o",
    "target_c.btf",
  ]]
) {
  test(`relocateSection matches relocateObject: ${object} vs ${target}`, () => {
    const bytes = new Uint8Array(readFileSync(FIX + object));
    const btf = readBtfFile(FIX + target);
    const perFunction = loadObjectSpec(bytes, object);
    const expected = relocateObject(perFunction, btf);
    const perSection = loadObjectSpec(bytes, object);
    const got = [];
    for (const sec of perSection.elf.sections) {
      if ((sec.flags & SHF_EXECINSTR) === 0n || sec.size === 0) continue;
      const insns = sec.data.slice();
      got.push(...relocateSection(perSection, { name: sec.name, index: sec.index, insns }, btf));
      for (const fn of perFunction.programs.concat(perFunction.subprograms)) {
        if (fn.section !== sec.name) continue;
        assert.deepEqual(insns.subarray(fn.offset, fn.offset + fn.insns.length), fn.insns, fn.name);
      }
    }
    const key = (
      r: { program: string; relo: number; insn: number; new: unknown; poisoned: boolean },
    ) => `${r.program}#${r.relo}@${r.insn}=${r.poisoned ? "poison" : r.new}`;
    assert.deepEqual(got.map(key).sort(), expected.map(key).sort());
    assert.ok(expected.length > 10);
  });
}
