// One BTF type as a plain JSON object (for `tracer btf dump --format json`): id, kind name,
// name, and the kind's fields; members carry bit offsets and bitfield sizes. Enum values
// beyond 2^53 are strings so no precision is lost. Pure.

import type { Btf } from "./reader.ts";
import { Kind, KIND_NAMES } from "./types.ts";

export type JsonType = Record<string, unknown>;

const LINKAGE = ["static", "global", "extern"];

function num(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v.toString();
}

export function typeToJson(btf: Btf, id: number): JsonType {
  const t = btf.type(id);
  const o: JsonType = { id, kind: KIND_NAMES[t.kind], name: t.name };
  switch (t.kind) {
    case Kind.INT:
      Object.assign(o, {
        size: t.size,
        bits: t.bits,
        offset: t.offset,
        signed: (t.encoding & 1) !== 0,
        char: (t.encoding & 2) !== 0,
        bool: (t.encoding & 4) !== 0,
      });
      break;
    case Kind.PTR:
    case Kind.TYPEDEF:
    case Kind.VOLATILE:
    case Kind.CONST:
    case Kind.RESTRICT:
    case Kind.TYPE_TAG:
      o.type = t.type;
      break;
    case Kind.ARRAY:
      Object.assign(o, { type: t.elemType, indexType: t.indexType, nelems: t.nelems });
      break;
    case Kind.STRUCT:
    case Kind.UNION:
      o.size = t.size;
      o.members = t.members.map((m) => ({
        name: m.name,
        type: m.type,
        bitOffset: m.bitOffset,
        bitfieldSize: m.bitfieldSize,
      }));
      break;
    case Kind.ENUM:
    case Kind.ENUM64:
      o.size = t.size;
      o.signed = t.signed;
      o.values = t.values.map((v) => ({ name: v.name, value: num(v.value) }));
      break;
    case Kind.FWD:
      o.fwdKind = t.union ? "union" : "struct";
      break;
    case Kind.FUNC:
      Object.assign(o, { type: t.type, linkage: LINKAGE[t.linkage] ?? t.linkage });
      break;
    case Kind.FUNC_PROTO:
      o.returnType = t.returnType;
      o.params = t.params.map((p) => ({ name: p.name, type: p.type }));
      break;
    case Kind.VAR:
      Object.assign(o, { type: t.type, linkage: LINKAGE[t.linkage] ?? t.linkage });
      break;
    case Kind.DATASEC:
      o.size = t.size;
      o.vars = t.vars.map((v) => ({ type: v.type, offset: v.offset, size: v.size }));
      break;
    case Kind.FLOAT:
      o.size = t.size;
      break;
    case Kind.DECL_TAG:
      Object.assign(o, { type: t.type, componentIdx: t.componentIdx });
      break;
  }
  return o;
}
