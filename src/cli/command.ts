// What every CLI command looks like, and the shared argument-parsing wrapper.

import { ArgsError, type OptionSpecs, parseArgs } from "./args.ts";
import { UsageError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";

export interface Command {
  name: string;
  summary: string;
  /** Runs the command with its own arguments (after the command name). Resolves to the exit status. */
  run(args: string[], platform: Platform): Promise<number>;
}

/** parseArgs (strict), with its errors turned into UsageError (one line, exit status 2). */
export function parse<const O extends OptionSpecs>(
  command: string,
  args: string[],
  options: O,
  allowPositionals = false,
) {
  try {
    return parseArgs(args, options, allowPositionals);
  } catch (e) {
    if (e instanceof ArgsError) throw new UsageError(`${command}: ${e.message}`);
    throw e;
  }
}

/** Parses a non-negative integer option value, or throws a UsageError naming the option. */
export function intOption(
  command: string,
  name: string,
  value: string | undefined,
  { min = 0, max = Number.MAX_SAFE_INTEGER } = {},
): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`${command}: --${name} expects a number, got '${value}'`);
  }
  const n = Number(value);
  if (n < min || n > max) {
    throw new UsageError(`${command}: --${name} must be between ${min} and ${max}, got ${n}`);
  }
  return n;
}

const encoder = new TextEncoder();

/** Writes a string to stdout (fd 1) through the platform. */
export function out(platform: Platform, text: string): void {
  platform.writeAll(1, encoder.encode(text));
}

/** Writes a string to stderr (fd 2) through the platform. */
export function err(platform: Platform, text: string): void {
  platform.writeAll(2, encoder.encode(text));
}
