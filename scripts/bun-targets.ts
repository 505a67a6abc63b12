// Bun's cross-compile base executables, from the npm registry: `bun build --compile
// --target=T` needs Bun's own binary for T. Each comes from npm as @oven/bun-<platform>, pinned
// to the Bun version of package.json (npm's os/cpu checks keep an arm64 package out of an x64
// node_modules, so they are fetched with `npm pack` instead) and kept in
// .cache/bun-targets/<package>-<version>/bun, then given to bun with --compile-executable-path:
// no download at build time.
//
//   deno run -A scripts/bun-targets.ts      fetches every target not yet cached (setup.sh runs it)

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import process from "node:process";

/** The binaries build.ts writes: output name → Bun compile target → npm package. */
export const BINARIES = {
  "tracer": { target: "bun-linux-x64", npm: "@oven/bun-linux-x64" },
  "tracer-x64-baseline": { target: "bun-linux-x64-baseline", npm: "@oven/bun-linux-x64-baseline" },
  "tracer-arm64": { target: "bun-linux-arm64", npm: "@oven/bun-linux-aarch64" },
} as const;
export type BinaryName = keyof typeof BINARIES;

/**
 * `bun build` options of every compiled tracer (build.ts), and of the idle program whose start-up
 * scripts/bench-startup.ts measures beside it. --bytecode: the JavaScript is precompiled into the
 * executable, which halves start-up (measured: `tracer --version` 23 ms -> 11 ms, `tracer exec`
 * launch to ready 69 -> 36 ms). A tracer run as root must not pick up a .env or bunfig.toml (which
 * can preload code) from whatever directory it is started in; that also spares the look-ups.
 * --compile-jit-policy=8: the JIT compilers tier code up after 8 times the usual executions, so
 * a start (code run once or a few times) spends less CPU compiling what it will not run again;
 * the event path still reaches the optimizing tiers within its first few thousand records
 * (README "Start-up": exec CPU to ready 37.7 -> 31.7 ms, first start 83 -> 62 ms; open storm
 * 165k vs 163k records/s, unchanged).
 */
export const COMPILE_OPTIONS = [
  "--compile",
  "--minify",
  "--bytecode",
  "--format=esm",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--compile-jit-policy=8",
];

/** The pinned Bun version (package.json's devDependencies.bun). */
export function bunVersion(): string {
  const pkg = JSON.parse(readFileSync("package.json", "utf8"));
  return pkg.devDependencies.bun;
}

/** The base executable for a Bun compile target, fetched from npm into .cache/bun-targets on first use. */
export function targetExecutable(target: string): string {
  const entry = Object.values(BINARIES).find((b) => b.target === target);
  if (!entry) throw new Error(`bun-targets: unknown target ${target}`);
  const version = bunVersion();
  const dir = `.cache/bun-targets/${entry.npm.replace("@oven/", "")}-${version}`;
  const exe = `${dir}/bun`;
  if (existsSync(exe)) return exe;
  console.error(`bun-targets: fetching ${entry.npm}@${version} from npm`);
  mkdirSync(".cache/bun-targets", { recursive: true });
  const work = mkdtempSync(".cache/bun-targets/.fetch-");
  try {
    const pack = spawnSync(
      "npm",
      ["pack", "--silent", "--pack-destination", work, `${entry.npm}@${version}`],
      { encoding: "utf8" },
    );
    if (pack.status !== 0) {
      throw new Error(
        `bun-targets: npm pack ${entry.npm}@${version} failed: ${pack.stderr.trim()}`,
      );
    }
    const tgz = `${work}/${pack.stdout.trim().split("\n").pop()}`;
    const tar = spawnSync("tar", ["-xzf", tgz, "-C", work, "package/bin/bun"], {
      encoding: "utf8",
    });
    if (tar.status !== 0) throw new Error(`bun-targets: unpacking ${tgz}: ${tar.stderr.trim()}`);
    chmodSync(`${work}/package/bin/bun`, 0o755);
    mkdirSync(dir, { recursive: true });
    renameSync(`${work}/package/bin/bun`, exe);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return exe;
}

if (import.meta.main) {
  try {
    for (const { target } of Object.values(BINARIES)) targetExecutable(target);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
