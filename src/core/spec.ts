// CO-RE access specs: an access string ("0:1:2:3") parsed against a type into low-level
// (raw indices) and high-level (named fields and array indices) accessors with the bit
// offset they reach (libbpf's bpf_core_parse_spec), and printed in libbpf's notation
// ("<byte_off> [9] struct core_sample.arr[2].b (0:2:2:1 @ offset 36)"). Pure.

import type { Btf } from "../btf/reader.ts";
import { Kind } from "../btf/types.ts";
import { CoreStepError } from "./errors.ts";
import { isEnumvalKind, isFieldKind, isTypeKind, reloKindName } from "./kinds.ts";
import {
  isAnyEnum,
  isComposite,
  kindOf,
  kindStr,
  nameOf,
  resolveSize,
  skipMods,
  typeOf,
} from "./btf-view.ts";

/** BPF_CORE_SPEC_MAX_LEN */
export const SPEC_MAX_LEN = 64;

export interface Accessor {
  /** For a named member: the struct/union id; for an array element: the element type id. */
  typeId: number;
  idx: number;
  /** Member or enumerator name; null for array accesses. */
  name: string | null;
}

export interface CoreSpec {
  btf: Btf;
  rootTypeId: number;
  kind: number;
  /** Low-level spec: every index, including anonymous members. */
  raw: number[];
  /** High-level spec: named members and array indices. */
  spec: Accessor[];
  bitOffset: number;
}

export function emptySpec(btf: Btf, rootTypeId: number, kind: number): CoreSpec {
  return { btf, rootTypeId, kind, raw: [], spec: [], bitOffset: 0 };
}

/** Parses "N(:N)*" strictly, as libbpf's sscanf loop accepts it (no signs, no gaps). */
export function parseAccessString(access: string): number[] {
  if (!/^\d+(:\d+)*$/.test(access)) {
    throw new CoreStepError(`malformed access string '${access}'`);
  }
  const raw = access.split(":").map(Number);
  if (raw.some((n) => n > 0x7fffffff)) {
    throw new CoreStepError(`access string '${access}' has an index out of range`);
  }
  if (raw.length > SPEC_MAX_LEN) {
    throw new CoreStepError(`access string '${access}' is longer than ${SPEC_MAX_LEN} (E2BIG)`);
  }
  return raw;
}

/** is_flex_arr: a zero-length array that is the last member of the enclosing struct. */
export function isFlexArray(btf: Btf, prev: Accessor | undefined, nelems: number): boolean {
  if (!prev || prev.name === null || nelems > 0) return false;
  const t = typeOf(btf, prev.typeId);
  if (!isComposite(t.kind)) return false;
  return prev.idx === (t as { members: unknown[] }).members.length - 1;
}

/** bpf_core_parse_spec. Throws CoreStepError where libbpf fails the relocation. */
export function parseSpec(btf: Btf, typeId: number, access: string, kind: number): CoreSpec {
  if (access === "" || access.startsWith(":")) {
    throw new CoreStepError(`malformed access string '${access}'`);
  }
  kindOf(btf, typeId); // range check
  const spec = emptySpec(btf, typeId, kind);
  if (isTypeKind(kind)) {
    if (access !== "0") {
      throw new CoreStepError(`type-based relocation needs access string "0", got '${access}'`);
    }
    return spec;
  }
  spec.raw = parseAccessString(access);

  let id = skipMods(btf, typeId);
  if (id < 0) throw new CoreStepError(`type ${typeId} does not resolve`);
  let accessIdx = spec.raw[0];
  const first: Accessor = { typeId: id, idx: accessIdx, name: null };
  spec.spec.push(first);

  if (isEnumvalKind(kind)) {
    const t = id === 0 ? null : typeOf(btf, id);
    if (!t || !isAnyEnum(t.kind)) {
      throw new CoreStepError(`enum value relocation on [${typeId}] which is not an enum`);
    }
    const values = (t as { values: { name: string }[] }).values;
    if (spec.raw.length > 1 || accessIdx >= values.length) {
      throw new CoreStepError(
        `enumerator index ${access} out of range (enum has ${values.length} values)`,
      );
    }
    first.name = values[accessIdx].name;
    return spec;
  }
  if (!isFieldKind(kind)) throw new CoreStepError(`unknown relocation kind ${kind}`);

  let sz = resolveSize(btf, id);
  spec.bitOffset = accessIdx * sz * 8;

  for (let i = 1; i < spec.raw.length; i++) {
    id = skipMods(btf, id);
    if (id < 0) throw new CoreStepError(`access ${access}: type does not resolve at index ${i}`);
    const k = kindOf(btf, id);
    accessIdx = spec.raw[i];
    if (isComposite(k)) {
      const t = typeOf(btf, id) as { members: { name: string; type: number; bitOffset: number }[] };
      if (accessIdx >= t.members.length) {
        throw new CoreStepError(
          `access ${access}: member index ${accessIdx} out of range for [${id}] (${t.members.length} members)`,
        );
      }
      const m = t.members[accessIdx];
      spec.bitOffset += m.bitOffset;
      if (m.name !== "") {
        spec.spec.push({ typeId: id, idx: accessIdx, name: m.name });
      }
      id = m.type;
    } else if (k === Kind.ARRAY) {
      const a = typeOf(btf, id);
      if (a.kind !== Kind.ARRAY) throw new CoreStepError(`type ${id} is not an array`);
      const elem = skipMods(btf, a.elemType);
      if (elem < 0) throw new CoreStepError(`array [${id}] element type does not resolve`);
      id = elem;
      const flex = isFlexArray(btf, spec.spec[spec.spec.length - 1], a.nelems);
      if (!flex && accessIdx >= a.nelems) {
        throw new CoreStepError(
          `access ${access}: array index ${accessIdx} out of bounds for [${a.id}] (${a.nelems} elements)`,
        );
      }
      spec.spec.push({ typeId: id, idx: accessIdx, name: null });
      sz = resolveSize(btf, id);
      spec.bitOffset += accessIdx * sz * 8;
    } else {
      throw new CoreStepError(
        `access ${access} (at idx ${i}) captures type [${id}] of unexpected kind ${kindStr(k)}`,
      );
    }
  }
  return spec;
}

/** bpf_core_format_spec: libbpf's notation for a (local or target) spec. */
export function formatSpec(spec: CoreSpec, withKind = true): string {
  const { btf, rootTypeId: id } = spec;
  const k = btf.kind(id);
  const name = nameOf(btf, id);
  let s = `${withKind ? `<${reloKindName(spec.kind)}> ` : ""}[${id}] ${kindStr(k)} ${
    name === "" ? "<anon>" : name
  }`;
  if (isTypeKind(spec.kind)) return s;
  if (isEnumvalKind(spec.kind)) {
    const tid = skipMods(btf, id);
    const t = tid > 0 ? typeOf(btf, tid) : null;
    if (t && isAnyEnum(t.kind) && spec.raw.length > 0) {
      const e = (t as { values: { name: string; value: bigint }[] }).values[spec.raw[0]];
      if (e) s += `::${e.name} = ${e.value}`;
    }
    return s;
  }
  spec.spec.forEach((acc, i) => {
    if (acc.name !== null) s += `.${acc.name}`;
    else if (i > 0 || acc.idx > 0) s += `[${acc.idx}]`;
  });
  s += ` (${spec.raw.join(":")}`;
  const bits = spec.bitOffset;
  s += bits % 8 ? ` @ offset ${Math.floor(bits / 8)}.${bits % 8})` : ` @ offset ${bits / 8})`;
  return s;
}
