// CO-RE failures: a typed error naming the object, the program and the relocation. Pure.

import { TracerError } from "../errors.ts";

/** Where a CO-RE failure happened. Fields are filled in as far as they are known. */
export interface CoreErrorContext {
  object?: string;
  program?: string;
  /** Index of the record within its section's CO-RE records (libbpf's "relo #N"). */
  relo?: number;
  /** Instruction index within the program. */
  insn?: number;
  /** The access spec in libbpf's notation, when it could be parsed. */
  spec?: string;
}

export class CoreError extends TracerError {
  constructor(
    readonly context: CoreErrorContext,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${describeContext(context)}: ${detail}`, options);
  }
}

export function describeContext(c: CoreErrorContext): string {
  const parts: string[] = ["CO-RE"];
  if (c.object !== undefined) parts.push(`object ${c.object}`);
  if (c.program !== undefined) parts.push(`program '${c.program}'`);
  if (c.relo !== undefined) parts.push(`relo #${c.relo}`);
  if (c.insn !== undefined) parts.push(`insn #${c.insn}`);
  if (c.spec !== undefined) parts.push(c.spec);
  return parts.join(" ");
}

/**
 * A failure inside one matching step, before the caller knows the program and relocation.
 * relocate.ts catches it and rethrows a CoreError with the full context.
 */
export class CoreStepError extends Error {}
