// Benchmark: index the running kernel's BTF and look up task_struct, each sample in a fresh
// process, for the tracer (Deno and Bun; mmap through the platform, and plain read) and for
// libbpf (btf__load_vmlinux_btf + btf__find_by_name_kind, C, compiled here with gcc -lbpf).
// Reports the median in-process time (index + lookup) and RSS growth of each, the ratio to
// libbpf, and, for context, the whole process's wall time (runtime start-up included).
// usage: deno run -A scripts/bench-btf.ts [--runs N]

import process from "node:process";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { parseArgs } from "node:util";

const root = new URL("..", import.meta.url).pathname;
const { values } = parseArgs({ options: { runs: { type: "string", default: "21" } } });
const runs = Number(values.runs);

const cBin = `${root}.cache/bench/btf-libbpf`;
const cSrc = `${root}scripts/bench-btf-libbpf.c`;
if (!existsSync(cBin) || statSync(cBin).mtimeMs < statSync(cSrc).mtimeMs) {
  mkdirSync(`${root}.cache/bench`, { recursive: true });
  execFileSync("gcc", ["-O2", cSrc, "-o", cBin, "-lbpf"], { stdio: "inherit" });
}

const deno = `${root}node_modules/.bin/deno`;
const bun = `${root}node_modules/.bin/bun`;
const probe = `${root}scripts/bench-btf-probe.ts`;
const contenders: [string, string, string[]][] = [
  ["libbpf 1.1 (C)", cBin, []],
  ["tracer, deno, mmap", deno, ["run", "-A", probe, "mmap"]],
  ["tracer, bun, mmap", bun, [probe, "mmap"]],
  ["tracer, deno, read", deno, ["run", "-A", probe, "read"]],
  ["tracer, bun, read", bun, [probe, "read"]],
];

const samples = contenders.map(() => ({
  ms: [] as number[],
  kib: [] as number[],
  wall: [] as number[],
}));
for (let r = 0; r < runs; r++) {
  contenders.forEach(([name, cmd, args], i) => {
    const start = performance.now();
    const res = spawnSync(cmd, args, { encoding: "utf8" });
    samples[i].wall.push(performance.now() - start);
    const m = /^([\d.]+) (-?\d+) (\d+)$/m.exec(res.stdout ?? "");
    if (res.status !== 0 || !m) {
      console.error(`${name}: failed (status ${res.status}): ${res.stderr}`);
      process.exit(1);
    }
    samples[i].ms.push(Number(m[1]));
    samples[i].kib.push(Number(m[2]));
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = median(samples[0].ms);
console.log(`kernel BTF: index + find task_struct, fresh process, median of ${runs} runs`);
console.log(
  `${"".padEnd(22)} ${"ms".padStart(8)} ${"vs libbpf".padStart(10)} ${"RSS +MiB".padStart(9)} ${
    "process ms".padStart(11)
  }`,
);
contenders.forEach(([name], i) => {
  const ms = median(samples[i].ms);
  const mib = median(samples[i].kib) / 1024;
  console.log(
    `${name.padEnd(22)} ${ms.toFixed(2).padStart(8)} ${(ms / base).toFixed(2).padStart(9)}x ${
      mib.toFixed(1).padStart(9)
    } ${median(samples[i].wall).toFixed(1).padStart(11)}`,
  );
});
