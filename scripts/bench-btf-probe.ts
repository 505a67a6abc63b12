// One fresh-process sample for scripts/bench-btf.ts: index the running kernel's BTF and look
// up task_struct. Prints "<ms> <rss growth KiB> <id>" like the libbpf probe.
// usage: bench-btf-probe.ts [mmap|read]   (mmap: through the platform's mmap, the tracer's way)

import process from "node:process";
import { readFileSync } from "node:fs";
import { kernelBtf } from "../src/btf/source.ts";
import { Kind } from "../src/btf/types.ts";
import { getPlatform } from "../src/platform/index.ts";

const rssKib = () => Number(readFileSync("/proc/self/statm", "utf8").split(" ")[1]) * 4;

const mode = process.argv[2] ?? "mmap";
const platform = mode === "mmap" ? await getPlatform() : undefined;
const before = rssKib();
const t0 = performance.now();
const btf = kernelBtf(undefined, platform);
const id = btf.byName("task_struct", Kind.STRUCT)[0];
const t1 = performance.now();
console.log(`${(t1 - t0).toFixed(3)} ${rssKib() - before} ${id}`);
