// BTF writer: builds a BTF blob from types (a program's own BTF for BPF_BTF_LOAD, synthetic
// BTF for tests, round trips). Strings are deduplicated. Split BTF: pass a base, ids and
// string offsets then continue the base's. Pure.

import { TracerError } from "../errors.ts";
import { type Btf, BTF_HEADER_SIZE, BTF_MAGIC } from "./reader.ts";
import { Kind, type NewType } from "./types.ts";

const encoder = new TextEncoder();

export class BtfBuilder {
  private words = new Uint32Array(1024);
  private nwords = 0;
  private readonly strIndex = new Map<string, number>();
  private readonly strChunks: Uint8Array[] = [];
  private strSize = 0;
  private readonly strBase: number;
  private nextId: number;

  constructor(opts: { base?: Btf } = {}) {
    this.nextId = opts.base ? opts.base.count : 1;
    this.strBase = opts.base ? opts.base.stringsEnd : 0;
    if (!opts.base) this.addString("");
  }

  /** The offset of a string in the string section (added once). "" is offset 0 without a base. */
  addString(s: string): number {
    if (s === "" && this.strBase > 0) return 0;
    const known = this.strIndex.get(s);
    if (known !== undefined) return known;
    const bytes = encoder.encode(s);
    if (bytes.includes(0)) {
      throw new TracerError(`BTF writer: string ${JSON.stringify(s)} contains NUL`);
    }
    const off = this.strBase + this.strSize;
    this.strChunks.push(bytes, new Uint8Array(1));
    this.strSize += bytes.length + 1;
    this.strIndex.set(s, off);
    return off;
  }

  private push(...ws: number[]): void {
    if (this.nwords + ws.length > this.words.length) {
      const grown = new Uint32Array(Math.max(this.words.length * 2, this.nwords + ws.length));
      grown.set(this.words.subarray(0, this.nwords));
      this.words = grown;
    }
    for (const w of ws) this.words[this.nwords++] = w >>> 0;
  }

  private head(name: string, kind: Kind, vlen: number, kflag: boolean, sizeOrType: number) {
    if (vlen > 0xffff) throw new TracerError(`BTF writer: ${vlen} members/values is over 65535`);
    this.push(this.addString(name), ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType);
  }

  /** Appends a type; returns its id. */
  add(t: NewType): number {
    switch (t.kind) {
      case Kind.INT:
        this.head(t.name, t.kind, 0, false, t.size);
        this.push(((t.encoding & 0xf) << 24) | ((t.offset & 0xff) << 16) | (t.bits & 0xff));
        break;
      case Kind.PTR:
      case Kind.TYPEDEF:
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT:
      case Kind.TYPE_TAG:
        this.head(t.name, t.kind, 0, false, t.type);
        break;
      case Kind.ARRAY:
        this.head(t.name, t.kind, 0, false, 0);
        this.push(t.elemType, t.indexType, t.nelems);
        break;
      case Kind.STRUCT:
      case Kind.UNION:
        this.head(t.name, t.kind, t.members.length, t.kindFlag, t.size);
        for (const m of t.members) {
          if (!t.kindFlag && m.bitfieldSize !== 0) {
            throw new TracerError(`BTF writer: bitfield ${t.name}.${m.name} needs kindFlag`);
          }
          const off = t.kindFlag ? (m.bitfieldSize << 24) | (m.bitOffset & 0xffffff) : m.bitOffset;
          this.push(this.addString(m.name), m.type, off);
        }
        break;
      case Kind.ENUM:
        this.head(t.name, t.kind, t.values.length, t.signed, t.size);
        for (const v of t.values) {
          this.push(this.addString(v.name), Number(BigInt.asUintN(32, v.value)));
        }
        break;
      case Kind.ENUM64:
        this.head(t.name, t.kind, t.values.length, t.signed, t.size);
        for (const v of t.values) {
          const u = BigInt.asUintN(64, v.value);
          this.push(this.addString(v.name), Number(u & 0xffffffffn), Number(u >> 32n));
        }
        break;
      case Kind.FWD:
        this.head(t.name, t.kind, 0, t.union, 0);
        break;
      case Kind.FUNC:
        this.head(t.name, t.kind, t.linkage, false, t.type);
        break;
      case Kind.FUNC_PROTO:
        this.head(t.name, t.kind, t.params.length, false, t.returnType);
        for (const p of t.params) this.push(this.addString(p.name), p.type);
        break;
      case Kind.VAR:
        this.head(t.name, t.kind, 0, false, t.type);
        this.push(t.linkage);
        break;
      case Kind.DATASEC:
        this.head(t.name, t.kind, t.vars.length, false, t.size);
        for (const v of t.vars) this.push(v.type, v.offset, v.size);
        break;
      case Kind.FLOAT:
        this.head(t.name, t.kind, 0, false, t.size);
        break;
      case Kind.DECL_TAG:
        this.head(t.name, t.kind, 0, false, t.type);
        this.push(t.componentIdx);
        break;
      default:
        throw new TracerError(`BTF writer: unknown kind ${(t as { kind: number }).kind}`);
    }
    return this.nextId++;
  }

  /** The BTF blob: header, type section, string section. */
  build(): Uint8Array {
    const typeLen = this.nwords * 4;
    const out = new Uint8Array(BTF_HEADER_SIZE + typeLen + this.strSize);
    const view = new DataView(out.buffer);
    view.setUint16(0, BTF_MAGIC, true);
    out[2] = 1; // version
    out[3] = 0; // flags
    view.setUint32(4, BTF_HEADER_SIZE, true);
    view.setUint32(8, 0, true);
    view.setUint32(12, typeLen, true);
    view.setUint32(16, typeLen, true);
    view.setUint32(20, this.strSize, true);
    out.set(new Uint8Array(this.words.buffer, 0, typeLen), BTF_HEADER_SIZE);
    let p = BTF_HEADER_SIZE + typeLen;
    for (const c of this.strChunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
}

/** Writes every type of `btf` (its own types, for split BTF over the same base) to a new blob. */
export function writeBtf(btf: Btf): Uint8Array {
  const b = new BtfBuilder({ base: btf.base });
  for (let id = btf.firstId; id < btf.count; id++) b.add(btf.type(id));
  return b.build();
}
