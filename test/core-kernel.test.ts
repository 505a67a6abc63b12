// CO-RE against the running kernel, checked by the kernel's verifier: a poisoned load
// behind bpf_core_field_exists() is dead code and the program loads; the same load
// unguarded is rejected, and the verifier log is translated back to the relocation.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { kernelTest } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import { progLoad } from "../src/kernel/bpf.ts";
import { kernelBtf } from "../src/btf/source.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { loadCollection } from "../src/loader/collection.ts";
import { relocateCore } from "../src/core/relocate.ts";
import { explainVerifierLog } from "../src/core/explain.ts";
import { SysError } from "../src/errors.ts";
import { InsnBuffer } from "../src/asm/insn.ts";
import { POISON_HELPER_ID } from "../src/core/patch.ts";

const OBJECT = new URL("./fixtures/core/core_poison.bpf.o", import.meta.url).pathname;

function relocated(name: string) {
  const spec = loadObjectSpec(new Uint8Array(readFileSync(OBJECT)), "core_poison.bpf.o");
  const prog = spec.programs.find((p) => p.name === name)!;
  const results = relocateCore(spec, prog, kernelBtf());
  return { spec, prog, results };
}

test(
  "a poisoned field read guarded by bpf_core_field_exists loads on the running kernel",
  kernelTest(),
  async () => {
    const { spec, prog, results } = relocated("guarded");
    const exists = results.find((r) => r.kind === "field_exists")!;
    assert.equal(exists.new, 0);
    const poisoned = results.filter((r) => r.poisoned);
    assert.equal(poisoned.length, 1);
    assert.equal(new InsnBuffer(prog.insns).imm(poisoned[0].insn), POISON_HELPER_ID);
    // The kernel's own task_struct.tgid offset, as bpftool would print it, not the local 0.
    const tgid = results.find((r) => r.access === "0:0" && r.localTypeName === "task_struct")!;
    assert.ok(typeof tgid.new === "number" && tgid.new > 0, `tgid offset ${tgid.new}`);
    const p = await getPlatform();
    const loaded = progLoad(p, {
      type: prog.progType,
      insns: prog.insns,
      license: spec.license,
      name: prog.name,
    });
    assert.ok(loaded.fd > 0);
    loaded.close();
  },
);

test(
  "an unguarded poisoned read is rejected and explained by its relocation",
  kernelTest(),
  async () => {
    const { spec, prog, results } = relocated("unguarded");
    const p = await getPlatform();
    let log = "";
    assert.throws(
      () =>
        progLoad(p, {
          type: prog.progType,
          insns: prog.insns,
          license: spec.license,
          name: prog.name,
        }),
      (e: unknown) => {
        if (!(e instanceof SysError)) return false;
        log = e.detail;
        return e.errnoName === "EINVAL";
      },
    );
    assert.match(log, /unknown#195896080/);
    const text = explainVerifierLog(results, log, "unguarded");
    assert.ok(text, `no explanation for:\n${log}`);
    const r = results.find((x) => x.poisoned)!;
    assert.match(
      text,
      new RegExp(
        `at instruction ${r.insn}: program 'unguarded' relo #\\d+ \\(insn #${r.insn}\\): <byte_off> ` +
          `\\[\\d+\\] struct task_struct___gone\\.no_such_field \\(0:0 @ offset 0\\): field .* not found`,
      ),
    );
  },
);

test(
  "the loader names the failed relocation when the verifier rejects a poisoned instruction",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(new Uint8Array(readFileSync(OBJECT)), "core_poison.bpf.o");
    assert.throws(
      () => loadCollection(p, spec, { programs: ["unguarded"] }),
      (e: unknown) =>
        e instanceof SysError && e.errnoName === "EINVAL" &&
        /BPF_PROG_LOAD of program unguarded/.test(e.message) &&
        /unknown#195896080/.test(e.message) &&
        /program 'unguarded' relo #\d+ \(insn #\d+\): <byte_off> \[\d+\] struct task_struct___gone\.no_such_field/
          .test(e.message),
    );
  },
);
