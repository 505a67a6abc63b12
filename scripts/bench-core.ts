// Benchmark: CO-RE-relocating the shipped tracer objects (bpf/*.bpf.o) against the running
// kernel's BTF, including reading and indexing that BTF, as the tracer does at start-up.
// Each run is a fresh process (cold caches of the BTF index), so run it several times:
//   node_modules/.bin/deno run -A scripts/bench-core.ts [--btf FILE] [--runs N]
//   node_modules/.bin/bun scripts/bench-core.ts
// With --runs N (default 1) it repeats in-process with a fresh Btf each time and prints the
// median too. Budget: 30 ms in total for all shipped objects.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Btf } from "../src/btf/reader.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { relocateObject } from "../src/core/relocate.ts";

const { values } = parseArgs({
  options: { btf: { type: "string" }, runs: { type: "string" } },
});
const btfPath = values.btf ?? "/sys/kernel/btf/vmlinux";
const runs = Number(values.runs ?? "1");
const root = new URL("..", import.meta.url).pathname;
const objects = readdirSync(join(root, "bpf")).filter((f) => f.endsWith(".bpf.o")).sort();
const bytes = objects.map((f) => new Uint8Array(readFileSync(join(root, "bpf", f))));

const totals: number[] = [];
for (let run = 0; run < runs; run++) {
  const t0 = performance.now();
  const raw = new Uint8Array(readFileSync(btfPath));
  const t1 = performance.now();
  const target = Btf.parse(raw, { what: btfPath });
  const t2 = performance.now();
  let relocs = 0;
  let specMs = 0;
  for (let i = 0; i < objects.length; i++) {
    const s0 = performance.now();
    const spec = loadObjectSpec(bytes[i], objects[i]);
    specMs += performance.now() - s0;
    relocs += relocateObject(spec, target).length;
  }
  const t3 = performance.now();
  totals.push(t3 - t0);
  if (run === 0 || runs === 1) {
    console.log(
      `${objects.length} objects (${objects.join(", ")}), ${relocs} relocations vs ${btfPath} ` +
        `(${target.count} types): read ${(t1 - t0).toFixed(1)} ms, index ${
          (t2 - t1).toFixed(1)
        } ms, object specs ${specMs.toFixed(1)} ms, CO-RE ${
          (t3 - t2 - specMs).toFixed(1)
        } ms, total ${(t3 - t0).toFixed(1)} ms`,
    );
  }
}
if (runs > 1) {
  const sorted = totals.slice().sort((a, b) => a - b);
  console.log(
    `${runs} runs: first ${totals[0].toFixed(1)} ms, median ${
      sorted[Math.floor(runs / 2)].toFixed(1)
    } ms, min ${sorted[0].toFixed(1)} ms`,
  );
}
