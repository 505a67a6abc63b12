// The CO-RE relocation engine's entry points. For each CO-RE record of a function, exactly
// as libbpf 1.1 does (bpf_object__relocate_core / bpf_core_calc_relo_insn):
//   parse the local access spec; find target candidates by essential name and compatible
//   kind (cached per local type id and pruned as relocations go); match the spec against
//   every candidate; require all matching candidates to agree; compute the values; patch
//   or poison the instruction.
//
// Subprograms: CO-RE records live in the section of the function that holds the
// instruction, .text included. Like libbpf, every function (entry program or .text
// subprogram) is relocated once, in its own frame of reference, before the loader appends
// subprograms to their callers: call relocateObject(spec, target) (all functions, libbpf's
// order) or relocateCore(spec, fn, target) per function, entry programs and subprograms. Pure.

import type { Btf, NameQuery } from "../btf/reader.ts";
import { Kind } from "../btf/types.ts";
import type { CoreReloRecord } from "../btf/ext.ts";
import { INSN_SIZE, InsnBuffer } from "../asm/insn.ts";
import type { ObjectSpec, ProgramSpec } from "../object/types.ts";
import { CoreError, type CoreErrorContext, CoreStepError } from "./errors.ts";
import { CoreReloKind, reloKindName } from "./kinds.ts";
import { kindOf, kindsCoreCompat, kindStr, nameOf, validId } from "./btf-view.ts";
import { coreEssentialName, essentialNamesEqual } from "./names.ts";
import { type CoreSpec, emptySpec, formatSpec, parseSpec } from "./spec.ts";
import { specMatch } from "./match.ts";
import { calcRelo, type RelocationValues } from "./calc.ts";
import { patchInsn } from "./patch.ts";

export interface CoreRelocationResult {
  /** The function holding the instruction (entry program or subprogram). */
  program: string;
  section: string;
  /** Index of the record among its section's CO-RE records (libbpf's "relo #N"). */
  relo: number;
  /** Instruction index within the function. */
  insn: number;
  /** libbpf's kind name: byte_off, byte_sz, field_exists, ..., enumval_value. */
  kind: string;
  kindId: number;
  localType: number;
  localTypeName: string;
  /** The access string, e.g. "0:2:1". */
  access: string;
  /** The local spec in libbpf's notation: "[9] struct core_sample.arr[2].b (0:2:2:1 @ offset 36)". */
  localSpec: string;
  /** Target type id the relocation matched (the first agreeing candidate), or null. */
  targetType: number | null;
  targetSpec: string | null;
  /** The value found in the instruction and the value written (u64; bigint when > 2^53). */
  old: number | bigint;
  new: number | bigint;
  poisoned: boolean;
  /** Load/store size change (LDX/ST/STX), when there was one. */
  memSize?: { old: number; new: number };
  /** Why the instruction was poisoned, in words. */
  reason?: string;
}

/** Candidate lists per local type id, shared by all relocations of one object vs one target. */
type CandidateCache = Map<number, number[]>;
const caches = new WeakMap<object, WeakMap<Btf, CandidateCache>>();

/** The candidate cache of one object (any object identity: a spec) against one target. */
export function cacheFor(spec: object, target: Btf): CandidateCache {
  let m = caches.get(spec);
  if (!m) caches.set(spec, m = new WeakMap());
  let c = m.get(target);
  if (!c) m.set(target, c = new Map());
  return c;
}

const num = (v: bigint): number | bigint => v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;

/** Raw candidate lists per target BTF, shared by every object relocated against it. */
const targetCandidates = new WeakMap<Btf, Map<string, number[]>>();

function scan(target: Btf, essential: string, kind: Kind): number[] {
  let m = targetCandidates.get(target);
  if (!m) targetCandidates.set(target, m = new Map());
  const key = `${kind}:${essential}`;
  let ids = m.get(key);
  if (!ids) m.set(key, ids = target.candidates(essential, kind));
  return ids;
}

/** bpf_core_find_cands (vmlinux part): ids in ascending order (a fresh array). */
export function findCandidates(local: Btf, localId: number, target: Btf): number[] {
  const localName = nameOf(local, localId);
  if (localName === "") {
    throw new CoreStepError("relocation on an anonymous type has no candidates");
  }
  const lk = kindOf(local, localId);
  const essential = coreEssentialName(localName);
  const kinds = lk === Kind.ENUM || lk === Kind.ENUM64 ? [Kind.ENUM, Kind.ENUM64] : [lk];
  let ids: number[] = [];
  for (const k of kinds) ids = ids.concat(scan(target, essential, k));
  ids = ids.filter((id) =>
    id >= 1 && kindsCoreCompat(target.kind(id), lk) &&
    essentialNamesEqual(localName, target.name(id))
  );
  return kinds.length > 1 ? ids.sort((a, b) => a - b) : ids;
}

/**
 * The target look-ups the CO-RE records of `fns` will make (findCandidates' essential names
 * and kinds), known from the object alone.
 */
export function coreLookups(
  spec: ObjectSpec,
  fns: readonly ProgramSpec[] = spec.programs.concat(spec.subprograms),
): NameQuery[] {
  const out: NameQuery[] = [];
  const local = spec.btf;
  for (const fn of fns) {
    for (const rec of spec.ext?.coreRelos.get(fn.section) ?? []) {
      if (rec.insnOff < fn.offset || rec.insnOff >= fn.offset + fn.insns.length) continue;
      if (rec.kind === CoreReloKind.TYPE_ID_LOCAL) continue;
      if (!validId(local, rec.typeId) || rec.typeId === 0) continue; // refused when relocated
      let name: string, lk: Kind;
      try {
        name = local.name(rec.typeId);
        lk = local.kind(rec.typeId);
      } catch {
        continue; // a bad local type: the relocation itself reports it
      }
      if (name === "") continue;
      const essential = coreEssentialName(name);
      for (const kind of lk === Kind.ENUM || lk === Kind.ENUM64 ? [Kind.ENUM, Kind.ENUM64] : [lk]) {
        out.push({ name: essential, kind, flavored: true });
      }
    }
  }
  return out;
}

/**
 * Finds the target candidates of every CO-RE record of `fns` in one pass over the target's
 * types (Btf.lookUp), before relocateCore asks for them one by one. Changes no decision:
 * the candidate lists are the ones a scan per name finds.
 */
export function prefetchCandidates(
  spec: ObjectSpec,
  target: Btf,
  fns?: readonly ProgramSpec[],
): void {
  target.lookUp(coreLookups(spec, fns));
}

interface Resolved {
  values: RelocationValues;
  local: CoreSpec;
  target: CoreSpec | null;
}

/** bpf_core_calc_relo_insn for one record. */
function resolve(
  local: Btf,
  rec: CoreReloRecord,
  target: Btf,
  cache: CandidateCache,
  ctx: CoreErrorContext,
): Resolved {
  if (!validId(local, rec.typeId) || rec.typeId === 0) {
    throw new CoreError(ctx, `local type id ${rec.typeId} out of range (1..${local.count - 1})`);
  }
  if (!(rec.kind >= 0 && rec.kind <= CoreReloKind.TYPE_MATCHES)) {
    throw new CoreError(ctx, `unrecognized CO-RE relocation kind ${rec.kind}`);
  }
  let cands: number[] | undefined;
  if (rec.kind !== CoreReloKind.TYPE_ID_LOCAL) {
    cands = cache.get(rec.typeId);
    if (!cands) {
      try {
        cands = findCandidates(local, rec.typeId, target);
      } catch (e) {
        if (!(e instanceof CoreStepError)) throw e;
        throw new CoreError(
          ctx,
          `target candidate search failed for [${rec.typeId}] ${kindStr(local.kind(rec.typeId))} ${
            nameOf(local, rec.typeId) || "<anon>"
          }: ${e.message}`,
        );
      }
      cache.set(rec.typeId, cands);
    }
  }
  let localSpec: CoreSpec;
  try {
    localSpec = parseSpec(local, rec.typeId, rec.accessStr, rec.kind);
  } catch (e) {
    if (!(e instanceof CoreStepError)) throw e;
    throw new CoreError(
      ctx,
      `parsing [${rec.typeId}] ${kindStr(local.kind(rec.typeId))} ${
        nameOf(local, rec.typeId) || "<anon>"
      } + ${rec.accessStr} failed: ${e.message}`,
    );
  }
  ctx.spec = formatSpec(localSpec, false);

  if (rec.kind === CoreReloKind.TYPE_ID_LOCAL) {
    const id = BigInt(localSpec.rootTypeId);
    return {
      values: {
        orig: id,
        new: id,
        poison: false,
        validate: false,
        failMemSizeAdjust: false,
        origSize: 0,
        newSize: 0,
        origTypeId: 0,
        newTypeId: 0,
      },
      local: localSpec,
      target: localSpec,
    };
  }

  try {
    let best: Resolved | null = null;
    const kept: number[] = [];
    for (const cand of cands!) {
      const candSpec = emptySpec(target, cand, rec.kind);
      if (!specMatch(localSpec, target, cand, candSpec)) continue;
      const values = calcRelo(rec.kind, localSpec, candSpec);
      if (!best) {
        best = { values, local: localSpec, target: candSpec };
      } else if (candSpec.bitOffset !== best.target!.bitOffset) {
        throw new CoreError(
          ctx,
          `field offset ambiguity: ${candSpec.bitOffset} != ${best.target!.bitOffset} ` +
            `(candidates ${formatSpec(best.target!, false)} and ${formatSpec(candSpec, false)})`,
        );
      } else if (values.poison !== best.values.poison || values.new !== best.values.new) {
        throw new CoreError(
          ctx,
          `relocation decision ambiguity: ${
            values.poison ? "failure" : "success"
          } ${values.new} != ${
            best.values.poison ? "failure" : "success"
          } ${best.values.new} (candidates ${formatSpec(best.target!, false)} and ${
            formatSpec(candSpec, false)
          })`,
        );
      }
      kept.push(cand);
    }
    if (kept.length > 0) cache.set(rec.typeId, kept);
    if (best) return best;
    return { values: calcRelo(rec.kind, localSpec, null), local: localSpec, target: null };
  } catch (e) {
    if (e instanceof CoreStepError) throw new CoreError(ctx, e.message);
    throw e;
  }
}

function explainPoison(kind: number, localSpec: string, note?: string): string {
  if (note) return note;
  if (kind === CoreReloKind.ENUMVAL_VALUE) {
    return `enumerator ${localSpec} not found in the target`;
  }
  return `field ${localSpec} not found in the target`;
}

/** What relocateRecord needs of a function: where it sits in its section. */
export interface FunctionRange {
  name: string;
  section: string;
  /** Byte offset of the function within the section. */
  offset: number;
}

/** What relocateRecord needs of an object. */
export interface CoreObject {
  name: string;
  btf: Btf;
}

/**
 * Resolves and applies one record. `buf` holds the instructions `fn` starts at, unless
 * `bufBase` says where the function starts within `buf` (instructions).
 */
export function relocateRecord(
  spec: CoreObject,
  fn: FunctionRange,
  buf: InsnBuffer,
  rec: CoreReloRecord,
  index: number,
  target: Btf,
  cache: CandidateCache,
  bufBase = 0,
): CoreRelocationResult {
  const insn = (rec.insnOff - fn.offset) / INSN_SIZE;
  const ctx: CoreErrorContext = { object: spec.name, program: fn.name, relo: index, insn };
  let r: Resolved;
  let outcome;
  try {
    r = resolve(spec.btf, rec, target, cache, ctx);
    outcome = patchInsn(buf, bufBase + insn, r.values);
  } catch (e) {
    if (e instanceof CoreError) throw e;
    // Anything else (a malformed local or target BTF met while matching, an index outside
    // the instructions) still names the object, program and relocation.
    const msg = e instanceof Error ? e.message : String(e);
    throw new CoreError(ctx, msg, { cause: e });
  }
  const localSpec = formatSpec(r.local, false);
  const poisoned = outcome.poisoned;
  const result: CoreRelocationResult = {
    program: fn.name,
    section: fn.section,
    relo: index,
    insn,
    kind: reloKindName(rec.kind),
    kindId: rec.kind,
    localType: rec.typeId,
    localTypeName: nameOf(spec.btf, rec.typeId),
    access: rec.accessStr,
    localSpec,
    targetType: r.target && rec.kind !== CoreReloKind.TYPE_ID_LOCAL ? r.target.rootTypeId : null,
    targetSpec: r.target && rec.kind !== CoreReloKind.TYPE_ID_LOCAL
      ? formatSpec(r.target, false)
      : null,
    old: num(outcome.old),
    new: num(poisoned ? 0n : r.values.new),
    poisoned,
  };
  if (outcome.memSize) result.memSize = outcome.memSize;
  if (poisoned) result.reason = explainPoison(rec.kind, localSpec, outcome.note);
  return result;
}

function checkRecord(spec: ObjectSpec, section: string, rec: CoreReloRecord, index: number) {
  if (rec.insnOff % INSN_SIZE !== 0) {
    throw new CoreError(
      { object: spec.name, relo: index },
      `record in section ${section} has insn offset ${rec.insnOff}, not a multiple of 8`,
    );
  }
}

/**
 * Relocates one function (entry program or subprogram) in place against `target`.
 * Candidate lists are shared across calls for the same (spec, target), as in libbpf.
 */
export function relocateCore(
  spec: ObjectSpec,
  program: ProgramSpec,
  target: Btf,
): CoreRelocationResult[] {
  const records = spec.ext?.coreRelos.get(program.section) ?? [];
  const cache = cacheFor(spec, target);
  const buf = new InsnBuffer(program.insns);
  const out: CoreRelocationResult[] = [];
  const end = program.offset + program.insns.length;
  const sectionSize = program.sectionSize;
  records.forEach((rec, i) => {
    checkRecord(spec, program.section, rec, i);
    if (rec.insnOff >= Math.max(sectionSize, end)) {
      throw new CoreError(
        { object: spec.name, program: program.name, relo: i },
        `record in section ${program.section} at byte ${rec.insnOff} points outside the section`,
      );
    }
    if (rec.insnOff < program.offset || rec.insnOff >= end) return; // another function's
    out.push(relocateRecord(spec, program, buf, rec, i, target, cache));
  });
  return out;
}

/**
 * Relocates every function of the object, in libbpf's order (.BTF.ext sections, records in
 * order). A record that points at no function is a CoreError. Results are appended to `out`
 * as they are made, so a caller catching a CoreError still sees the ones before it.
 */
export function relocateObject(
  spec: ObjectSpec,
  target: Btf,
  out: CoreRelocationResult[] = [],
): CoreRelocationResult[] {
  if (!spec.ext) return out;
  const cache = cacheFor(spec, target);
  const fns = spec.programs.concat(spec.subprograms);
  prefetchCandidates(spec, target, fns);
  const bufs = new Map<ProgramSpec, InsnBuffer>();
  for (const [section, records] of spec.ext.coreRelos) {
    records.forEach((rec, i) => {
      checkRecord(spec, section, rec, i);
      const fn = fns.find((p) =>
        p.section === section && rec.insnOff >= p.offset && rec.insnOff < p.offset + p.insns.length
      );
      if (!fn) {
        throw new CoreError(
          { object: spec.name, relo: i },
          `record in section ${section} at byte ${rec.insnOff} points outside every program`,
        );
      }
      let buf = bufs.get(fn);
      if (!buf) bufs.set(fn, buf = new InsnBuffer(fn.insns));
      out.push(relocateRecord(spec, fn, buf, rec, i, target, cache));
    });
  }
  return out;
}
