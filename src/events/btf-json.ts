// Any BTF type's bytes as JSON, for `tracer run`: a record of a BPF developer's object, or a
// map's key or value, decoded by the object's own BTF. Integers signed or unsigned as BTF says
// (64-bit ones exact: a bigint past 2^53), bool, enums by name (the number when no enumerator
// matches), char arrays as text by the project's lossless rule (src/output/json.ts: up to the
// first NUL; `<field>_b64` beside it when not UTF-8), other arrays as arrays, structs and
// unions as objects (anonymous members merged into their parent, as in C), pointers as
// numbers, bitfields, floats. A record shorter than its type (a variable-sized event) gets the
// fields that fit: a char array is cut at the record's end, a field past it is left out.
// Built once per type. Pure: imports nothing from a runtime.

import { type BtfType, INT_BOOL, INT_CHAR, INT_SIGNED, Kind } from "../btf/types.ts";
import { bitfieldReader, DecoderError, intReader } from "./decoder.ts";
import { escapeBytes } from "../output/escape.ts";
import { type JsonValue, setBytesField, setBytesListField } from "../output/json.ts";

/** The part of the Btf class (src/btf/reader.ts) the decoder needs. */
export interface JsonTypeSource {
  type(id: number): BtfType;
  resolve(id: number): number;
  sizeOf(id: number): number;
}

/** A char array's bytes (to be placed with the lossless rule), a value, or nothing (past end). */
type Value = JsonValue | Uint8Array | undefined;
type Read = (dv: DataView, off: number, end: number) => Value;

const OPTS = { u64: "auto", chars: "string" } as const;

export interface JsonDecoder {
  /** The type's name ("" when anonymous) and size in bytes. */
  readonly name: string;
  readonly size: number;
  /**
   * Sets record[field] to the value of the `len` bytes at `offset` of `view` (default: the
   * type's size), and record[field_b64] when a char array's bytes are not UTF-8.
   */
  put(
    record: Record<string, JsonValue>,
    field: string,
    view: DataView,
    offset: number,
    len?: number,
  ): void;
}

/** Places one decoded value under `name` in `obj`, by the lossless rule for char arrays. */
function place(obj: Record<string, JsonValue>, name: string, v: Value): void {
  if (v === undefined) return;
  if (v instanceof Uint8Array) setBytesField(obj, name, v);
  else if (Array.isArray(v) && v.length > 0 && v[0] instanceof Uint8Array) {
    setBytesListField(obj, name, v as unknown as Uint8Array[]);
  } else obj[name] = v;
}

/** A value nested where no sibling field can hold its base64 (an array of arrays). */
function plain(v: Value): JsonValue {
  return v instanceof Uint8Array ? escapeBytes(v) : v ?? null;
}

class Builder {
  private readonly inside = new Set<number>();

  constructor(private readonly btf: JsonTypeSource) {}

  private isChar(id: number): boolean {
    const t = this.btf.type(id);
    const r = this.btf.type(this.btf.resolve(id));
    if (r.kind !== Kind.INT || r.size !== 1) return false;
    if (r.encoding & INT_CHAR) return true;
    // clang emits plain `char` as a signed 1-byte INT named "char"; u8/__u8 typedefs stay bytes.
    return t.kind !== Kind.TYPEDEF && /^(signed |unsigned )?char$/.test(r.name);
  }

  /** A reader of type `id`; `flexible`: a trailing `T x[]` that runs to the record's end. */
  read(id: number, flexible = false): Read {
    const t = this.btf.type(this.btf.resolve(id));
    const size = t.kind === Kind.ARRAY || t.kind === Kind.PTR ? 0 : this.btf.sizeOf(t.id);
    const fits = (r: (dv: DataView, o: number, e: number) => Value): Read => (dv, o, e) =>
      o + size <= e ? r(dv, o, e) : undefined;
    switch (t.kind) {
      case Kind.INT: {
        const r = intReader(t.size, (t.encoding & INT_SIGNED) !== 0, OPTS);
        if (t.encoding & INT_BOOL) return fits((dv, o, e) => r(dv, o, e) !== 0);
        return fits(r as Read);
      }
      case Kind.ENUM:
      case Kind.ENUM64: {
        const r = intReader(t.size, t.signed, OPTS);
        const names = new Map(t.values.map((v) => [v.value, v.name]));
        return fits((dv, o, e) => {
          const n = r(dv, o, e) as number | bigint;
          return names.get(BigInt(n)) ?? n;
        });
      }
      case Kind.PTR: {
        const r = intReader(8, false, OPTS);
        return (dv, o, e) => o + 8 <= e ? r(dv, o, e) as number | bigint : undefined;
      }
      case Kind.FLOAT:
        if (t.size === 4) return fits((dv, o) => dv.getFloat32(o, true));
        if (t.size === 8) return fits((dv, o) => dv.getFloat64(o, true));
        throw new DecoderError(`cannot decode a float of ${t.size} bytes`);
      case Kind.ARRAY:
        return this.array(t.elemType, t.nelems, flexible);
      case Kind.STRUCT:
      case Kind.UNION:
        return this.composite(t.id);
      default:
        throw new DecoderError(`cannot decode a value of kind ${Kind[t.kind]} (type ${t.id})`);
    }
  }

  private array(elem: number, n: number, flexible: boolean): Read {
    const elemSize = this.btf.sizeOf(elem);
    if (this.isChar(elem)) {
      // Up to the first NUL, within the array and the record.
      return (dv, o, e) => {
        const max = Math.min(flexible ? Infinity : n, e - o);
        // Past the record's end: left out (a flexible tail ending with the record: empty).
        if (flexible ? o > e : max <= 0 && n > 0) return undefined;
        const bytes = new Uint8Array(dv.buffer, dv.byteOffset + o, Math.max(0, max));
        const nul = bytes.indexOf(0);
        return (nul < 0 ? bytes : bytes.subarray(0, nul)).slice();
      };
    }
    const r = this.read(elem);
    return (dv, o, e) => {
      const count = flexible || o + n * elemSize > e
        ? Math.max(0, Math.floor((e - o) / elemSize))
        : n;
      if (flexible ? o > e : count === 0 && n > 0) return undefined;
      const out: Value[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = r(dv, o + i * elemSize, e);
      // An array of char arrays keeps its bytes for the parent (setBytesListField).
      if (out.length > 0 && out[0] instanceof Uint8Array) return out as unknown as Uint8Array;
      return out.map(plain);
    };
  }

  private composite(id: number): Read {
    const t = this.btf.type(id);
    if (t.kind !== Kind.STRUCT && t.kind !== Kind.UNION) throw new DecoderError("not a struct");
    if (this.inside.has(id)) throw new DecoderError(`struct '${t.name}' contains itself`);
    this.inside.add(id);
    const names: string[] = [];
    const offs: number[] = [];
    const readers: Read[] = [];
    const add = (members: typeof t.members, base: number, isLast: boolean) => {
      members.forEach((m, i) => {
        const last = isLast && i === members.length - 1;
        const mt = this.btf.type(this.btf.resolve(m.type));
        if (m.name === "" && (mt.kind === Kind.STRUCT || mt.kind === Kind.UNION)) {
          add(mt.members, base + m.bitOffset, last);
          return;
        }
        const bitOff = base + m.bitOffset;
        if (m.bitfieldSize > 0 || bitOff % 8 !== 0) {
          const bits = m.bitfieldSize > 0 ? m.bitfieldSize : this.btf.sizeOf(m.type) * 8;
          const signed = mt.kind === Kind.INT
            ? (mt.encoding & INT_SIGNED) !== 0
            : (mt.kind === Kind.ENUM || mt.kind === Kind.ENUM64) && mt.signed;
          const r = bitfieldReader(bitOff, bits, signed);
          const endByte = Math.ceil((bitOff + bits) / 8);
          names.push(m.name);
          offs.push(0);
          readers.push((dv, o, e) => o + endByte <= e ? r(dv, o, e) as number : undefined);
          return;
        }
        names.push(m.name);
        offs.push(bitOff / 8);
        readers.push(this.read(m.type, last && mt.kind === Kind.ARRAY && mt.nelems === 0));
      });
    };
    add(t.members, 0, true);
    this.inside.delete(id);
    return (dv, o, e) => {
      if (o >= e && t.size > 0) return undefined;
      const obj: Record<string, JsonValue> = {};
      for (let i = 0; i < names.length; i++) {
        place(obj, names[i], readers[i](dv, o + offs[i], e));
      }
      return obj;
    };
  }
}

/** The JSON decoder of type `id` of `btf` (any type with a size, typedefs followed). */
export function jsonDecoder(btf: JsonTypeSource, id: number): JsonDecoder {
  const read = new Builder(btf).read(id);
  const t = btf.type(btf.resolve(id));
  const size = btf.sizeOf(id);
  return {
    name: t.name,
    size,
    put(record, field, view, offset, len = size) {
      place(record, field, read(view, offset, offset + len));
    },
  };
}

/**
 * The sum of per-CPU values: integers added; arrays and objects summed member by member when
 * every CPU's has the same shape; undefined when anything is not an integer (text, bool).
 */
export function sumJson(values: readonly JsonValue[]): JsonValue | undefined {
  if (values.length === 0) return undefined;
  const first = values[0];
  if (typeof first === "number" || typeof first === "bigint") {
    let total = 0n;
    for (const v of values) {
      if (typeof v !== "number" && typeof v !== "bigint") return undefined;
      total += BigInt(v);
    }
    return total <= BigInt(Number.MAX_SAFE_INTEGER) && total >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(total)
      : total;
  }
  if (Array.isArray(first)) {
    const out: JsonValue[] = [];
    for (let i = 0; i < first.length; i++) {
      const s = sumJson(values.map((v) => (Array.isArray(v) ? v[i] : undefined) as JsonValue));
      if (s === undefined) return undefined;
      out.push(s);
    }
    return out;
  }
  if (first !== null && typeof first === "object") {
    const out: Record<string, JsonValue> = {};
    for (const k of Object.keys(first)) {
      const s = sumJson(values.map((v) => (v as Record<string, JsonValue>)?.[k]));
      if (s === undefined) return undefined;
      out[k] = s;
    }
    return out;
  }
  return undefined;
}
