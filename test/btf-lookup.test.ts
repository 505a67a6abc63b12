// Btf.lookUp (every name a load asks the kernel's BTF for, found in one pass ahead of the
// asking) against the truth: for every type name of every embedded object (each as an exact
// name and as a CO-RE essential name, in its own kind, enums in both enum kinds) and every
// attach target, the ids byName/candidates give after lookUp, and without it, equal the ids
// found by decoding the name of every type of the target. Targets: the running kernel's BTF,
// every kernel BTF under .cache/kernels, and those kernels' module BTFs (split over vmlinux;
// modules without BTF skipped).
// Plus flavored, one-byte and split-BTF names on a small built BTF.
// Cost: 3.5–5 s on Bun, 5–8 s on Deno (six kernel BTFs and five module BTFs, each decoded whole).

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseElf } from "../src/elf/reader.ts";
import { Btf, type NameQuery } from "../src/btf/reader.ts";
import { readBtfFile } from "../src/btf/source.ts";
import { BtfBuilder } from "../src/btf/writer.ts";
import { essentialName, Kind } from "../src/btf/types.ts";
import { coreLookups } from "../src/core/relocate.ts";
import { embeddedObjectNames, embeddedSpec } from "../src/tracers/embedded.ts";
import { kernelTest } from "./env.ts";
import { intStructs } from "./btf-structs.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const KERNELS = join(ROOT, ".cache/kernels");

/** The queries of the embedded objects: every named type, and every attach target. */
function objectQueries(): NameQuery[] {
  const out: NameQuery[] = [];
  for (const name of embeddedObjectNames()) {
    const spec = embeddedSpec(name);
    const btf = spec.btf;
    for (let id = 1; id < btf.count; id++) {
      const n = btf.name(id);
      if (n === "") continue;
      const k = btf.kind(id);
      const kinds = k === Kind.ENUM || k === Kind.ENUM64 ? [Kind.ENUM, Kind.ENUM64] : [k];
      for (const kind of kinds) {
        out.push({ name: n, kind, flavored: false });
        out.push({ name: essentialName(n), kind, flavored: true });
      }
    }
    for (const p of spec.programs) {
      const a = p.attach;
      if (a.kind === "tp_btf") {
        out.push({ name: `btf_trace_${a.target}`, kind: Kind.TYPEDEF, flavored: false });
      }
      if (a.kind === "fentry" || a.kind === "fexit") {
        out.push({ name: a.target, kind: Kind.FUNC, flavored: false });
      }
    }
    // What the loader asks is among them.
    const keys = new Set(out.map((q) => `${q.flavored}:${q.kind}:${q.name}`));
    for (const q of coreLookups(spec)) assert.ok(keys.has(`${q.flavored}:${q.kind}:${q.name}`));
  }
  return out;
}

/** The truth: ids by exact name and by essential name, per kind, from every type decoded. */
function truth(btf: Btf): (q: NameQuery) => number[] {
  const exact = new Map<string, number[]>();
  const essential = new Map<string, number[]>();
  const add = (m: Map<string, number[]>, key: string, id: number) => {
    const list = m.get(key);
    if (list) list.push(id);
    else m.set(key, [id]);
  };
  for (let id = 1; id < btf.count; id++) {
    const n = btf.name(id);
    if (n === "") continue;
    add(exact, `${btf.kind(id)}:${n}`, id);
    add(essential, `${btf.kind(id)}:${essentialName(n)}`, id);
  }
  return (q) => (q.flavored ? essential : exact).get(`${q.kind}:${q.name}`) ?? [];
}

const ask = (btf: Btf, q: NameQuery) =>
  q.flavored ? btf.candidates(q.name, q.kind) : btf.byName(q.name, q.kind);

/**
 * lookUp's answers (in one look-up, and in two), the index pass's (Btf.parse with the queries),
 * and the answers of a BTF asked name by name, equal the truth.
 */
function check(
  what: string,
  parse: (lookUp?: NameQuery[]) => Btf,
  queries: NameQuery[],
): number {
  const ahead = parse();
  ahead.lookUp(queries);
  const during = parse(queries);
  // Half the queries first, then the rest: the second look-up walks the lists the first made.
  const twice = parse();
  twice.lookUp(queries.filter((_, i) => i % 2 === 0));
  twice.lookUp(queries.filter((_, i) => i % 2 === 1));
  const byOne = parse();
  const want = truth(byOne);
  let found = 0;
  for (const q of queries) {
    const w = want(q);
    const label = `${what}: ${q.flavored ? "candidates" : "byName"}(${q.name}, ${Kind[q.kind]})`;
    assert.deepEqual(ask(ahead, q), w, `${label} after lookUp`);
    assert.deepEqual(ask(during, q), w, `${label} from the index pass`);
    assert.deepEqual(ask(twice, q), w, `${label} in two look-ups`);
    assert.deepEqual(ask(byOne, q), w, `${label} by one scan`);
    found += w.length;
  }
  return found;
}

/** A file's BTF: raw, or an ELF file's .BTF section. */
function btfBytes(path: string): Uint8Array {
  const bytes = new Uint8Array(readFileSync(path));
  if (bytes[0] !== 0x7f) return bytes;
  return parseElf(bytes, path, { anyMachine: true }).sectionByName(".BTF")!.data;
}

function kernelBtfs(): { name: string; path: string; modules: string[] }[] {
  const out = [{
    name: "running kernel",
    path: "/sys/kernel/btf/vmlinux",
    modules: [] as string[],
  }];
  if (!existsSync(KERNELS)) return out;
  for (const d of readdirSync(KERNELS).sort()) {
    const path = join(KERNELS, d, "vmlinux.btf");
    if (!existsSync(path)) continue;
    const modDir = join(KERNELS, d, "modules");
    const modules = existsSync(modDir)
      ? readdirSync(modDir).filter((f) => f.endsWith(".ko")).sort().map((f) => join(modDir, f))
        .filter((m) =>
          parseElf(new Uint8Array(readFileSync(m)), m, { anyMachine: true }).sectionByName(".BTF")
        )
      : [];
    out.push({ name: d, path, modules });
  }
  return out;
}

test(
  "lookUp finds, in one pass, exactly the ids every name of the embedded objects has in kernel BTF",
  kernelTest(),
  () => {
    const queries = objectQueries();
    assert.ok(queries.length > 400, `${queries.length} queries`);
    let found = 0;
    let targets = 0;
    for (const k of kernelBtfs()) {
      found += check(k.name, (lookUp) => Btf.parse(btfBytes(k.path), { lookUp }), queries);
      targets++;
      const base = readBtfFile(k.path);
      for (const m of k.modules) {
        found += check(
          `${k.name} ${m}`,
          (lookUp) => Btf.parse(btfBytes(m), { base, lookUp }),
          queries,
        );
        targets++;
      }
    }
    // task_struct and friends are found in every kernel: not a comparison of empty lists.
    assert.ok(found > 100 * targets, `${found} ids over ${targets} targets`);
  },
);

test("lookUp: flavored, one-byte and split names, kinds without a list of their own", () => {
  const { b, struct: s } = intStructs();
  s("task_struct");
  s("task_struct___v2");
  s("task_struct___");
  s("task_structx");
  s("t");
  s("t___a");
  s("tt");
  b.add({ kind: Kind.FWD, name: "task_struct", union: false });
  b.add({ kind: Kind.ENUM64, name: "e", size: 8, signed: false, values: [] });
  const base = Btf.parse(b.build(), { what: "base" });
  const split = new BtfBuilder({ base });
  split.add({ kind: Kind.STRUCT, name: "task_struct___v3", size: 4, kindFlag: false, members: [] });
  split.add({ kind: Kind.FWD, name: "t", union: false });
  const splitBytes = split.build();
  const queries: NameQuery[] = [];
  for (const name of ["task_struct", "t", "tt", "e", "int", "task_struct___v2", "missing"]) {
    for (const kind of [Kind.STRUCT, Kind.FWD, Kind.ENUM, Kind.ENUM64, Kind.INT]) {
      queries.push({ name: essentialName(name), kind, flavored: true }, {
        name,
        kind,
        flavored: false,
      });
    }
  }
  check("built", (lookUp) => Btf.parse(b.build(), { what: "base", lookUp }), queries);
  check("split", (lookUp) => Btf.parse(splitBytes, { base, what: "split", lookUp }), queries);
  const btf = Btf.parse(splitBytes, { base, what: "split" });
  btf.lookUp(queries);
  assert.deepEqual(btf.candidates("task_struct", Kind.STRUCT), [2, 3, 11]);
  assert.deepEqual(btf.candidates("t", Kind.STRUCT), [6, 7]);
  assert.deepEqual(btf.byName("t", Kind.FWD), [12]);
});
