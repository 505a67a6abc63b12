// Lazy BTF reader. One pass over the type section fills typed index arrays (word offset and
// kind of every type); a type is decoded only when asked, names are compared as bytes, so
// looking up one name in the kernel's ~150k types decodes almost nothing. Handles object BTF,
// kernel BTF, and split BTF (module BTF on top of vmlinux). Bad input raises FormatError with
// the byte offset. Pure: imports nothing from a runtime.

import { FormatError } from "../errors.ts";
import {
  type BtfType,
  type EnumValue,
  essentialName,
  Kind,
  KIND_NAMES,
  type Member,
  type Param,
  type VarSecinfo,
} from "./types.ts";

export const BTF_MAGIC = 0xeb9f;
export const BTF_HEADER_SIZE = 24;
/** Deepest chain of typedefs/modifiers/arrays followed before calling it a loop. */
const MAX_CHAIN = 256;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

/** A name look-up answered by Btf.lookUp: byName(name, kind), or candidates(name, kind). */
export interface NameQuery {
  name: string;
  kind: Kind;
  /** CO-RE candidates: `name` is an essential name, flavored names ("name___v2") match too. */
  flavored: boolean;
}

function lookupKey(name: string, kind: Kind, flavored: boolean): string {
  return `${flavored ? "c" : "n"}${kind}:${name}`;
}

export interface BtfParseOptions {
  /** The base BTF of a split BTF blob (e.g. vmlinux under a module's BTF). */
  base?: Btf;
  /** What is being read, for error messages ("kernel BTF", "probe.bpf.o .BTF" ...). */
  what?: string;
  /**
   * Name look-ups to answer during the index pass (see Btf.lookUp): the pass looks at each
   * type's name anyway, so the kernel's ~127k types are walked once, not twice.
   */
  lookUp?: readonly NameQuery[];
}

/** What a name look-up pass compares: the queries' kinds, names and two-byte name prefixes. */
interface LookUpPlan {
  todo: NameQuery[];
  names: Uint8Array[];
  /** 1 at each queried kind. */
  wantKind: Uint8Array;
  /** 1 at each queried name's first two bytes (b0 | b1 << 8; a one-byte name: any b1). */
  prefix: Uint8Array;
}

function lookUpPlan(todo: NameQuery[]): LookUpPlan {
  const names = todo.map((q) => encoder.encode(q.name));
  const wantKind = new Uint8Array(32);
  const prefix = new Uint8Array(65536);
  for (let j = 0; j < todo.length; j++) {
    wantKind[todo[j].kind & 0x1f] = 1;
    const b = names[j];
    if (b.length > 1) prefix[b[0] | (b[1] << 8)] = 1;
    else for (let b1 = 0; b1 < 256; b1++) prefix[b[0] | (b1 << 8)] = 1;
  }
  return { todo, names, wantKind, prefix };
}

export class Btf {
  /** Valid ids are 0..count-1 (base types included for split BTF; 0 is void). */
  readonly count: number;
  /** 1, or base.count for split BTF. */
  readonly firstId: number;
  readonly base: Btf | undefined;
  readonly what: string;
  /** The blob's header fields. */
  readonly header: {
    version: number;
    flags: number;
    hdrLen: number;
    typeOff: number;
    typeLen: number;
    strOff: number;
    strLen: number;
  };
  /** The raw blob this was parsed from. */
  readonly bytes: Uint8Array;

  /** This blob's type section as 32-bit little-endian words. */
  private readonly words: Uint32Array;
  /** Word offset in `words` of each of this blob's types (index = id - firstId). */
  private readonly offsets: Uint32Array;
  private readonly kinds: Uint8Array;
  /** This blob's string section. */
  private readonly strings: Uint8Array;
  /** String offsets below this belong to the base. */
  private readonly strBase: number;
  /** Byte offset of the type section within `bytes`, for error messages. */
  private readonly typeStart: number;
  private readonly cache = new Map<number, BtfType>();
  /** Local indexes of one kind's types, ascending: made by the first look-up walking every type. */
  private readonly kindLists: (ArrayLike<number> | undefined)[] = [];
  /** Results of byName (with a kind) and candidates, filled by lookUp() ahead of the asking. */
  private readonly found = new Map<string, number[]>();

  private constructor(
    bytes: Uint8Array,
    what: string,
    base: Btf | undefined,
    header: Btf["header"],
    words: Uint32Array,
    offsets: Uint32Array,
    kinds: Uint8Array,
    strings: Uint8Array,
    typeStart: number,
  ) {
    this.bytes = bytes;
    this.what = what;
    this.base = base;
    this.header = header;
    this.words = words;
    this.offsets = offsets;
    this.kinds = kinds;
    this.strings = strings;
    this.typeStart = typeStart;
    this.firstId = base ? base.count : 1;
    this.count = this.firstId + offsets.length;
    this.strBase = base ? base.stringsEnd : 0;
  }

  /** Total size of the string space (base strings included): string offsets are below it. */
  get stringsEnd(): number {
    return this.strBase + this.strings.length;
  }

  /** Size in bytes of this blob's string section (base excluded). */
  get stringsSize(): number {
    return this.strings.length;
  }

  static parse(bytes: Uint8Array, opts: BtfParseOptions = {}): Btf {
    const what = opts.what ?? "BTF";
    const base = opts.base;
    if (!LITTLE_ENDIAN_HOST) throw new FormatError(what, 0, "big-endian hosts are not supported");
    if (bytes.length < BTF_HEADER_SIZE) {
      throw new FormatError(what, 0, `${bytes.length} bytes is shorter than a BTF header`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = view.getUint16(0, true);
    if (magic === 0x9feb) {
      throw new FormatError(what, 0, "big-endian BTF is not supported");
    }
    if (magic !== BTF_MAGIC) {
      throw new FormatError(what, 0, `bad BTF magic 0x${magic.toString(16)}`);
    }
    const header = {
      version: bytes[2],
      flags: bytes[3],
      hdrLen: view.getUint32(4, true),
      typeOff: view.getUint32(8, true),
      typeLen: view.getUint32(12, true),
      strOff: view.getUint32(16, true),
      strLen: view.getUint32(20, true),
    };
    if (header.version !== 1) {
      throw new FormatError(what, 2, `unsupported BTF version ${header.version}`);
    }
    const { hdrLen, typeOff, typeLen, strOff, strLen } = header;
    if (hdrLen < BTF_HEADER_SIZE || hdrLen > bytes.length) {
      throw new FormatError(what, 4, `bad header length ${hdrLen}`);
    }
    const body = bytes.length - hdrLen;
    if (typeOff > body || typeLen > body - typeOff) {
      throw new FormatError(
        what,
        8,
        `type section [${typeOff}, +${typeLen}) past end of data (${body})`,
      );
    }
    if (strOff > body || strLen > body - strOff) {
      throw new FormatError(
        what,
        16,
        `string section [${strOff}, +${strLen}) past end of data (${body})`,
      );
    }
    if (typeOff % 4 !== 0 || typeLen % 4 !== 0) {
      throw new FormatError(
        what,
        8,
        `type section offset ${typeOff} / length ${typeLen} not 4-byte aligned`,
      );
    }
    if (typeOff < strOff + strLen && strOff < typeOff + typeLen) {
      throw new FormatError(what, 8, "type and string sections overlap");
    }
    const strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    if (strLen > 0 && strings[strLen - 1] !== 0) {
      throw new FormatError(
        what,
        hdrLen + strOff + strLen - 1,
        "string section not NUL-terminated",
      );
    }
    if (!base && (strLen === 0 || strings[0] !== 0)) {
      throw new FormatError(
        what,
        hdrLen + strOff,
        "string section does not start with an empty string",
      );
    }
    const typeStart = hdrLen + typeOff;
    const absolute = bytes.byteOffset + typeStart;
    const words = absolute % 4 === 0
      ? new Uint32Array(bytes.buffer, absolute, typeLen / 4)
      : new Uint32Array(bytes.slice(typeStart, typeStart + typeLen).buffer);

    // One pass: word offset and kind of every type. Kept minimal: it runs cold, once per
    // process, over ~150k kernel types. Names are checked when decoded. The look-ups given
    // (opts.lookUp) are answered on the way: a type of a queried kind whose name starts with
    // a queried name's first two bytes is a hit, compared in full after the pass.
    const max = Math.floor(words.length / 3);
    const offsets = new Uint32Array(max);
    const kinds = new Uint8Array(max);
    const firstId = base ? base.count : 1;
    const plan = opts.lookUp?.length
      ? lookUpPlan(Btf.pending(opts.lookUp, new Map(), base))
      : undefined;
    const wantKind = plan?.wantKind ?? new Uint8Array(32);
    const prefix = plan?.prefix;
    const strBase = base ? base.stringsEnd : 0;
    const hits: number[] = [];
    const end = words.length;
    let p = 0;
    let n = 0;
    // Case labels are literals, not Kind.X: a cold loop would load the enum object's
    // property for every comparison before the JIT folds them.
    scan: while (p < end) {
      const info = words[p + 1];
      const kind = (info >>> 24) & 0x1f;
      offsets[n] = p;
      kinds[n++] = kind;
      if (wantKind[kind] !== 0) {
        const off = words[p] - strBase;
        if (off < 0) {
          hits.push(n - 1); // a split BTF type named with a base string: compared below
        } else if (off < strLen) {
          const b0 = strings[off];
          if (prefix![b0 | (strings[off + 1] << 8)] !== 0) hits.push(n - 1);
        }
      }
      switch (kind) {
        case 2: // PTR
        case 8: // TYPEDEF
        case 10: // CONST
        case 12: // FUNC
        case 7: // FWD
        case 9: // VOLATILE
        case 11: // RESTRICT
        case 16: // FLOAT
        case 18: // TYPE_TAG
          p += 3;
          break;
        case 13: // FUNC_PROTO: params of 2 words
        case 6: // ENUM: values of 2 words
          p += 3 + 2 * (info & 0xffff);
          break;
        case 4: // STRUCT: members of 3 words
        case 5: // UNION: members of 3 words
        case 19: // ENUM64: values of 3 words
        case 15: // DATASEC: var_secinfos of 3 words
          p += 3 + 3 * (info & 0xffff);
          break;
        case 1: // INT: 1 word of encoding
        case 14: // VAR: 1 word of linkage
        case 17: // DECL_TAG: 1 word of component index
          p += 4;
          break;
        case 3: // ARRAY: 3 words
          p += 6;
          break;
        default: // unknown kind (or a cut record): diagnosed below
          break scan;
      }
    }
    if (p !== end) {
      Btf.diagnose(what, words, typeStart, offsets[n - 1], firstId + n - 1);
    }
    const btf = new Btf(
      bytes,
      what,
      base,
      header,
      words,
      offsets.subarray(0, n),
      kinds.subarray(0, n),
      strings,
      typeStart,
    );
    if (plan) btf.answer(plan, hits);
    return btf;
  }

  /** Why the last indexed record (at word `p`, type `id`) overran the type section. */
  private static diagnose(
    what: string,
    words: Uint32Array,
    typeStart: number,
    p: number,
    id: number,
  ): never {
    const at = typeStart + p * 4;
    if (words.length - p < 3) throw new FormatError(what, at, `type ${id} truncated`);
    const kind = (words[p + 1] >>> 24) & 0x1f;
    if (kind === 0 || kind > Kind.ENUM64) {
      throw new FormatError(what, at, `unknown BTF kind ${kind} in type ${id}`);
    }
    throw new FormatError(what, at, `type ${id} (${KIND_NAMES[kind]}) truncated`);
  }

  private checkId(id: number): void {
    if (!(id >= 0 && id < this.count && Number.isInteger(id))) {
      throw new RangeError(`${this.what}: type id ${id} out of range (0..${this.count - 1})`);
    }
  }

  /** Kind of a type, without decoding it (0 = UNKN for void). */
  kind(id: number): Kind {
    if (id >= this.firstId && id < this.count) return this.kinds[id - this.firstId];
    if (id === 0) return Kind.UNKN;
    if (this.base && id > 0 && id < this.firstId) return this.base.kind(id);
    this.checkId(id);
    return Kind.UNKN;
  }

  /** Name of a type ("" when anonymous or void), without decoding it. */
  name(id: number): string {
    if (id === 0) return "";
    if (this.base && id < this.firstId) return this.base.name(id);
    this.checkId(id);
    return this.nameAt(id, this.words[this.offsets[id - this.firstId]], "name");
  }

  /** The string at a string-section offset (offsets below the base's end are the base's). */
  string(offset: number): string {
    if (offset < this.strBase) return this.base!.string(offset);
    const s = this.strings;
    const start = offset - this.strBase;
    if (!(start >= 0 && start < s.length)) {
      throw new FormatError(
        this.what,
        this.header.hdrLen + this.header.strOff,
        `string offset ${offset} out of range`,
      );
    }
    let ascii = true;
    let end = start;
    while (s[end] !== 0) {
      if (s[end] >= 0x80) ascii = false;
      end++;
    }
    if (end === start) return "";
    if (ascii && end - start < 64) {
      return String.fromCharCode.apply(null, s.subarray(start, end) as unknown as number[]);
    }
    return utf8.decode(s.subarray(start, end));
  }

  /** A string of type `id`'s record, with a FormatError naming the type when out of range. */
  private nameAt(id: number, offset: number, what: string): string {
    if (offset >= this.stringsEnd) {
      throw this.formatError(
        id,
        `${what} offset ${offset} past string section (${this.stringsEnd} bytes)`,
      );
    }
    return this.string(offset);
  }

  /** Whether the NUL-terminated string at `offset` equals `q` (bytes), and how far `q` matched. */
  private matchAt(offset: number, q: Uint8Array): number {
    if (offset < this.strBase) return this.base!.matchAt(offset, q);
    const s = this.strings;
    let i = offset - this.strBase;
    let j = 0;
    while (j < q.length && s[i] === q[j]) {
      i++;
      j++;
    }
    return j;
  }

  /** Byte after a prefix match of `len` bytes at `offset` (0 at the end of the string). */
  private byteAfter(offset: number, len: number): number {
    if (offset < this.strBase) return this.base!.byteAfter(offset, len);
    return this.strings[offset - this.strBase + len];
  }

  /**
   * Local indexes of this blob's types (of `kind`, or any kind when -1) whose name starts
   * with the bytes `q`; `exact` also requires the name to end there. One tight pass over
   * the index arrays, comparing string bytes in place.
   */
  private scan(q: Uint8Array, kind: number, exact: boolean): number[] {
    const out: number[] = [];
    const { words, offsets, strings, kinds } = this;
    const strBase = this.strBase;
    const len = q.length;
    const q0 = q[0];
    // The first scan for a kind walks every type and records that kind's indexes on the
    // way; later scans for the kind walk only those.
    const list = kind >= 0 ? this.kindLists[kind] : undefined;
    const collect = kind >= 0 && !list ? new Uint32Array(kinds.length) : undefined;
    let collected = 0;
    const n = list ? list.length : kinds.length;
    for (let k = 0; k < n; k++) {
      let i = k;
      if (list) {
        i = list[k];
      } else if (collect) {
        if (kinds[i] !== kind) continue;
        collect[collected++] = i;
      }
      const nameOff = words[offsets[i]];
      if (nameOff === 0) continue;
      let off = nameOff - strBase;
      if (off < 0) {
        // A split BTF type named with a base string.
        if (this.matchAt(nameOff, q) === len && (!exact || this.byteAfter(nameOff, len) === 0)) {
          out.push(i);
        }
        continue;
      }
      if (strings[off] !== q0) continue;
      let j = 1;
      off++;
      while (j < len && strings[off] === q[j]) {
        off++;
        j++;
      }
      if (j === len && (!exact || strings[off] === 0)) out.push(i);
    }
    if (collect) this.kindLists[kind] = collect.slice(0, collected);
    return out;
  }

  /** Ids of the types named exactly `name` (optionally of one kind), ascending. */
  byName(name: string, kind?: Kind): number[] {
    const known = kind === undefined ? undefined : this.found.get(lookupKey(name, kind, false));
    if (known) return known.slice();
    const out = this.base ? this.base.byName(name, kind) : [];
    if (name === "") return out;
    for (const i of this.scan(encoder.encode(name), kind ?? -1, true)) out.push(i + this.firstId);
    return out;
  }

  /**
   * CO-RE candidates: ids of all types of `kind` whose essential name (cut at the last
   * "___" flavor suffix) is `essential`. Compares bytes; decodes only flavored names.
   */
  candidates(essential: string, kind: Kind): number[] {
    const known = this.found.get(lookupKey(essential, kind, true));
    if (known) return known.slice();
    const out = this.base ? this.base.candidates(essential, kind) : [];
    if (essential === "") return out;
    const q = encoder.encode(essential);
    for (const i of this.scan(q, kind, false)) {
      const off = this.words[this.offsets[i]];
      const next = this.byteAfter(off, q.length);
      if (next === 0 || (next === 0x5f && essentialName(this.string(off)) === essential)) {
        out.push(i + this.firstId);
      }
    }
    return out;
  }

  /**
   * Answers many name look-ups in one pass over the types, ahead of the asking: each query's
   * ids are what byName(name, kind) (`flavored` false) or candidates(name, kind) (`flavored`
   * true: `name` is an essential name) would return, and those calls then return them
   * without a scan of their own. A process that needs a few names of the kernel's ~127k
   * types (CO-RE candidates, attach targets) walks the types once instead of once per name
   * (each walk runs cold). Only types of the queried kinds are looked at, and of those only
   * the ones whose name starts with the first two bytes of some queried name are compared.
   */
  lookUp(queries: readonly NameQuery[]): void {
    const todo = Btf.pending(queries, this.found, this.base);
    if (todo.length === 0) return;
    const plan = lookUpPlan(todo);
    const { words, offsets, strings, kinds } = this;
    const { wantKind, prefix } = plan;
    const strBase = this.strBase;
    // Only the queried kinds' own lists where earlier scans made them, else every type.
    const wanted = [...new Set(todo.map((q) => q.kind))];
    const lists = wanted.every((k) => this.kindLists[k])
      ? wanted.map((k) => this.kindLists[k]!)
      : [];
    const hits: number[] = [];
    const visit = (i: number) => {
      if (wantKind[kinds[i]] === 0) return;
      const nameOff = words[offsets[i]];
      if (nameOff === 0) return;
      const off = nameOff - strBase;
      if (
        off >= 0 && prefix[strings[off] | (strings[off] === 0 ? 0 : strings[off + 1] << 8)] === 0
      ) {
        return;
      }
      hits.push(i);
    };
    if (lists.length) {
      for (const list of lists) for (let k = 0; k < list.length; k++) visit(list[k]);
      hits.sort((a, b) => a - b);
    } else {
      // Every type, once: the queried kinds' lists are kept on the way, so the next look-up
      // of these kinds (another object's load in the same process) walks only them.
      const collect = wanted.map(() => [] as number[]);
      const slot = new Int8Array(32).fill(-1);
      wanted.forEach((k, j) => slot[k] = j);
      for (let i = 0; i < kinds.length; i++) {
        const j = slot[kinds[i]];
        if (j < 0) continue;
        collect[j].push(i);
        visit(i);
      }
      wanted.forEach((k, j) => this.kindLists[k] = collect[j]);
    }
    this.answer(plan, hits);
  }

  /** The queries not answered yet (named, not found before, once each); the base's answered. */
  private static pending(
    queries: readonly NameQuery[],
    found: Map<string, number[]>,
    base: Btf | undefined,
  ): NameQuery[] {
    const todo: NameQuery[] = [];
    const keys = new Set<string>();
    for (const q of queries) {
      const key = lookupKey(q.name, q.kind, q.flavored);
      if (q.name === "" || found.has(key) || keys.has(key)) continue;
      keys.add(key);
      todo.push(q);
    }
    if (todo.length) base?.lookUp(todo);
    return todo;
  }

  /**
   * Compares each hit (local indexes, ascending, of types of a queried kind whose name passed
   * the prefix test) with the queries in full and stores every query's ids.
   */
  private answer(plan: LookUpPlan, hits: readonly number[]): void {
    const { todo, names } = plan;
    const ids: number[][] = todo.map(() => []);
    for (const i of hits) {
      const kind = this.kinds[i];
      const nameOff = this.words[this.offsets[i]];
      for (let j = 0; j < todo.length; j++) {
        const q = todo[j];
        if (q.kind !== kind) continue;
        const len = names[j].length;
        if (this.matchAt(nameOff, names[j]) !== len) continue;
        const next = this.byteAfter(nameOff, len);
        if (
          next === 0 ||
          (q.flavored && next === 0x5f && essentialName(this.string(nameOff)) === q.name)
        ) {
          ids[j].push(i + this.firstId);
        }
      }
    }
    for (let j = 0; j < todo.length; j++) {
      const q = todo[j];
      const base = this.base
        ? q.flavored ? this.base.candidates(q.name, q.kind) : this.base.byName(q.name, q.kind)
        : [];
      this.found.set(lookupKey(q.name, q.kind, q.flavored), base.concat(ids[j]));
    }
  }

  /** Skips TYPEDEF, CONST, VOLATILE, RESTRICT and TYPE_TAG; returns the first other id. */
  resolve(id: number): number {
    for (let depth = 0; depth < MAX_CHAIN; depth++) {
      switch (this.kind(id)) {
        case Kind.TYPEDEF:
        case Kind.CONST:
        case Kind.VOLATILE:
        case Kind.RESTRICT:
        case Kind.TYPE_TAG:
          id = this.refOf(id);
          break;
        default:
          return id;
      }
    }
    throw this.formatError(
      id,
      `type chain longer than ${MAX_CHAIN} (a loop through typedefs or modifiers?)`,
    );
  }

  /** Size in bytes, through typedefs, modifiers and arrays. Throws FormatError on loops. */
  sizeOf(id: number): number {
    let mult = 1;
    for (let depth = 0; depth < MAX_CHAIN; depth++) {
      const k = this.kind(id);
      switch (k) {
        case Kind.INT:
        case Kind.STRUCT:
        case Kind.UNION:
        case Kind.ENUM:
        case Kind.ENUM64:
        case Kind.FLOAT:
        case Kind.DATASEC: {
          const size = mult * this.sizeField(id);
          if (size > 0xffffffff) throw this.formatError(id, `size ${size} exceeds 4 GiB`);
          return size;
        }
        case Kind.PTR:
          return mult * 8;
        case Kind.TYPEDEF:
        case Kind.CONST:
        case Kind.VOLATILE:
        case Kind.RESTRICT:
        case Kind.TYPE_TAG:
        case Kind.VAR:
          id = this.refOf(id);
          break;
        case Kind.ARRAY: {
          const t = this.type(id);
          if (t.kind !== Kind.ARRAY) throw this.formatError(id, "not an array");
          mult *= t.nelems;
          id = t.elemType;
          break;
        }
        default:
          throw this.formatError(id, `a ${KIND_NAMES[k] ?? k} (type ${id}) has no size`);
      }
    }
    throw this.formatError(
      id,
      `type chain longer than ${MAX_CHAIN} (a loop through typedefs or arrays?)`,
    );
  }

  /** The third word of a type's common header (size or referenced type), checked for refs. */
  private sizeField(id: number): number {
    if (this.base && id < this.firstId) return this.base.sizeField(id);
    return this.words[this.offsets[id - this.firstId] + 2];
  }

  private refOf(id: number): number {
    if (this.base && id < this.firstId) return this.base.refOf(id);
    const ref = this.words[this.offsets[id - this.firstId] + 2];
    if (ref >= this.count) {
      throw this.formatError(id, `refers to type ${ref}, past the last id ${this.count - 1}`);
    }
    return ref;
  }

  /** Byte offset of a type's record in the blob (for error messages). */
  recordOffset(id: number): number {
    if (this.base && id < this.firstId) return this.base.recordOffset(id);
    if (id < this.firstId || id >= this.count) return this.typeStart;
    return this.typeStart + this.offsets[id - this.firstId] * 4;
  }

  private formatError(id: number, detail: string): FormatError {
    return new FormatError(this.what, this.recordOffset(id), `type ${id}: ${detail}`);
  }

  private ref(id: number, ref: number, what: string): number {
    if (ref >= this.count) {
      throw this.formatError(
        id,
        `${what} refers to type ${ref}, past the last id ${this.count - 1}`,
      );
    }
    return ref;
  }

  /** Decodes a type (cached). Id 0 (void) throws a RangeError. */
  type(id: number): BtfType {
    if (this.base && id > 0 && id < this.firstId) return this.base.type(id);
    if (id === 0) throw new RangeError(`${this.what}: type 0 is void and has no record`);
    this.checkId(id);
    const cached = this.cache.get(id);
    if (cached) return cached;
    const t = this.decode(id);
    this.cache.set(id, t);
    return t;
  }

  private decode(id: number): BtfType {
    const w = this.words;
    const p = this.offsets[id - this.firstId];
    const name = this.nameAt(id, w[p], "name");
    const info = w[p + 1];
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kflag = (info >>> 31) === 1;
    const sizeOrType = w[p + 2];
    const q = p + 3;
    switch (kind) {
      case Kind.INT: {
        const v = w[q];
        return {
          id,
          name,
          kind,
          size: sizeOrType,
          encoding: (v >>> 24) & 0x0f,
          offset: (v >>> 16) & 0xff,
          bits: v & 0xff,
        };
      }
      case Kind.PTR:
      case Kind.TYPEDEF:
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT:
      case Kind.TYPE_TAG:
        return { id, name, kind, type: this.ref(id, sizeOrType, "it") };
      case Kind.ARRAY:
        return {
          id,
          name,
          kind,
          elemType: this.ref(id, w[q], "element type"),
          indexType: this.ref(id, w[q + 1], "index type"),
          nelems: w[q + 2],
        };
      case Kind.STRUCT:
      case Kind.UNION: {
        const members: Member[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const m = q + i * 3;
          const off = w[m + 2];
          members[i] = {
            name: this.nameAt(id, w[m], `member ${i} name`),
            type: this.ref(id, w[m + 1], `member ${i}`),
            bitOffset: kflag ? off & 0xffffff : off,
            bitfieldSize: kflag ? off >>> 24 : 0,
          };
        }
        return { id, name, kind, size: sizeOrType, kindFlag: kflag, members };
      }
      case Kind.ENUM: {
        const values: EnumValue[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const v = w[q + i * 2 + 1];
          values[i] = {
            name: this.nameAt(id, w[q + i * 2], `value ${i} name`),
            value: kflag ? BigInt(v | 0) : BigInt(v),
          };
        }
        return { id, name, kind, size: sizeOrType, signed: kflag, values };
      }
      case Kind.ENUM64: {
        const values: EnumValue[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const m = q + i * 3;
          const u = (BigInt(w[m + 2]) << 32n) | BigInt(w[m + 1]);
          values[i] = {
            name: this.nameAt(id, w[m], `value ${i} name`),
            value: kflag ? BigInt.asIntN(64, u) : u,
          };
        }
        return { id, name, kind, size: sizeOrType, signed: kflag, values };
      }
      case Kind.FWD:
        return { id, name, kind, union: kflag };
      case Kind.FUNC:
        return { id, name, kind, type: this.ref(id, sizeOrType, "prototype"), linkage: vlen };
      case Kind.FUNC_PROTO: {
        const params: Param[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          params[i] = {
            name: this.nameAt(id, w[q + i * 2], `parameter ${i} name`),
            type: this.ref(id, w[q + i * 2 + 1], `parameter ${i}`),
          };
        }
        return { id, name, kind, returnType: this.ref(id, sizeOrType, "return type"), params };
      }
      case Kind.VAR:
        return { id, name, kind, type: this.ref(id, sizeOrType, "variable type"), linkage: w[q] };
      case Kind.DATASEC: {
        const vars: VarSecinfo[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const m = q + i * 3;
          vars[i] = { type: this.ref(id, w[m], `variable ${i}`), offset: w[m + 1], size: w[m + 2] };
        }
        return { id, name, kind, size: sizeOrType, vars };
      }
      case Kind.FLOAT:
        return { id, name, kind, size: sizeOrType };
      case Kind.DECL_TAG:
        return {
          id,
          name,
          kind,
          type: this.ref(id, sizeOrType, "tagged type"),
          componentIdx: w[q] | 0,
        };
      default:
        throw this.formatError(id, `unknown BTF kind ${kind}`);
    }
  }

  /** Counts of types per kind (this blob's own types), indexed by Kind. */
  kindCounts(): number[] {
    const counts = new Array(KIND_NAMES.length).fill(0);
    for (const k of this.kinds) counts[k]++;
    return counts;
  }
}
