// The CO-RE differential: one object against one target BTF, decided by this project's engine
// and by Debian's libbpf (test/harness/core_harness.c), compared decision for decision.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type LibbpfDecision, type MapSizes, runLibbpf } from "./libbpf-log.ts";
import { FormatError } from "../../src/errors.ts";
import { loadObjectSpec } from "../../src/object/load.ts";
import { type CoreRelocationResult, relocateObject } from "../../src/core/relocate.ts";
import { CoreError } from "../../src/core/errors.ts";
import { readBtfFile } from "../../src/btf/source.ts";
import { TracerError } from "../../src/errors.ts";

function fmt(d: LibbpfDecision): string {
  return `${d.program} relo #${d.relo} insn #${d.insn} ${
    d.poisoned ? "poisoned" : `-> ${d.new}`
  } target [${d.targetType}]${d.memSize ? ` mem_sz ${d.memSize.old}->${d.memSize.new}` : ""}`;
}

function ours(r: CoreRelocationResult): string {
  return `${r.program} relo #${r.relo} insn #${r.insn} ${
    r.poisoned ? "poisoned" : `-> ${BigInt(r.new)}`
  } target [${r.targetType}]${r.memSize ? ` mem_sz ${r.memSize.old}->${r.memSize.new}` : ""}`;
}

/**
 * Relocates `object` against `targetPath` with this project's CO-RE engine and with libbpf
 * (test/harness/core_harness.c), and asserts the same decisions (instruction, new value,
 * poison, memory size, target type) and the same failure (program and relocation; libbpf
 * refusing the object at open means ours must refuse it too). Returns the relocations compared
 * and whether libbpf failed (at open or at a relocation).
 */
export function compareWithLibbpf(
  object: string,
  targetPath: string,
  sizes: MapSizes = {},
): { compared: number; failed: boolean } {
  const name = object.split("/").pop()!;
  let lib;
  try {
    lib = runLibbpf(object, targetPath, sizes);
  } catch (e) {
    // libbpf refused the object at open (its .BTF.ext checks): ours must refuse it too.
    const out = String((e as { stdout?: string }).stdout ?? "");
    if (!out.includes("HARNESS: open failed")) throw e;
    assert.throws(
      () => {
        relocateObject(
          loadObjectSpec(new Uint8Array(readFileSync(object)), name),
          readBtfFile(targetPath),
        );
      },
      (err: unknown) => err instanceof TracerError,
      `${name}: libbpf refused it at open, we did not`,
    );
    return { compared: 0, failed: true };
  }
  let spec;
  try {
    spec = loadObjectSpec(new Uint8Array(readFileSync(object)), name);
  } catch (e) {
    // A record naming a type the object's BTF lacks: libbpf opens the object and fails at
    // that relocation (-EINVAL); ours checks every .BTF.ext record at load and refuses the
    // object there. Both refuse it.
    if (lib.failure && e instanceof FormatError) return { compared: 0, failed: true };
    throw e;
  }
  const target = readBtfFile(targetPath);
  const results: CoreRelocationResult[] = [];
  let error: unknown = null;
  try {
    relocateObject(spec, target, results);
  } catch (e) {
    error = e;
  }
  const where = `${name} vs ${targetPath}`;
  if (lib.failure) {
    assert.ok(
      error instanceof CoreError,
      `${where}: libbpf failed (${lib.failure.line}) but we did not: ${error}`,
    );
    assert.equal(error.context.program, lib.failure.program, `${where}: failing program`);
    assert.equal(error.context.relo, lib.failure.relo, `${where}: failing relocation`);
  } else if (error) {
    // A record on an instruction outside every program: libbpf skips it (as if it belonged
    // to an eliminated weak subprogram); ours refuses the object, on purpose
    // (core-badinput.test.ts: "a record pointing outside every program is a CoreError").
    if (error instanceof CoreError && /points outside every program/.test(error.message)) {
      return { compared: 0, failed: true };
    }
    throw error;
  }
  // libbpf logs a spec line for the failing relocation too; it has no decision.
  const decided = lib.decisions.filter((d) =>
    !(lib.failure && d.program === lib.failure.program && d.relo === lib.failure.relo)
  );
  assert.equal(
    results.length,
    decided.length,
    `${where}: ${results.length} relocations, libbpf made ${decided.length}`,
  );
  decided.forEach((d, i) => {
    const r = results[i];
    // Ours and libbpf's, each as one line: any difference shows both.
    const expect = fmt(d);
    assert.equal(ours(r), expect, `${where}: relocation ${i}`);
  });
  return { compared: decided.length, failed: lib.failure !== null };
}
