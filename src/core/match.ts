// Matching a local spec against one candidate target type (libbpf's bpf_core_spec_match and
// bpf_core_match_member): named members are found by name, recursing through anonymous
// structs/unions; array indices are checked against the target's bounds. Pure.

import type { Btf } from "../btf/reader.ts";
import { Kind } from "../btf/types.ts";
import { CoreStepError } from "./errors.ts";
import { CoreReloKind, isEnumvalKind, isFieldKind, isTypeKind } from "./kinds.ts";
import { isAnyEnum, isComposite, kindOf, resolveSize, skipMods, typeOf } from "./btf-view.ts";
import { type Accessor, type CoreSpec, emptySpec, isFlexArray, SPEC_MAX_LEN } from "./spec.ts";
import { fieldsAreCompat, typesAreCompat, typesMatch } from "./compat.ts";
import { essentialNameLength } from "./names.ts";

interface Member {
  name: string;
  type: number;
  bitOffset: number;
}

function members(btf: Btf, id: number): Member[] {
  return (typeOf(btf, id) as unknown as { members: Member[] }).members;
}

/**
 * bpf_core_match_member: finds the target member matching the local named accessor,
 * extending `spec` (raw indices, bit offset, high-level accessor). Returns the next target
 * type id, 0-or-more: -1 when not found / not compatible.
 */
function matchMember(
  lb: Btf,
  local: Accessor,
  tb: Btf,
  targId: number,
  spec: CoreSpec,
): number {
  targId = skipMods(tb, targId);
  if (targId < 0) throw new CoreStepError("target type does not resolve (EINVAL)");
  if (!isComposite(kindOf(tb, targId))) return -1;
  const localMember = members(lb, local.typeId)[local.idx];
  const ms = members(tb, targId);
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i];
    if (spec.raw.length === SPEC_MAX_LEN) throw new CoreStepError("nesting too deep (E2BIG)");
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === "") {
      const found = matchMember(lb, local, tb, m.type, spec);
      if (found >= 0) return found;
    } else if (m.name === localMember.name) {
      spec.spec.push({ typeId: targId, idx: i, name: m.name });
      if (fieldsAreCompat(lb, localMember.type, tb, m.type)) return m.type;
      spec.spec.pop();
      // libbpf returns "not found" here without undoing the speculative raw index.
      return -1;
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return -1;
}

/**
 * bpf_core_spec_match: fills `targ` (a fresh spec rooted at targId) and returns whether the
 * local spec matches that candidate.
 */
export function specMatch(local: CoreSpec, tb: Btf, targId: number, targ: CoreSpec): boolean {
  const kind = local.kind;
  if (isTypeKind(kind)) {
    if (kind === CoreReloKind.TYPE_MATCHES) {
      return typesMatch(local.btf, local.rootTypeId, tb, targId);
    }
    return typesAreCompat(local.btf, local.rootTypeId, tb, targId);
  }
  if (isEnumvalKind(kind)) {
    const id = skipMods(tb, targId);
    if (id < 0 || !isAnyEnum(kindOf(tb, id))) return false;
    const localName = local.spec[0].name ?? "";
    const len = essentialNameLength(localName);
    const essential = localName.slice(0, len);
    const values = (typeOf(tb, id) as { values: { name: string }[] }).values;
    for (let i = 0; i < values.length; i++) {
      const n = values[i].name;
      // Cheap prefix test first; then the exact libbpf rule (same essential length).
      if (!n.startsWith(essential) || essentialNameLength(n) !== len) continue;
      targ.spec.push({ typeId: id, idx: i, name: n });
      targ.raw.push(i);
      return true;
    }
    return false;
  }
  if (!isFieldKind(kind)) throw new CoreStepError(`unknown relocation kind ${kind}`);

  let id = targId;
  for (let i = 0; i < local.spec.length; i++) {
    const lacc = local.spec[i];
    id = skipMods(tb, id);
    if (id < 0) throw new CoreStepError("target type does not resolve (EINVAL)");
    if (lacc.name !== null) {
      const next = matchMember(local.btf, lacc, tb, id, targ);
      if (next < 0) return false;
      id = next;
    } else {
      if (i > 0) {
        if (kindOf(tb, id) !== Kind.ARRAY) return false;
        const a = typeOf(tb, id);
        if (a.kind !== Kind.ARRAY) return false;
        const flex = isFlexArray(tb, targ.spec[i - 1], a.nelems);
        if (!flex && lacc.idx >= a.nelems) return false;
        const elem = skipMods(tb, a.elemType);
        if (elem < 0) throw new CoreStepError("array element type does not resolve (EINVAL)");
        id = elem;
      }
      if (targ.raw.length === SPEC_MAX_LEN) throw new CoreStepError("nesting too deep (E2BIG)");
      targ.spec.push({ typeId: id, idx: lacc.idx, name: null });
      targ.raw.push(lacc.idx);
      targ.bitOffset += lacc.idx * resolveSize(tb, id) * 8;
    }
  }
  return true;
}

export function newTargetSpec(local: CoreSpec, tb: Btf, targId: number): CoreSpec {
  return emptySpec(tb, targId, local.kind);
}
