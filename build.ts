// Builds ./tracer: one executable with everything embedded.
//
//   deno run -A build.ts [--target bun-linux-x64-baseline] [--out PATH] [--no-bpf]
//   deno run -A build.ts --all [--out DIR]   ./tracer (x86-64, needs AVX2), ./tracer-x64-baseline
//                                            (any x86-64) and ./tracer-arm64, into DIR (default .)
//   bun build.ts
//
// Uses `bun build --compile` (works offline: the base is Bun's own binary, or for another target
// Bun's binary for it from npm, cached by scripts/bun-targets.ts); `deno compile` is used
// instead with --deno where Deno's base runtime can be had.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { BINARIES, COMPILE_OPTIONS, targetExecutable } from "./scripts/bun-targets.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    out: { type: "string", default: "tracer" },
    target: { type: "string" },
    all: { type: "boolean", default: false },
    deno: { type: "boolean", default: false },
    "no-bpf": { type: "boolean", default: false },
  },
});
if (values.all && values.deno) {
  console.error("build: --all builds with bun only");
  process.exit(2);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`build: ${cmd} ${args.join(" ")} failed (status ${r.status})`);
    process.exit(1);
  }
}

const bin = (name: string) =>
  existsSync(`node_modules/.bin/${name}`) ? `node_modules/.bin/${name}` : name;

// The BPF objects first (reproducible: a no-op when bpf/*.bpf.o match their sources). Without
// clang-19 the committed objects are used as they are.
if (!values["no-bpf"]) {
  if (spawnSync("clang-19", ["--version"], { stdio: "ignore" }).status === 0) {
    run(bin("deno"), ["run", "-A", "scripts/build-bpf.ts"]);
  } else {
    console.error("build: clang-19 not found, using the committed bpf/*.bpf.o");
  }
}

/** Without --target: the build for this machine (x86-64 with AVX2, or arm64). */
const hostTarget = process.arch === "arm64" ? "bun-linux-arm64" : "bun-linux-x64";

/**
 * The build's id: a hash of every source file (the embedded objects included) and the target.
 * It keys the per-boot CO-RE cache (src/version.ts BUILD_ID), so no binary ever uses what
 * another build's code computed.
 */
function buildId(target: string): string {
  const h = createHash("sha256").update(target);
  const walk = (dir: string) => {
    for (
      const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)
    ) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else h.update(path).update("\0").update(readFileSync(path)).update("\0");
    }
  };
  walk("src");
  return h.digest("hex").slice(0, 32);
}

function compile(out: string, target: string): void {
  const args = [
    "build",
    ...COMPILE_OPTIONS,
    `--define=TRACER_BUILD_ID="${buildId(target)}"`,
    "src/main.ts",
    "--outfile",
    out,
  ];
  // Always the base executable of the named target (node_modules' own bun may be another
  // variant: npm's bun installs the baseline build on a CPU it finds without AVX2).
  args.push(`--target=${target}`, `--compile-executable-path=${targetExecutable(target)}`);
  run(bin("bun"), args);
  console.error(`build: wrote ${out}`);
}

if (values.deno) {
  run(bin("deno"), ["compile", "-A", "--output", values.out!, "src/main.ts"]);
  console.error(`build: wrote ${values.out}`);
} else if (values.all) {
  const dir = values.out === "tracer" ? "." : values.out!;
  for (const [name, { target }] of Object.entries(BINARIES)) compile(`${dir}/${name}`, target);
} else {
  compile(values.out!, values.target ?? hostTarget);
}
