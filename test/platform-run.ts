// Test helper (not a test): how to run a TypeScript file with the runtime running the tests.

import process from "node:process";
import { spawnSync } from "node:child_process";

const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;

/** argv that runs `file` under the current runtime (Deno: `run -A`). */
export function runtimeArgv(file: string, ...args: string[]): string[] {
  return isDeno
    ? [process.execPath, "run", "-A", "--no-check", file, ...args]
    : [process.execPath, file, ...args];
}

/** Runs `file` with args; resolves to exit status, stdout, stderr. */
export function runScript(file: string, ...args: string[]) {
  const [cmd, ...rest] = runtimeArgv(file, ...args);
  const r = spawnSync(cmd, rest, { encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A shell-quoted command line for `file` (for pipelines run with bash -c). */
export function shellCommand(file: string, ...args: string[]): string {
  return runtimeArgv(file, ...args).map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
}
