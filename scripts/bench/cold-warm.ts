// The pure start-up work of `tracer exec|open|connect` (no kernel calls but reading its BTF), done
// twice in one process: the first time runs cold, as every start of the tracer does (bytecode
// interpreted until the JIT compilers catch up), the second warm. The difference is what running
// cold costs. Built and run by scripts/bench-startup.ts with the tracer's own compile options.
//
//   cold-warm KIND...   prints one JSON line per KIND: {kind, cold: {step: ms}, warm: {step: ms}}

import { getPlatform } from "../../src/platform/index.ts";
import { fileBytes, KERNEL_BTF_PATH } from "../../src/btf/source.ts";
import { Btf } from "../../src/btf/reader.ts";
import { embeddedObject } from "../../src/tracers/embedded.ts";
import { loadObjectSpec } from "../../src/object/load.ts";
import { coreLookups, relocateObject } from "../../src/core/relocate.ts";

const p = await getPlatform();
const kernelBytes = fileBytes(KERNEL_BTF_PATH, p, "kernel BTF");

function once(kind: string): Record<string, number> {
  const t0 = performance.now();
  const spec = loadObjectSpec(embeddedObject(kind), kind);
  const t1 = performance.now();
  // As loadCollection reads it: the look-ups answered by the index pass.
  const lookUp = coreLookups(spec, spec.programs.concat(spec.subprograms));
  const target = Btf.parse(kernelBytes, { what: "kernel BTF", lookUp });
  target.lookUp(lookUp);
  const t2 = performance.now();
  relocateObject(spec, target);
  const t3 = performance.now();
  return {
    "object parse": t1 - t0,
    "kernel BTF index + look-ups": t2 - t1,
    "CO-RE": t3 - t2,
  };
}

for (const kind of process.argv.slice(2)) {
  const cold = once(kind);
  const warm = once(kind);
  console.log(JSON.stringify({ kind, cold, warm }));
}
