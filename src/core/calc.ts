// Computing a relocation's original and new values from the local and target specs
// (libbpf's bpf_core_calc_field_relo / _type_relo / _enumval_relo / bpf_core_calc_relo).
// Values are u64 bigints, as libbpf holds them. Pure.

import type { Btf } from "../btf/reader.ts";
import { type BtfType, INT_SIGNED, Kind } from "../btf/types.ts";
import { CoreStepError } from "./errors.ts";
import { CoreReloKind, isEnumvalKind, isFieldKind, isTypeKind, reloKindName } from "./kinds.ts";
import { isAnyEnum, resolveSize, skipMods, typeOf } from "./btf-view.ts";
import type { CoreSpec } from "./spec.ts";

/** Signals "poison the instruction" (libbpf's -EUCLEAN). */
const POISON = Symbol("poison");

export interface RelocationValues {
  orig: bigint;
  new: bigint;
  poison: boolean;
  validate: boolean;
  failMemSizeAdjust: boolean;
  origSize: number;
  newSize: number;
  origTypeId: number;
  newTypeId: number;
}

interface FieldResult {
  val: bigint;
  fieldSize: number;
  typeId: number;
  validate: boolean;
}

function fieldRelo(kind: number, spec: CoreSpec | null): FieldResult | typeof POISON {
  const r: FieldResult = { val: 0n, fieldSize: 0, typeId: 0, validate: true };
  if (kind === CoreReloKind.FIELD_EXISTS) {
    r.val = spec ? 1n : 0n;
    return r;
  }
  if (!spec) return POISON;
  const { btf } = spec;
  const acc = spec.spec[spec.spec.length - 1];

  if (acc.name === null) {
    if (kind === CoreReloKind.FIELD_BYTE_OFFSET) {
      r.val = BigInt(Math.floor(spec.bitOffset / 8));
      r.fieldSize = resolveSize(btf, acc.typeId);
      r.typeId = acc.typeId;
    } else if (kind === CoreReloKind.FIELD_BYTE_SIZE) {
      r.val = BigInt(resolveSize(btf, acc.typeId));
    } else {
      throw new CoreStepError(`${reloKindName(kind)} relocation can't be applied to array access`);
    }
    r.validate = true;
    return r;
  }

  const t = typeOf(btf, acc.typeId) as { members: { type: number; bitfieldSize: number }[] };
  const m = t.members[acc.idx];
  const fieldTypeId = skipMods(btf, m.type);
  if (fieldTypeId < 0) throw new CoreStepError(`member type ${m.type} does not resolve`);
  const mt: BtfType | null = fieldTypeId === 0 ? null : typeOf(btf, fieldTypeId);
  const bitOff = spec.bitOffset;
  let bitSz = m.bitfieldSize;
  let byteSz: number;
  let byteOff: number;
  const bitfield = bitSz > 0;
  if (bitfield) {
    byteSz = (mt as { size?: number } | null)?.size ?? 0;
    if (byteSz === 0) throw new CoreStepError(`bitfield of type ${fieldTypeId} has no size`);
    byteOff = Math.floor(Math.floor(bitOff / 8) / byteSz) * byteSz;
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) {
        throw new CoreStepError(
          `bitfield at bit ${bitOff} of ${bitSz} bits can't be read with a 64-bit load (E2BIG)`,
        );
      }
      byteSz *= 2;
      byteOff = Math.floor(Math.floor(bitOff / 8) / byteSz) * byteSz;
    }
  } else {
    byteSz = resolveSize(btf, fieldTypeId);
    byteOff = Math.floor(spec.bitOffset / 8);
    bitSz = byteSz * 8;
  }
  r.validate = !bitfield;

  switch (kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET:
      r.val = BigInt(byteOff);
      if (!bitfield) {
        r.fieldSize = byteSz;
        r.typeId = fieldTypeId;
      }
      break;
    case CoreReloKind.FIELD_BYTE_SIZE:
      r.val = BigInt(byteSz);
      break;
    case CoreReloKind.FIELD_SIGNED: {
      const signedEnum = mt !== null && isAnyEnum(mt.kind) && (mt as { signed: boolean }).signed;
      const signedInt = mt !== null && mt.kind === Kind.INT && (mt.encoding & INT_SIGNED) !== 0;
      r.val = signedEnum || signedInt ? 1n : 0n;
      r.validate = true;
      break;
    }
    case CoreReloKind.FIELD_LSHIFT_U64:
      // libbpf computes shifts in u32 arithmetic (wrapping), then widens to u64.
      r.val = BigInt.asUintN(32, BigInt(64 - (bitOff + bitSz - byteOff * 8)));
      break;
    case CoreReloKind.FIELD_RSHIFT_U64:
      r.val = BigInt.asUintN(32, BigInt(64 - bitSz));
      r.validate = true;
      break;
    default:
      throw new CoreStepError(`unrecognized CO-RE relocation ${reloKindName(kind)} (${kind})`);
  }
  return r;
}

function typeRelo(kind: number, spec: CoreSpec | null): { val: bigint; validate: boolean } {
  if (!spec) return { val: 0n, validate: true };
  switch (kind) {
    case CoreReloKind.TYPE_ID_TARGET:
      return { val: BigInt(spec.rootTypeId), validate: false };
    case CoreReloKind.TYPE_EXISTS:
    case CoreReloKind.TYPE_MATCHES:
      return { val: 1n, validate: true };
    case CoreReloKind.TYPE_SIZE:
      return { val: BigInt(resolveSize(spec.btf, spec.rootTypeId)), validate: true };
    default:
      throw new CoreStepError(`unrecognized CO-RE relocation ${reloKindName(kind)} (${kind})`);
  }
}

function enumvalRelo(kind: number, spec: CoreSpec | null): bigint | typeof POISON {
  if (kind === CoreReloKind.ENUMVAL_EXISTS) return spec ? 1n : 0n;
  if (kind !== CoreReloKind.ENUMVAL_VALUE) {
    throw new CoreStepError(`unrecognized CO-RE relocation ${reloKindName(kind)} (${kind})`);
  }
  if (!spec) return POISON;
  const acc = spec.spec[0];
  const t = typeOf(spec.btf, acc.typeId) as { kind: Kind; values: { value: bigint }[] };
  const v = t.values[acc.idx].value;
  // A 32-bit enumerator is an s32 widened to u64 (sign-extended, whatever the enum's sign).
  return t.kind === Kind.ENUM ? BigInt.asUintN(64, BigInt.asIntN(32, v)) : BigInt.asUintN(64, v);
}

function isPtr(btf: Btf, id: number): boolean {
  return id !== 0 && btf.kind(id) === Kind.PTR;
}

function unsignedInt(btf: Btf, id: number): boolean {
  if (id === 0 || btf.kind(id) !== Kind.INT) return false;
  return (typeOf(btf, id) as { encoding: number }).encoding !== INT_SIGNED;
}

/** bpf_core_calc_relo: values of one relocation against one target spec (null: none). */
export function calcRelo(
  kind: number,
  local: CoreSpec,
  targ: CoreSpec | null,
): RelocationValues {
  const res: RelocationValues = {
    orig: 0n,
    new: 0n,
    poison: false,
    validate: true,
    failMemSizeAdjust: false,
    origSize: 0,
    newSize: 0,
    origTypeId: 0,
    newTypeId: 0,
  };
  if (isFieldKind(kind)) {
    const l = fieldRelo(kind, local);
    if (l === POISON) return { ...res, poison: true };
    res.orig = l.val;
    res.origSize = l.fieldSize;
    res.origTypeId = l.typeId;
    res.validate = l.validate;
    const t = fieldRelo(kind, targ);
    if (t === POISON) {
      res.poison = true;
      return res;
    }
    res.new = t.val;
    res.newSize = t.fieldSize;
    res.newTypeId = t.typeId;
    if (res.origSize !== res.newSize) {
      const ok = (isPtr(local.btf, res.origTypeId) && isPtr(targ!.btf, res.newTypeId)) ||
        (unsignedInt(local.btf, res.origTypeId) && unsignedInt(targ!.btf, res.newTypeId));
      res.failMemSizeAdjust = !ok;
    }
  } else if (isTypeKind(kind)) {
    const l = typeRelo(kind, local);
    res.orig = l.val;
    res.validate = l.validate;
    res.new = typeRelo(kind, targ).val;
  } else if (isEnumvalKind(kind)) {
    const l = enumvalRelo(kind, local);
    if (l === POISON) return { ...res, poison: true };
    res.orig = l;
    const t = enumvalRelo(kind, targ);
    if (t === POISON) {
      res.poison = true;
      return res;
    }
    res.new = t;
  } else {
    throw new CoreStepError(`unrecognized CO-RE relocation kind ${kind}`);
  }
  return res;
}
