// BTF → compilable C, in the style of `bpftool btf dump ... format c`. A port of the rules of
// libbpf's btf_dump.c (v1.1): topological ordering with strong (embedded) and weak (through a
// pointer) links, forward declarations where a cycle needs one, explicit padding members,
// packed structs, enum mode attributes, ___N suffixes for duplicate names. Pure.

import { FormatError } from "../errors.ts";
import type { Btf } from "./reader.ts";
import { type BtfType, type CompositeType, type EnumType, Kind } from "./types.ts";

const PTR_SIZE = 8;
/** Deepest nesting of types followed (a loop in corrupt BTF must not overflow the stack). */
const MAX_DEPTH = 256; // kernel BTF needs 14
const TABS = "\t\t\t\t\t\t\t\t\t\t\t\t";
const pfx = (lvl: number) => TABS.slice(0, Math.min(lvl, 12));

const ORDERING = 1;
const ORDERED = 2;
const NOT_EMITTED = 0;
const EMITTING = 1;
const EMITTED = 2;

const MISSING_BASE_TYPES: Record<string, string> = {
  __Poly8_t: "unsigned char",
  __Poly16_t: "unsigned short",
  __Poly64_t: "unsigned long long",
  __Poly128_t: "unsigned __int128",
};

export const C_HEADER = "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n" +
  "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n" +
  "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n" +
  "#endif\n\n";
export const C_FOOTER =
  "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n" +
  "#endif /* __VMLINUX_H__ */\n";

const isMod = (k: Kind) =>
  k === Kind.VOLATILE || k === Kind.CONST || k === Kind.RESTRICT || k === Kind.TYPE_TAG;

/**
 * Emits C declarations of BTF types and everything they depend on. Types already emitted by
 * an earlier dumpType() call on the same dumper are not emitted again (bpftool's behaviour).
 */
export class CDumper {
  private readonly orderState: Uint8Array;
  private readonly emitState: Uint8Array;
  private readonly fwdEmitted: Uint8Array;
  private readonly referenced: Uint8Array;
  private readonly nameResolved: Uint8Array;
  private readonly alignCache: Uint8Array;
  private readonly cachedNames = new Map<number, string>();
  private readonly typeNames = new Map<string, number>();
  private readonly identNames = new Map<string, number>();
  private emitQueue: number[] = [];
  private out: string[] = [];
  private printed = 0;
  private depth = 0;
  /** Output budget: corrupt BTF can make inline anonymous types expand without bound. */
  private readonly maxOutput: number;

  constructor(private readonly btf: Btf) {
    const n = btf.count;
    this.orderState = new Uint8Array(n);
    this.emitState = new Uint8Array(n);
    this.fwdEmitted = new Uint8Array(n);
    this.referenced = new Uint8Array(n);
    this.nameResolved = new Uint8Array(n);
    this.alignCache = new Uint8Array(n);
    let input = 0;
    for (let b: Btf | undefined = btf; b; b = b.base) input += b.bytes.length;
    this.maxOutput = 16 * input + (1 << 20);
    this.orderState[0] = ORDERED;
    this.emitState[0] = EMITTED;
    this.markReferenced();
  }

  private t(id: number): BtfType {
    return this.btf.type(id);
  }

  private print(s: string): void {
    this.out.push(s);
    this.printed += s.length;
    if (this.printed > this.maxOutput) {
      throw new FormatError(
        this.btf.what,
        0,
        `C output over ${this.maxOutput} bytes: types expand without bound`,
      );
    }
  }

  /** Runs `f` one level deeper in the type graph; throws FormatError past MAX_DEPTH. */
  private nested<T>(id: number, f: () => T): T {
    if (++this.depth > MAX_DEPTH) {
      this.depth = 0;
      throw new FormatError(
        this.btf.what,
        this.btf.recordOffset(id),
        `type ${id}: types nest deeper than ${MAX_DEPTH} (a loop?)`,
      );
    }
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  /** Takes the text emitted so far. */
  take(): string {
    const s = this.out.join("");
    this.out = [];
    return s;
  }

  /** Emits `id` and the types it needs that were not emitted yet; returns the text. */
  dumpType(id: number): string {
    this.emitQueue = [];
    if (this.orderType(id, false) < 0) {
      throw new FormatError(
        this.btf.what,
        this.btf.recordOffset(id),
        `type ${id}: a type cycle C cannot express (a struct embedding itself?)`,
      );
    }
    for (const q of this.emitQueue) this.emitType(q, 0);
    return this.take();
  }

  private markReferenced(): void {
    const btf = this.btf;
    const r = this.referenced;
    for (let i = 1; i < btf.count; i++) {
      const t = btf.type(i);
      switch (t.kind) {
        case Kind.VOLATILE:
        case Kind.CONST:
        case Kind.RESTRICT:
        case Kind.PTR:
        case Kind.TYPEDEF:
        case Kind.FUNC:
        case Kind.VAR:
        case Kind.DECL_TAG:
        case Kind.TYPE_TAG:
          r[t.type] = 1;
          break;
        case Kind.ARRAY:
          r[t.indexType] = 1;
          r[t.elemType] = 1;
          break;
        case Kind.STRUCT:
        case Kind.UNION:
          for (const m of t.members) r[m.type] = 1;
          break;
        case Kind.FUNC_PROTO:
          for (const p of t.params) r[p.type] = 1;
          break;
        case Kind.DATASEC:
          for (const v of t.vars) r[v.type] = 1;
          break;
      }
    }
  }

  /** 1: strong link (must be defined first), 0: weak (a forward declaration will do), -1: loop. */
  private orderType(id: number, throughPtr: boolean): number {
    return this.nested(id, () => this.orderTypeAt(id, throughPtr));
  }

  private orderTypeAt(id: number, throughPtr: boolean): number {
    const state = this.orderState[id];
    if (state === ORDERED) return 1;
    const t = this.t(id);
    if (state === ORDERING) {
      if ((t.kind === Kind.STRUCT || t.kind === Kind.UNION) && throughPtr && t.name !== "") {
        return 0;
      }
      return -1; // unsatisfiable type cycle
    }
    switch (t.kind) {
      case Kind.INT:
      case Kind.FLOAT:
        this.orderState[id] = ORDERED;
        return 0;
      case Kind.PTR: {
        const err = this.orderType(t.type, true);
        this.orderState[id] = ORDERED;
        return err;
      }
      case Kind.ARRAY:
        return this.orderType(t.elemType, false);
      case Kind.STRUCT:
      case Kind.UNION: {
        if (throughPtr && t.name !== "") return 0;
        this.orderState[id] = ORDERING;
        for (const m of t.members) {
          const err = this.orderType(m.type, false);
          if (err < 0) return err;
        }
        if (t.name !== "") this.emitQueue.push(id);
        this.orderState[id] = ORDERED;
        return 1;
      }
      case Kind.ENUM:
      case Kind.ENUM64:
      case Kind.FWD:
        if (t.name !== "" || !this.referenced[id]) this.emitQueue.push(id);
        this.orderState[id] = ORDERED;
        return 1;
      case Kind.TYPEDEF: {
        const isStrong = this.orderType(t.type, throughPtr);
        if (isStrong < 0) return isStrong;
        if (throughPtr && !isStrong) return 0;
        this.emitQueue.push(id);
        this.orderState[id] = ORDERED;
        return 1;
      }
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT:
      case Kind.TYPE_TAG:
        return this.orderType(t.type, throughPtr);
      case Kind.FUNC_PROTO: {
        let err = this.orderType(t.returnType, throughPtr);
        if (err < 0) return err;
        let strong = err > 0;
        for (const p of t.params) {
          err = this.orderType(p.type, throughPtr);
          if (err < 0) return err;
          if (err > 0) strong = true;
        }
        return strong ? 1 : 0;
      }
      default: // FUNC, VAR, DATASEC, DECL_TAG
        this.orderState[id] = ORDERED;
        return 0;
    }
  }

  private isBlacklisted(id: number): boolean {
    return this.btf.name(id) === "__builtin_va_list";
  }

  private emitType(id: number, contId: number): void {
    this.nested(id, () => this.emitTypeAt(id, contId));
  }

  private emitTypeAt(id: number, contId: number): void {
    const state = this.emitState[id];
    if (state === EMITTED) return;
    const t = this.t(id);
    const topLevel = contId === 0;
    if (state === EMITTING) {
      if (this.fwdEmitted[id]) return;
      if (t.kind === Kind.STRUCT || t.kind === Kind.UNION) {
        if (id === contId) return;
        if (t.name === "") return; // anonymous struct/union loop
        this.emitStructFwd(id, t);
        this.print(";\n\n");
        this.fwdEmitted[id] = 1;
      } else if (t.kind === Kind.TYPEDEF) {
        if (!this.isBlacklisted(id)) {
          this.emitTypedefDef(id, t.type, 0);
          this.print(";\n\n");
        }
        this.fwdEmitted[id] = 1;
      }
      return;
    }
    switch (t.kind) {
      case Kind.INT: {
        const alias = MISSING_BASE_TYPES[this.typeName(id)];
        if (alias) this.print(`typedef ${alias} ${this.typeName(id)};\n\n`);
        this.emitState[id] = EMITTED;
        break;
      }
      case Kind.ENUM:
      case Kind.ENUM64:
        if (topLevel) {
          this.emitEnumDef(id, t, 0);
          this.print(";\n\n");
        }
        this.emitState[id] = EMITTED;
        break;
      case Kind.PTR:
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT:
      case Kind.TYPE_TAG:
        this.emitType(t.type, contId);
        break;
      case Kind.ARRAY:
        this.emitType(t.elemType, contId);
        break;
      case Kind.FWD:
        this.print(`${t.union ? "union" : "struct"} ${this.typeName(id)};\n\n`);
        this.emitState[id] = EMITTED;
        break;
      case Kind.TYPEDEF:
        this.emitState[id] = EMITTING;
        this.emitType(t.type, id);
        if (!this.fwdEmitted[id] && !this.isBlacklisted(id)) {
          this.emitTypedefDef(id, t.type, 0);
          this.print(";\n\n");
        }
        this.emitState[id] = EMITTED;
        break;
      case Kind.STRUCT:
      case Kind.UNION:
        this.emitState[id] = EMITTING;
        if (topLevel || t.name === "") {
          const newCont = t.name === "" ? contId : id;
          for (const m of t.members) this.emitType(m.type, newCont);
        } else if (!this.fwdEmitted[id] && id !== contId) {
          this.emitStructFwd(id, t);
          this.print(";\n\n");
          this.fwdEmitted[id] = 1;
        }
        if (topLevel) {
          this.emitStructDef(id, t, 0);
          this.print(";\n\n");
          this.emitState[id] = EMITTED;
        } else {
          this.emitState[id] = NOT_EMITTED;
        }
        break;
      case Kind.FUNC_PROTO:
        this.emitType(t.returnType, contId);
        for (const p of t.params) this.emitType(p.type, contId);
        break;
    }
  }

  /** btf__align_of (cached). */
  alignOf(id: number, depth = 0): number {
    if (depth > 256) return 1;
    if (id === 0) return 1;
    const known = this.alignCache[id];
    if (known) return known;
    const align = this.computeAlign(id, depth);
    if (align > 0) this.alignCache[id] = align;
    return align;
  }

  private computeAlign(id: number, depth: number): number {
    const t = this.t(id);
    switch (t.kind) {
      case Kind.INT:
      case Kind.ENUM:
      case Kind.ENUM64:
      case Kind.FLOAT:
        return Math.min(PTR_SIZE, t.size);
      case Kind.PTR:
        return PTR_SIZE;
      case Kind.TYPEDEF:
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT:
      case Kind.TYPE_TAG:
        return this.alignOf(t.type, depth + 1);
      case Kind.ARRAY:
        return this.alignOf(t.elemType, depth + 1);
      case Kind.STRUCT:
      case Kind.UNION: {
        let max = 1;
        for (const m of t.members) {
          const align = this.alignOf(m.type, depth + 1);
          if (align <= 0) return align;
          max = Math.max(max, align);
          if (m.bitfieldSize === 0 && m.bitOffset % (8 * align) !== 0) return 1;
        }
        if (t.size % max !== 0) return 1;
        return max;
      }
      default:
        return 0;
    }
  }

  /** btf__resolve_size, or -1. */
  private resolveSize(id: number): number {
    try {
      return id === 0 ? -1 : this.btf.sizeOf(id);
    } catch {
      return -1;
    }
  }

  private isPacked(t: CompositeType): boolean {
    let max = 1;
    for (const m of t.members) {
      const align = this.alignOf(m.type);
      if (align && m.bitfieldSize === 0 && m.bitOffset % (8 * align) !== 0) return true;
      max = Math.max(align, max);
    }
    return t.size % max !== 0;
  }

  private emitBitPadding(
    curOff: number,
    nextOff: number,
    nextAlign: number,
    inBitfield: boolean,
    lvl: number,
  ) {
    const pads: [string, number][] = [["long", PTR_SIZE * 8], ["int", 32], ["short", 16], [
      "char",
      8,
    ]];
    if (curOff >= nextOff) return;
    const roundup = (x: number, y: number) => Math.ceil(x / y) * y;
    let padBits = 0;
    let padType = "";
    let newOff = 0;
    for (const [name, bits] of pads) {
      padBits = bits;
      padType = name;
      newOff = roundup(curOff, padBits);
      if (newOff <= nextOff) break;
    }
    if (newOff > curOff && newOff <= nextOff) {
      if (
        inBitfield ||
        (newOff === nextOff && roundup(curOff, nextAlign * 8) !== newOff) ||
        (newOff !== nextOff && nextOff - newOff <= newOff - curOff)
      ) {
        this.print(`\n${pfx(lvl)}${padType}: ${inBitfield ? newOff - curOff : 0};`);
      }
      curOff = newOff;
    }
    while (curOff !== nextOff) {
      const bits = Math.min(nextOff - curOff, padBits);
      if (bits === padBits) {
        this.print(`\n${pfx(lvl)}${padType}: ${padBits};`);
        curOff += bits;
        continue;
      }
      for (let i = pads.length - 1; i >= 0; i--) {
        padType = pads[i][0];
        padBits = pads[i][1];
        if (padBits < bits) continue;
        this.print(`\n${pfx(lvl)}${padType}: ${bits};`);
        curOff += bits;
        break;
      }
    }
  }

  private emitStructFwd(id: number, t: CompositeType): void {
    const kw = t.kind === Kind.STRUCT ? "struct" : "union";
    this.print(`${kw}${t.name ? " " : ""}${this.typeName(id)}`);
  }

  private emitStructDef(id: number, t: CompositeType, lvl: number): void {
    const isStruct = t.kind === Kind.STRUCT;
    const align = this.alignOf(id);
    const packed = isStruct ? this.isPacked(t) : false;
    this.print(`${isStruct ? "struct" : "union"}${t.name ? " " : ""}${this.typeName(id)} {`);
    let off = 0;
    let prevBitfield = false;
    for (const m of t.members) {
      let size = m.bitfieldSize;
      const mAlign = packed ? 1 : this.alignOf(m.type);
      const inBitfield = prevBitfield && size !== 0;
      this.emitBitPadding(off, m.bitOffset, mAlign, inBitfield, lvl + 1);
      this.print(`\n${pfx(lvl + 1)}`);
      this.emitTypeDecl(m.type, m.name, lvl + 1);
      if (size) {
        this.print(`: ${size}`);
        off = m.bitOffset + size;
        prevBitfield = true;
      } else {
        size = Math.max(0, this.resolveSize(m.type));
        off = m.bitOffset + size * 8;
        prevBitfield = false;
      }
      this.print(";");
    }
    if (isStruct) this.emitBitPadding(off, t.size * 8, align, false, lvl + 1);
    if (t.members.length || t.size) this.print(`\n${pfx(lvl)}}`);
    else this.print("}");
    if (packed) this.print(" __attribute__((packed))");
  }

  private emitEnumDef(id: number, t: EnumType, lvl: number): void {
    this.print(`enum${t.name ? " " : ""}${this.typeName(id)}`);
    if (t.values.length === 0) return;
    this.print(" {");
    const is64 = t.kind === Kind.ENUM64;
    for (const v of t.values) {
      const dups = this.nameDups(this.identNames, v.name);
      const name = dups > 1 ? `${v.name}___${dups}` : v.name;
      let val: string;
      if (is64) {
        const u = BigInt.asUintN(64, v.value);
        val = t.signed ? `${BigInt.asIntN(64, u)}LL` : `${u}ULL`;
      } else {
        const u = BigInt.asUintN(32, v.value);
        val = t.signed ? `${BigInt.asIntN(32, u)}` : `${u}`;
      }
      this.print(`\n${pfx(lvl + 1)}${name} = ${val},`);
    }
    this.print(`\n${pfx(lvl)}}`);
    if (t.size === 1) {
      this.print(" __attribute__((mode(byte)))");
    } else if (t.size === 8) {
      const needsWord = !is64 || t.values.every((v) => BigInt.asUintN(64, v.value) >> 32n === 0n);
      if (needsWord) this.print(" __attribute__((mode(word)))");
    }
  }

  private emitTypedefDef(id: number, type: number, lvl: number): void {
    const name = this.identName(id);
    if (type === 0 && name === "__gnuc_va_list") {
      this.print("typedef __builtin_va_list __gnuc_va_list");
      return;
    }
    this.print("typedef ");
    this.emitTypeDecl(type, name, lvl);
  }

  /** A declaration of `fname` with type `id` (a member, a parameter, a typedef). */
  emitTypeDecl(id: number, fname: string, lvl: number): void {
    this.nested(id, () => this.emitTypeDeclAt(id, fname, lvl));
  }

  private emitTypeDeclAt(id: number, fname: string, lvl: number): void {
    const stack: number[] = [];
    for (let guard = 0; guard < 1024; guard++) {
      stack.push(id);
      if (id === 0) break;
      const t = this.t(id);
      let next = -1;
      switch (t.kind) {
        case Kind.PTR:
        case Kind.VOLATILE:
        case Kind.CONST:
        case Kind.RESTRICT:
        case Kind.TYPE_TAG:
          next = t.type;
          break;
        case Kind.FUNC_PROTO:
          next = t.returnType;
          break;
        case Kind.ARRAY:
          next = t.elemType;
          break;
      }
      if (next < 0) break;
      id = next;
    }
    this.emitTypeChain(stack, fname, lvl);
  }

  private emitMods(decls: number[]): void {
    while (decls.length) {
      const id = decls[decls.length - 1];
      const k = this.btf.kind(id);
      if (k === Kind.VOLATILE) this.print("volatile ");
      else if (k === Kind.CONST) this.print("const ");
      else if (k === Kind.RESTRICT) this.print("restrict ");
      else return;
      decls.pop();
    }
  }

  private dropMods(decls: number[]): void {
    while (decls.length && isMod(this.btf.kind(decls[decls.length - 1]))) decls.pop();
  }

  private emitName(name: string, lastWasPtr: boolean): void {
    this.print(name && !lastWasPtr ? ` ${name}` : name);
  }

  private emitTypeChain(decls: number[], fname: string, lvl: number): void {
    let lastWasPtr = true;
    while (decls.length) {
      const id = decls.pop()!;
      if (id === 0) {
        this.emitMods(decls);
        this.print("void");
        lastWasPtr = false;
        continue;
      }
      const t = this.t(id);
      switch (t.kind) {
        case Kind.INT:
        case Kind.FLOAT:
          this.emitMods(decls);
          this.print(t.name);
          break;
        case Kind.STRUCT:
        case Kind.UNION:
          this.emitMods(decls);
          if (t.name === "") this.emitStructDef(id, t, lvl);
          else this.emitStructFwd(id, t);
          break;
        case Kind.ENUM:
        case Kind.ENUM64:
          this.emitMods(decls);
          if (t.name === "") this.emitEnumDef(id, t, lvl);
          else this.print(`enum ${this.typeName(id)}`);
          break;
        case Kind.FWD:
          this.emitMods(decls);
          this.print(`${t.union ? "union" : "struct"} ${this.typeName(id)}`);
          break;
        case Kind.TYPEDEF:
          this.emitMods(decls);
          this.print(this.identName(id));
          break;
        case Kind.PTR:
          this.print(lastWasPtr ? "*" : " *");
          break;
        case Kind.VOLATILE:
          this.print(" volatile");
          break;
        case Kind.CONST:
          this.print(" const");
          break;
        case Kind.RESTRICT:
          this.print(" restrict");
          break;
        case Kind.TYPE_TAG:
          this.emitMods(decls);
          this.print(` __attribute__((btf_type_tag("${t.name}")))`);
          break;
        case Kind.ARRAY: {
          this.dropMods(decls);
          if (decls.length === 0) {
            this.emitName(fname, lastWasPtr);
            this.print(`[${t.nelems}]`);
            return;
          }
          const multidim = this.btf.kind(decls[decls.length - 1]) === Kind.ARRAY;
          if (fname && !lastWasPtr) this.print(" ");
          if (!multidim) this.print("(");
          this.emitTypeChain(decls, fname, lvl);
          if (!multidim) this.print(")");
          this.print(`[${t.nelems}]`);
          return;
        }
        case Kind.FUNC_PROTO: {
          this.dropMods(decls);
          if (decls.length) {
            this.print(" (");
            this.emitTypeChain(decls, fname, lvl);
            this.print(")");
          } else {
            this.emitName(fname, lastWasPtr);
          }
          this.print("(");
          const ps = t.params;
          // No parameters (or clang's single void one): valid C says (void).
          if (ps.length === 0 || (ps.length === 1 && ps[0].type === 0)) {
            this.print("void)");
            return;
          }
          for (let i = 0; i < ps.length; i++) {
            if (i > 0) this.print(", ");
            if (i === ps.length - 1 && ps[i].type === 0) {
              this.print("...");
              break;
            }
            this.emitTypeDecl(ps[i].type, ps[i].name, lvl);
          }
          this.print(")");
          return;
        }
        default:
          return;
      }
      lastWasPtr = t.kind === Kind.PTR;
    }
    this.emitName(fname, lastWasPtr);
  }

  private nameDups(map: Map<string, number>, name: string): number {
    const n = (map.get(name) ?? 0) + 1;
    map.set(name, n);
    return n;
  }

  private resolveName(id: number, map: Map<string, number>): string {
    const t = this.t(id);
    if (t.name === "") return "";
    if (this.nameResolved[id]) return this.cachedNames.get(id) ?? t.name;
    this.nameResolved[id] = 1;
    if (t.kind === Kind.FWD || (t.kind === Kind.ENUM && t.values.length === 0)) return t.name;
    const dups = this.nameDups(map, t.name);
    if (dups > 1) {
      const name = `${t.name}___${dups}`;
      this.cachedNames.set(id, name);
      return name;
    }
    return t.name;
  }

  private typeName(id: number): string {
    return this.resolveName(id, this.typeNames);
  }

  private identName(id: number): string {
    return this.resolveName(id, this.identNames);
  }
}

/** The whole C header for `ids` (default: every type), as bpftool prints it. */
export function dumpC(btf: Btf, ids?: number[]): string {
  const d = new CDumper(btf);
  const parts = [C_HEADER];
  if (ids) { for (const id of ids) parts.push(d.dumpType(id)); }
  else for (let id = 1; id < btf.count; id++) parts.push(d.dumpType(id));
  parts.push(C_FOOTER);
  return parts.join("");
}
