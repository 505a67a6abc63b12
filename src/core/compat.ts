// Type compatibility rules of CO-RE (libbpf relo_core.c): fields_are_compat (field
// relocations), types_are_compat (type-based relocations) and types_match (TYPE_MATCHES).
// Each returns true/false, or throws CoreStepError where libbpf returns an error. Pure.

import type { Btf } from "../btf/reader.ts";
import { type BtfType, INT_SIGNED, Kind } from "../btf/types.ts";
import { CoreStepError } from "./errors.ts";
import { isAnyEnum, isComposite, kindOf, kindsCoreCompat, skipMods, typeOf } from "./btf-view.ts";
import { essentialNameLength } from "./names.ts";

const VOID = { kind: Kind.UNKN, name: "", id: 0 } as const;
type TypeOrVoid = BtfType | typeof VOID;

function get(btf: Btf, id: number): TypeOrVoid {
  return id === 0 ? VOID : typeOf(btf, id);
}

function skip(btf: Btf, id: number): number {
  const r = skipMods(btf, id);
  if (r < 0) throw new CoreStepError(`type ${id} does not resolve (EINVAL)`);
  return r;
}

function intOffset(t: TypeOrVoid): number {
  return t.kind === Kind.INT ? t.offset : 0;
}

/** Both essential names equal, or one of them anonymous (enum/fwd rule of fields_are_compat). */
function enumNamesCompat(a: string, b: string): boolean {
  const la = essentialNameLength(a);
  const lb = essentialNameLength(b);
  return la === 0 || lb === 0 || (la === lb && a.slice(0, la) === b.slice(0, lb));
}

/** bpf_core_fields_are_compat */
export function fieldsAreCompat(lb: Btf, lid: number, tb: Btf, tid: number): boolean {
  for (let depth = 0; depth < 64; depth++) {
    lid = skip(lb, lid);
    tid = skip(tb, tid);
    const lt = get(lb, lid);
    const tt = get(tb, tid);
    if (isComposite(lt.kind) && isComposite(tt.kind)) return true;
    if (!kindsCoreCompat(lt.kind, tt.kind)) return false;
    switch (lt.kind) {
      case Kind.PTR:
      case Kind.FLOAT:
        return true;
      case Kind.FWD:
      case Kind.ENUM:
      case Kind.ENUM64:
        return enumNamesCompat(lt.name, tt.name);
      case Kind.INT:
        return intOffset(lt) === 0 && intOffset(tt) === 0;
      case Kind.ARRAY:
        lid = (lt as { elemType: number }).elemType;
        tid = (tt as { elemType: number }).elemType;
        continue;
      default:
        return false;
    }
  }
  throw new CoreStepError("type nesting too deep (EINVAL)");
}

/** __bpf_core_types_are_compat (level starts at 32). */
export function typesAreCompat(
  lb: Btf,
  lid: number,
  tb: Btf,
  tid: number,
  level = 32,
): boolean {
  if (!kindsCoreCompat(kindOf(lb, lid), kindOf(tb, tid))) return false;
  let depth = 32;
  for (;;) {
    if (--depth < 0) throw new CoreStepError("type nesting too deep (EINVAL)");
    lid = skip(lb, lid);
    tid = skip(tb, tid);
    const lt = get(lb, lid);
    const tt = get(tb, tid);
    if (!kindsCoreCompat(lt.kind, tt.kind)) return false;
    switch (lt.kind) {
      case Kind.UNKN:
      case Kind.STRUCT:
      case Kind.UNION:
      case Kind.ENUM:
      case Kind.FWD:
      case Kind.ENUM64:
        return true;
      case Kind.INT:
        return intOffset(lt) === 0 && intOffset(tt) === 0;
      case Kind.PTR:
        lid = (lt as { type: number }).type;
        tid = (tt as { type: number }).type;
        continue;
      case Kind.ARRAY:
        lid = (lt as { elemType: number }).elemType;
        tid = (tt as { elemType: number }).elemType;
        continue;
      case Kind.FUNC_PROTO: {
        const lp = lt as { params: { type: number }[]; returnType: number };
        const tp = tt as { params: { type: number }[]; returnType: number };
        if (lp.params.length !== tp.params.length) return false;
        for (let i = 0; i < lp.params.length; i++) {
          if (level <= 0) throw new CoreStepError("type nesting too deep (EINVAL)");
          const a = skip(lb, lp.params[i].type);
          const b = skip(tb, tp.params[i].type);
          if (!typesAreCompat(lb, a, tb, b, level - 1)) return false;
        }
        lid = skip(lb, lp.returnType);
        tid = skip(tb, tp.returnType);
        continue;
      }
      default:
        return false;
    }
  }
}

/** bpf_core_names_match: an anonymous target matches only an anonymous local. */
function namesMatch(local: string, targ: string): boolean {
  if (targ === "") return local === "";
  const ll = essentialNameLength(local);
  const tl = essentialNameLength(targ);
  return ll === tl && local.slice(0, ll) === targ.slice(0, tl);
}

function enumsMatch(lt: BtfType, tt: BtfType): boolean {
  const l = lt as { size: number; values: { name: string }[] };
  const t = tt as { size: number; values: { name: string }[] };
  if (l.size !== t.size) return false;
  if (l.values.length > t.values.length) return false;
  return l.values.every((lv) => t.values.some((tv) => namesMatch(lv.name, tv.name)));
}

function compositesMatch(
  lb: Btf,
  lt: BtfType,
  tb: Btf,
  tt: BtfType,
  behindPtr: boolean,
  level: number,
): boolean {
  const lm = (lt as { members: { name: string; type: number }[] }).members;
  const tm = (tt as { members: { name: string; type: number }[] }).members;
  if (lm.length > tm.length) return false;
  for (const m of lm) {
    let matched = false;
    for (const n of tm) {
      if (!namesMatch(m.name, n.name)) continue;
      if (typesMatch(lb, m.type, tb, n.type, behindPtr, level - 1)) {
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  return true;
}

/** __bpf_core_types_match (level starts at 32, not behind a pointer). */
export function typesMatch(
  lb: Btf,
  lid: number,
  tb: Btf,
  tid: number,
  behindPtr = false,
  level = 32,
): boolean {
  if (level <= 0) throw new CoreStepError("type nesting too deep (EINVAL)");
  kindOf(lb, lid);
  kindOf(tb, tid);
  let depth = 32;
  for (;;) {
    if (--depth < 0) throw new CoreStepError("type nesting too deep (EINVAL)");
    lid = skip(lb, lid);
    tid = skip(tb, tid);
    const lt = get(lb, lid);
    const tt = get(tb, tid);
    if (!namesMatch(lt.name, tt.name)) return false;
    const lk = lt.kind;
    const tk = tt.kind;
    switch (lk) {
      case Kind.UNKN:
        return lk === tk;
      case Kind.FWD: {
        const lf = (lt as { union: boolean }).union;
        if (behindPtr) {
          if (lk === tk) return lf === (tt as { union: boolean }).union;
          return (tk === Kind.STRUCT && !lf) || (tk === Kind.UNION && lf);
        }
        if (lk !== tk) return false;
        return lf === (tt as { union: boolean }).union;
      }
      case Kind.ENUM:
      case Kind.ENUM64:
        if (!isAnyEnum(tk)) return false;
        return enumsMatch(lt as BtfType, tt as BtfType);
      case Kind.STRUCT:
      case Kind.UNION:
        if (behindPtr) {
          if (lk === tk) return true;
          if (tk !== Kind.FWD) return false;
          return (lk === Kind.UNION) === (tt as { union: boolean }).union;
        }
        if (lk !== tk) return false;
        return compositesMatch(lb, lt as BtfType, tb, tt as BtfType, behindPtr, level);
      case Kind.INT: {
        if (lk !== tk) return false;
        const l = lt as { size: number; encoding: number };
        const t = tt as { size: number; encoding: number };
        return l.size === t.size && (l.encoding & INT_SIGNED) === (t.encoding & INT_SIGNED);
      }
      case Kind.PTR:
        if (lk !== tk) return false;
        behindPtr = true;
        lid = (lt as { type: number }).type;
        tid = (tt as { type: number }).type;
        continue;
      case Kind.ARRAY: {
        if (lk !== tk) return false;
        const l = lt as { nelems: number; elemType: number };
        const t = tt as { nelems: number; elemType: number };
        if (l.nelems !== t.nelems) return false;
        lid = l.elemType;
        tid = t.elemType;
        continue;
      }
      case Kind.FUNC_PROTO: {
        if (lk !== tk) return false;
        const lp = lt as { params: { type: number }[]; returnType: number };
        const tp = tt as { params: { type: number }[]; returnType: number };
        if (lp.params.length !== tp.params.length) return false;
        for (let i = 0; i < lp.params.length; i++) {
          if (!typesMatch(lb, lp.params[i].type, tb, tp.params[i].type, behindPtr, level - 1)) {
            return false;
          }
        }
        lid = lp.returnType;
        tid = tp.returnType;
        continue;
      }
      default:
        return false;
    }
  }
}
