// The few BTF queries the CO-RE engine needs, with libbpf's semantics for void (id 0),
// out-of-range ids and sizes (btf__resolve_size). Pure.

import type { Btf } from "../btf/reader.ts";
import { type BtfType, Kind } from "../btf/types.ts";
import { CoreStepError } from "./errors.ts";

/** libbpf's btf_kind_str. */
const KIND_STR = [
  "void",
  "int",
  "ptr",
  "array",
  "struct",
  "union",
  "enum",
  "fwd",
  "typedef",
  "volatile",
  "const",
  "restrict",
  "func",
  "func_proto",
  "var",
  "datasec",
  "float",
  "decl_tag",
  "type_tag",
  "enum64",
];

export function kindStr(kind: Kind): string {
  return KIND_STR[kind] ?? "unknown";
}

export function validId(btf: Btf, id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < btf.count;
}

/** Kind of a type; void for id 0; throws CoreStepError for an id outside the BTF. */
export function kindOf(btf: Btf, id: number): Kind {
  if (!validId(btf, id)) {
    throw new CoreStepError(`type id ${id} out of range (0..${btf.count - 1})`);
  }
  return btf.kind(id);
}

export function nameOf(btf: Btf, id: number): string {
  return id === 0 ? "" : btf.name(id);
}

/** Decodes a non-void type (callers check the id first). */
export function typeOf(btf: Btf, id: number): BtfType {
  return btf.type(id);
}

/** skip_mods_and_typedefs: the id after TYPEDEF/CONST/VOLATILE/RESTRICT/TYPE_TAG, or -1. */
export function skipMods(btf: Btf, id: number): number {
  if (!validId(btf, id)) return -1;
  try {
    const r = btf.resolve(id);
    return validId(btf, r) ? r : -1;
  } catch {
    return -1;
  }
}

export function isComposite(k: Kind): boolean {
  return k === Kind.STRUCT || k === Kind.UNION;
}

export function isAnyEnum(k: Kind): boolean {
  return k === Kind.ENUM || k === Kind.ENUM64;
}

/** btf_kind_core_compat: same kind, or both enums (enum vs enum64 allowed). */
export function kindsCoreCompat(a: Kind, b: Kind): boolean {
  return a === b || (isAnyEnum(a) && isAnyEnum(b));
}

const MAX_RESOLVE_DEPTH = 32;

/** btf__resolve_size, throwing CoreStepError where libbpf returns an error. */
export function resolveSize(btf: Btf, id: number): number {
  let nelems = 1;
  for (let i = 0; i < MAX_RESOLVE_DEPTH && id !== 0; i++) {
    const k = kindOf(btf, id);
    switch (k) {
      case Kind.INT:
      case Kind.STRUCT:
      case Kind.UNION:
      case Kind.ENUM:
      case Kind.ENUM64:
      case Kind.DATASEC:
      case Kind.FLOAT: {
        const t = typeOf(btf, id) as { size: number };
        const size = t.size * nelems;
        if (size > 0xffffffff) throw new CoreStepError(`size of type ${id} overflows (E2BIG)`);
        return size;
      }
      case Kind.PTR:
        return 8 * nelems;
      case Kind.TYPEDEF:
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT:
      case Kind.VAR:
      case Kind.DECL_TAG:
      case Kind.TYPE_TAG:
        id = (typeOf(btf, id) as { type: number }).type;
        break;
      case Kind.ARRAY: {
        const a = typeOf(btf, id);
        if (a.kind !== Kind.ARRAY) throw new CoreStepError(`type ${id} is not an array`);
        if (nelems && a.nelems > Math.floor(0xffffffff / nelems)) {
          throw new CoreStepError(`array size of type ${id} overflows (E2BIG)`);
        }
        nelems *= a.nelems;
        id = a.elemType;
        break;
      }
      default:
        throw new CoreStepError(`type [${id}] ${kindStr(k)} has no size (EINVAL)`);
    }
  }
  throw new CoreStepError(`cannot resolve the size of type ${id} (EINVAL)`);
}
