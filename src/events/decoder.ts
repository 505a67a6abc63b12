// Event decoding driven by BTF: given the BPF object's own BTF and the name of the event
// struct, builds once a decoder that turns a record's bytes into a plain JS object.
// No offset is written by hand anywhere: sizes, offsets, signedness and nesting come from
// the type information clang emitted for the struct the BPF program fills.
// Pure: imports nothing from a runtime.

import { FormatError, TracerError } from "../errors.ts";
import { type BtfType, INT_BOOL, INT_CHAR, INT_SIGNED, Kind } from "../btf/types.ts";

/** The part of the Btf class (src/btf/reader.ts) the decoder needs. */
export interface TypeSource {
  type(id: number): BtfType;
  byName(name: string, kind?: Kind): number[];
}

export interface DecodeOptions {
  /**
   * 64-bit integers (and pointers): "auto" gives a number when it is a safe integer and a
   * bigint otherwise (default); "bigint" always gives a bigint.
   */
  u64?: "auto" | "bigint";
  /** char arrays: "string" (C string up to the first NUL, default) or "bytes" (Uint8Array copy). */
  chars?: "string" | "bytes";
}

export type Decoded = Record<string, unknown>;

/** One leaf field of the layout (nested structs flattened with dotted names), for printers. */
export interface FieldInfo {
  path: string;
  offset: number;
  size: number;
  kind: "int" | "bool" | "enum" | "float" | "ptr" | "string" | "bytes" | "array" | "struct";
  signed: boolean;
}

export interface EventDecoder {
  /** The struct's name, as in BTF. */
  readonly name: string;
  /** The fixed size of the struct in bytes. */
  readonly size: number;
  /** The top-level fields, in order. */
  readonly fields: FieldInfo[];
  /** Decodes the record of `len` bytes (default: the struct size) at `offset` in `view`. */
  decode(view: DataView, offset: number, len?: number): Decoded;
}

export class DecoderError extends TracerError {}

export type Reader = (dv: DataView, off: number, end: number) => unknown;

const TWO32 = 4294967296;
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Decodes `bytes` as UTF-8, escaping each byte that is not part of a valid sequence as
 * "\xNN" (and "\" as "\\"), without exceptions (a throwing decoder costs microseconds).
 */
function escapeInvalidUtf8(bytes: Uint8Array): string {
  let s = "";
  const n = bytes.length;
  for (let i = 0; i < n;) {
    const b = bytes[i];
    if (b < 0x80) {
      s += b === 0x5c ? "\\\\" : String.fromCharCode(b);
      i++;
      continue;
    }
    let need = 0, cp = 0, min = 0;
    if (b >= 0xc2 && b <= 0xdf) [need, cp, min] = [1, b & 0x1f, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, cp, min] = [2, b & 0x0f, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, cp, min] = [3, b & 0x07, 0x10000];
    let ok = need > 0 && i + need < n;
    for (let k = 1; ok && k <= need; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (c & 0x3f);
    }
    if (ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff)) {
      s += String.fromCodePoint(cp);
      i += need + 1;
    } else {
      s += "\\x" + b.toString(16).padStart(2, "0");
      i++;
    }
  }
  return s;
}

/**
 * A NUL-terminated string from at most `max` bytes. Valid UTF-8 is decoded; bytes that are
 * not valid UTF-8 are kept faithfully as "\xNN" escapes (a backslash is then escaped as
 * "\\", so the text stays unambiguous).
 */
export function cString(dv: DataView, off: number, max: number): string {
  let n = 0;
  let ascii = true;
  for (; n < max; n++) {
    const b = dv.getUint8(off + n);
    if (b === 0) break;
    if (b >= 0x80) ascii = false;
  }
  if (ascii && n <= 32) {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(dv.getUint8(off + i));
    return s;
  }
  const bytes = new Uint8Array(dv.buffer, dv.byteOffset + off, n);
  const text = utf8.decode(bytes);
  // U+FFFD marks a replaced invalid sequence (or a real U+FFFD, which the slow path keeps).
  return ascii || !text.includes("\uFFFD") ? text : escapeInvalidUtf8(bytes);
}

function u64Reader(mode: "auto" | "bigint", signed: boolean): Reader {
  if (mode === "bigint") {
    return signed ? (dv, o) => dv.getBigInt64(o, true) : (dv, o) => dv.getBigUint64(o, true);
  }
  if (signed) {
    return (dv, o) => {
      const lo = dv.getUint32(o, true);
      const hi = dv.getInt32(o + 4, true);
      // |value| < 2^53 when hi is within [-2^21, 2^21)
      if (hi >= -0x200000 && hi < 0x200000) return hi * TWO32 + lo;
      return dv.getBigInt64(o, true);
    };
  }
  return (dv, o) => {
    const lo = dv.getUint32(o, true);
    const hi = dv.getUint32(o + 4, true);
    if (hi < 0x200000) return hi * TWO32 + lo;
    return dv.getBigUint64(o, true);
  };
}

export function intReader(
  size: number,
  signed: boolean,
  opts: Required<DecodeOptions>,
): Reader {
  switch (size) {
    case 1:
      return signed ? (dv, o) => dv.getInt8(o) : (dv, o) => dv.getUint8(o);
    case 2:
      return signed ? (dv, o) => dv.getInt16(o, true) : (dv, o) => dv.getUint16(o, true);
    case 4:
      return signed ? (dv, o) => dv.getInt32(o, true) : (dv, o) => dv.getUint32(o, true);
    case 8:
      return u64Reader(opts.u64, signed);
    case 16:
      return (dv, o) => {
        const lo = dv.getBigUint64(o, true);
        const hi = signed ? dv.getBigInt64(o + 8, true) : dv.getBigUint64(o + 8, true);
        return (hi << 64n) | lo;
      };
    default:
      throw new DecoderError(`cannot decode an integer of ${size} bytes`);
  }
}

/** A bitfield member: `bits` bits starting `bitOff` bits into the struct. */
export function bitfieldReader(bitOff: number, bits: number, signed: boolean): Reader {
  const first = Math.floor(bitOff / 8);
  const shift = bitOff % 8;
  const nbytes = Math.ceil((shift + bits) / 8);
  return (dv, o) => {
    let v = 0n;
    for (let i = nbytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(dv.getUint8(o + first + i));
    v = BigInt.asUintN(bits, v >> BigInt(shift));
    if (signed) v = BigInt.asIntN(bits, v);
    return Number(v);
  };
}

class Compiler {
  private readonly opts: Required<DecodeOptions>;
  private readonly depth = new Set<number>();

  constructor(private readonly btf: TypeSource, opts: DecodeOptions) {
    this.opts = { u64: opts.u64 ?? "auto", chars: opts.chars ?? "string" };
  }

  /** Skips typedefs and qualifiers. */
  resolve(id: number): BtfType {
    for (let i = 0; i < 64; i++) {
      const t = this.btf.type(id);
      switch (t.kind) {
        case Kind.TYPEDEF:
        case Kind.CONST:
        case Kind.VOLATILE:
        case Kind.RESTRICT:
        case Kind.TYPE_TAG:
          id = t.type;
          continue;
        default:
          return t;
      }
    }
    throw new DecoderError(`type ${id}: too many typedefs/qualifiers (a loop?)`);
  }

  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case Kind.INT:
      case Kind.STRUCT:
      case Kind.UNION:
      case Kind.ENUM:
      case Kind.ENUM64:
      case Kind.FLOAT:
        return t.size;
      case Kind.PTR:
        return 8;
      case Kind.ARRAY:
        return t.nelems * this.sizeOf(t.elemType);
      default:
        throw new DecoderError(`type ${id} (${Kind[t.kind]}) has no size`);
    }
  }

  private isChar(id: number): boolean {
    const t = this.btf.type(id);
    const r = this.resolve(id);
    if (r.kind !== Kind.INT || r.size !== 1) return false;
    if (r.encoding & INT_CHAR) return true;
    // clang emits plain `char` as a signed 1-byte INT named "char"; u8/__u8 typedefs stay bytes.
    return t.kind !== Kind.TYPEDEF && /^(signed |unsigned )?char$/.test(r.name);
  }

  /** A reader for a value of type `id` at a byte offset; `flexible`: trailing array of the record. */
  reader(id: number, info: FieldInfo, flexible = false): Reader {
    const t = this.resolve(id);
    switch (t.kind) {
      case Kind.INT: {
        info.size = t.size;
        if (t.encoding & INT_BOOL) {
          info.kind = "bool";
          const r = intReader(t.size, false, this.opts);
          return (dv, o, e) => r(dv, o, e) !== 0;
        }
        info.kind = "int";
        info.signed = (t.encoding & INT_SIGNED) !== 0;
        return intReader(t.size, info.signed, this.opts);
      }
      case Kind.ENUM:
      case Kind.ENUM64:
        info.kind = "enum";
        info.size = t.size;
        info.signed = t.signed;
        return intReader(t.size, t.signed, this.opts);
      case Kind.PTR:
        info.kind = "ptr";
        info.size = 8;
        return u64Reader(this.opts.u64, false);
      case Kind.FLOAT:
        info.kind = "float";
        info.size = t.size;
        if (t.size === 4) return (dv, o) => dv.getFloat32(o, true);
        if (t.size === 8) return (dv, o) => dv.getFloat64(o, true);
        throw new DecoderError(`cannot decode a float of ${t.size} bytes`);
      case Kind.ARRAY:
        return this.arrayReader(t.elemType, t.nelems, info, flexible);
      case Kind.STRUCT:
      case Kind.UNION: {
        info.kind = "struct";
        info.size = t.size;
        const d = this.composite(t.id);
        return (dv, o, e) => d.read(dv, o, e);
      }
      default:
        throw new DecoderError(
          `cannot decode a field of kind ${Kind[t.kind]} (type ${t.id} '${t.name}')`,
        );
    }
  }

  private arrayReader(elem: number, n: number, info: FieldInfo, flexible: boolean): Reader {
    const elemSize = this.sizeOf(elem);
    info.size = n * elemSize;
    if (this.isChar(elem)) {
      if (this.opts.chars === "bytes") {
        info.kind = "bytes";
        return (dv, o, e) => {
          const len = flexible ? Math.max(0, e - o) : n;
          return new Uint8Array(dv.buffer.slice(dv.byteOffset + o, dv.byteOffset + o + len));
        };
      }
      info.kind = "string";
      return flexible
        ? (dv, o, e) => cString(dv, o, Math.max(0, e - o))
        : (dv, o) => cString(dv, o, n);
    }
    info.kind = "array";
    const sub: FieldInfo = { path: "", offset: 0, size: 0, kind: "int", signed: false };
    const r = this.reader(elem, sub);
    return (dv, o, e) => {
      const count = flexible ? Math.max(0, Math.floor((e - o) / elemSize)) : n;
      const out = new Array(count);
      for (let i = 0; i < count; i++) out[i] = r(dv, o + i * elemSize, e);
      return out;
    };
  }

  /** Compiles a struct/union into parallel arrays of names, offsets and readers. */
  composite(id: number): { read: Reader; fields: FieldInfo[]; size: number } {
    const t = this.resolve(id);
    if (t.kind !== Kind.STRUCT && t.kind !== Kind.UNION) {
      throw new DecoderError(`type ${id} '${t.name}' is ${Kind[t.kind]}, not a struct`);
    }
    if (this.depth.has(t.id)) {
      throw new DecoderError(`struct '${t.name}' contains itself`);
    }
    this.depth.add(t.id);
    const names: string[] = [];
    const offs: number[] = [];
    const readers: Reader[] = [];
    const fields: FieldInfo[] = [];
    const add = (members: typeof t.members, base: number, isLast: boolean) => {
      members.forEach((m, i) => {
        const last = isLast && i === members.length - 1;
        const mt = this.resolve(m.type);
        if (m.name === "" && (mt.kind === Kind.STRUCT || mt.kind === Kind.UNION)) {
          // Anonymous struct/union: its members belong to the parent, as in C.
          add(mt.members, base + m.bitOffset / 8, last);
          return;
        }
        const info: FieldInfo = {
          path: m.name,
          offset: base + Math.floor(m.bitOffset / 8),
          size: 0,
          kind: "int",
          signed: false,
        };
        let r: Reader;
        if (m.bitfieldSize > 0 || m.bitOffset % 8 !== 0) {
          const bits = m.bitfieldSize > 0 ? m.bitfieldSize : this.sizeOf(m.type) * 8;
          const signed = mt.kind === Kind.INT
            ? (mt.encoding & INT_SIGNED) !== 0
            : mt.kind === Kind.ENUM && mt.signed;
          const bitBase = base * 8 + m.bitOffset;
          info.offset = Math.floor(bitBase / 8);
          info.size = Math.ceil(bits / 8);
          info.signed = signed;
          info.kind = "int";
          r = bitfieldReader(bitBase, bits, signed);
        } else {
          const flexible = last && mt.kind === Kind.ARRAY && mt.nelems === 0;
          r = this.reader(m.type, info, flexible);
        }
        names.push(m.name);
        // Bitfield readers take the struct's start and find their own bits.
        offs.push(
          info.kind === "int" && (m.bitfieldSize > 0 || m.bitOffset % 8 !== 0) ? 0 : info.offset,
        );
        readers.push(r);
        fields.push(info);
      });
    };
    add(t.members, 0, true);
    this.depth.delete(t.id);
    const n = names.length;
    const read: Reader = (dv, o, e) => {
      const obj: Decoded = {};
      for (let i = 0; i < n; i++) obj[names[i]] = readers[i](dv, o + offs[i], e);
      return obj;
    };
    return { read, fields, size: t.size };
  }
}

/** Builds the decoder for the struct type `id` of `btf`. */
export function decoderForType(
  btf: TypeSource,
  id: number,
  opts: DecodeOptions = {},
): EventDecoder {
  const c = new Compiler(btf, opts);
  const t = c.resolve(id);
  const { read, fields, size } = c.composite(t.id);
  const name = t.name;
  return {
    name,
    size,
    fields,
    decode(view: DataView, offset: number, len = size): Decoded {
      if (len < size && !(fields.length && isFlexibleTail(fields, len))) {
        throw new FormatError(`event ${name}`, offset, `record of ${len} bytes, need ${size}`);
      }
      return read(view, offset, offset + len) as Decoded;
    },
  };
}

function isFlexibleTail(fields: FieldInfo[], len: number): boolean {
  const last = fields[fields.length - 1];
  return last.size === 0 && len >= last.offset;
}

/** Builds the decoder for the struct named `name` in `btf` (e.g. "event"). */
export function structDecoder(
  btf: TypeSource,
  name: string,
  opts: DecodeOptions = {},
): EventDecoder {
  const ids = btf.byName(name, Kind.STRUCT);
  if (ids.length === 0) {
    throw new DecoderError(`no struct '${name}' in the object's BTF`);
  }
  return decoderForType(btf, ids[0], opts);
}
