// CLI entry: picks the command, runs it, turns errors into one clear line and an exit status.

import { TracerError, UsageError } from "./errors.ts";
import type { Command } from "./cli/command.ts";
import { getPlatform } from "./platform/index.ts";
import { writeFile } from "./platform/files.ts";
import { VERSION } from "./version.ts";
import { checkCommand } from "./cli/check.ts";
import { btfCommand } from "./cli/btf.ts";
import { inspectCommand } from "./cli/inspect.ts";
import { execCommand } from "./cli/exec.ts";
import { openCommand } from "./cli/open.ts";
import { connectCommand } from "./cli/connect.ts";
import { runCommand } from "./cli/run.ts";
import { watchCommand } from "./cli/watch.ts";
import { execAs } from "./cli/exec-as.ts";

const COMMANDS: Command[] = [
  execCommand,
  openCommand,
  connectCommand,
  watchCommand,
  checkCommand,
  btfCommand,
  inspectCommand,
  runCommand,
];

/**
 * Writes text to stdout (1) or stderr (2) directly: not through process.stdout/stderr, whose
 * first use loads the runtime's stream machinery (measured: ~20 ms of a Bun start-up). A
 * closed pipe (EPIPE) ends the output quietly, as a Unix tool does.
 */
function write(fd: number, text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeFile(fd, bytes));
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EAGAIN") continue; // a non-blocking descriptor: until it drains
      if (code === "EPIPE") return;
      throw e;
    }
  }
}

function usage(): string {
  const lines = [
    `tracer ${VERSION}: a self-contained eBPF tracer`,
    "",
    "usage: tracer <command> [options]",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    "",
    "  tracer <command> --help   options of one command",
    "  tracer --version          print the version",
  ];
  return lines.join("\n") + "\n";
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // The platform first, even for --version: its libc calls then do every file call (writes
  // included), and the runtime's node:fs is never loaded (see platform/files.ts).
  const platform = await getPlatform().catch(() => undefined);
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    write(1, usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "-V" || name === "--version" || name === "version") {
    write(1, `tracer ${VERSION}\n`);
    return 0;
  }
  if (name === "__exec-as") return execAs(rest, platform ?? await getPlatform());
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    write(2, `tracer: unknown command '${name}' (see 'tracer --help')\n`);
    return 2;
  }
  try {
    return await command.run(rest, platform ?? await getPlatform());
  } catch (e) {
    if (e instanceof UsageError) {
      write(2, `tracer ${e.message}\n`);
      return 2;
    }
    if (e instanceof TracerError) {
      write(2, `tracer ${name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
