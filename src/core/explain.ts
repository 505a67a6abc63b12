// Translating a verifier rejection at a poisoned instruction back to the CO-RE relocation
// that poisoned it. libbpf's poison is `call 0xbad2310`; the verifier reports it as
// "invalid func unknown#195896080", after the line of the instruction ("42: (85) call
// unknown#195896080"). Pure.

import type { CoreRelocationResult } from "./relocate.ts";
import { POISON_HELPER_ID } from "./patch.ts";

const POISON_MARK = `unknown#${POISON_HELPER_ID}`;

/** The instruction index the verifier rejected at a poisoned call, or null. */
export function poisonedInsnFromLog(log: string): number | null {
  if (!log.includes(POISON_MARK)) return null;
  const re = new RegExp(`^(\\d+): \\(85\\) call ${POISON_MARK}`, "gm");
  let last: number | null = null;
  for (const m of log.matchAll(re)) last = Number(m[1]);
  return last ?? -1;
}

function describe(r: CoreRelocationResult): string {
  return `program '${r.program}' relo #${r.relo} (insn #${r.insn}): <${r.kind}> ${r.localSpec}: ${
    r.reason ?? "not found in the target"
  }`;
}

/**
 * Given the relocation results of the program that failed to load (its own and those of the
 * subprograms linked into it) and the verifier log, explains a rejection at a poisoned
 * instruction; null when the log shows no such rejection. `bases` gives, per function name,
 * the index of its first instruction in the loaded program (entry program: 0; appended
 * subprograms: where the loader put them); without it only `program`'s own instructions
 * can be matched exactly.
 */
export function explainVerifierLog(
  results: CoreRelocationResult[],
  log: string,
  program?: string,
  bases?: ReadonlyMap<string, number>,
): string | null {
  const at = poisonedInsnFromLog(log);
  if (at === null) return null;
  const poisoned = results.filter((r) => r.poisoned);
  const hint = "the kernel's BTF lacks what the program reads; guard the access with " +
    "bpf_core_field_exists() / bpf_core_type_exists() or use a ___flavor for this kernel";
  const base = (r: CoreRelocationResult): number | undefined =>
    bases?.get(r.program) ?? (program === undefined || r.program === program ? 0 : undefined);
  const exact = poisoned.filter((r) => base(r) !== undefined && base(r)! + r.insn === at);
  const pick = exact.length === 1 ? exact : poisoned;
  if (pick.length === 0) {
    return `the verifier reached a poisoned CO-RE instruction${
      at >= 0 ? ` (insn ${at})` : ""
    }, but no relocation of this program was poisoned`;
  }
  const where = at >= 0 ? ` at instruction ${at}` : "";
  if (pick.length === 1) {
    return `the verifier reached a CO-RE relocation that could not be resolved${where}: ${
      describe(pick[0])
    }; ${hint}`;
  }
  return `the verifier reached a CO-RE relocation that could not be resolved${where}; one of: ${
    pick.map(describe).join("; ")
  }; ${hint}`;
}
