// The embedded objects' snapshots (src/generated/objects.ts SNAPSHOTS, written at build time by
// scripts/build-bpf.ts) against parsing: the spec a start makes from each snapshot is the spec
// loadObjectSpec parses from the object's bytes, field by field (programs with their
// instructions, relocations, func_info and line_info; subprograms; maps with their initial
// data; externs; BTF, BTF.ext and the ELF), and its fixed-up BTF is the loader's fixDatasecs.
// A snapshot left stale by a change to the parser fails here (regenerate it with
// `deno run -A scripts/build-bpf.ts`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SNAPSHOTS } from "../src/generated/objects.ts";
import { embeddedObject, embeddedObjectNames, embeddedSpec } from "../src/tracers/embedded.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { objectSnapshot, specFromSnapshot } from "../src/object/snapshot.ts";
import { fixDatasecs } from "../src/loader/btf-fixup.ts";
import type { ObjectSpec, ProgramSpec } from "../src/object/types.ts";

/** Every field of a spec as plain data (bytes as arrays, maps as entries, no undefined keys). */
function plain(spec: ObjectSpec): unknown {
  const fn = (f: ProgramSpec) => ({ ...f, funcInfo: f.funcInfo, lineInfo: f.lineInfo });
  const ext = spec.ext && {
    ...spec.ext,
    funcInfo: [...spec.ext.funcInfo],
    lineInfo: [...spec.ext.lineInfo],
    coreRelos: [...spec.ext.coreRelos],
  };
  const elf = {
    machine: spec.elf.machine,
    type: spec.elf.type,
    sections: spec.elf.sections,
    symbols: spec.elf.symbols,
  };
  const value = {
    name: spec.name,
    license: spec.license,
    kernelVersion: spec.kernelVersion,
    btf: spec.btf.bytes,
    ext,
    elf,
    programs: spec.programs.map(fn),
    subprograms: spec.subprograms.map(fn),
    maps: spec.maps,
    externs: spec.externs,
  };
  return JSON.parse(
    JSON.stringify(
      value,
      (_, v) => v instanceof Uint8Array ? [...v] : typeof v === "bigint" ? `${v}n` : v,
    ),
  );
}

test("object snapshots: each embedded object's snapshot makes the spec parsing makes", () => {
  const names = embeddedObjectNames();
  assert.deepEqual(Object.keys(SNAPSHOTS).sort(), names);
  for (const name of names) {
    const parsed = loadObjectSpec(embeddedObject(name), name);
    const snap = specFromSnapshot(SNAPSHOTS[name](), () => embeddedObject(name));
    // Without the ELF first: the spec made from the snapshot parses it only when asked.
    const { elf: _a, ...parsedRest } = plain(parsed) as Record<string, unknown>;
    const { elf: _b, ...snapRest } = plain({ ...snap, elf: parsed.elf }) as Record<
      string,
      unknown
    >;
    assert.deepEqual(snapRest, parsedRest, name);
    assert.deepEqual(plain(snap), plain(parsed), `${name}: with its ELF`);
    assert.deepEqual(snap.datasecBtf, fixDatasecs(parsed.btf, parsed.elf), name);
    // The generated module holds exactly what this build's code makes of the object.
    assert.equal(SNAPSHOTS[name](), objectSnapshot(parsed, fixDatasecs(parsed.btf, parsed.elf)));
    // And the tracers use it.
    assert.ok(embeddedSpec(name).datasecBtf, `${name}: embeddedSpec is not from the snapshot`);
  }
});

test("object snapshots: a snapshot of another format is refused, naming the object", () => {
  const text = SNAPSHOTS.exec().replace(/^\{"format":1,/, '{"format":99,');
  assert.throws(
    () => specFromSnapshot(text, () => embeddedObject("exec")),
    /snapshot of BPF object exec.*format 99, not 1/,
  );
});
