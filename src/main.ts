// CLI entry: picks the command, runs it, turns errors into one clear line and an exit status.

import process from "node:process";
import { TracerError, UsageError } from "./errors.ts";
import type { Command } from "./cli/command.ts";
import { getPlatform } from "./platform/index.ts";
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
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "-V" || name === "--version" || name === "version") {
    process.stdout.write(`tracer ${VERSION}\n`);
    return 0;
  }
  if (name === "__exec-as") return execAs(rest, await getPlatform());
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`tracer: unknown command '${name}' (see 'tracer --help')\n`);
    return 2;
  }
  try {
    const platform = await getPlatform();
    return await command.run(rest, platform);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tracer ${e.message}\n`);
      return 2;
    }
    if (e instanceof TracerError) {
      process.stderr.write(`tracer ${name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
