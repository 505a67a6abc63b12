// Builds ./tracer: one executable with everything embedded.
//
//   deno run -A build.ts [--target bun-linux-x64-baseline] [--out PATH] [--no-bpf]
//   bun build.ts
//
// Uses `bun build --compile` (works offline: the base is Bun's own binary); `deno compile` is
// used instead with --deno where Deno's base runtime can be had.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    out: { type: "string", default: "tracer" },
    target: { type: "string" },
    deno: { type: "boolean", default: false },
    "no-bpf": { type: "boolean", default: false },
  },
});

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

if (values.deno) {
  run(bin("deno"), ["compile", "-A", "--output", values.out!, "src/main.ts"]);
} else {
  // --bytecode: the JavaScript is precompiled into the executable, which halves start-up
  // (measured: `tracer --version` 23 ms -> 11 ms, `tracer exec` launch to ready 69 -> 36 ms).
  const args = [
    "build",
    "--compile",
    "--minify",
    "--bytecode",
    "--format=esm",
    // A tracer run as root must not pick up a .env or bunfig.toml (which can preload code)
    // from whatever directory it is started in; it also spares the look-ups at start.
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    "src/main.ts",
    "--outfile",
    values.out!,
  ];
  if (values.target) args.push(`--target=${values.target}`);
  run(bin("bun"), args);
}
console.error(`build: wrote ${values.out}`);
