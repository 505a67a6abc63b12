// Rewrites BTF kinds an older kernel does not know into ones it does, in place and keeping
// every record's length, as libbpf's bpf_object__sanitize_btf does. The loader uses it when
// BPF_BTF_LOAD refuses the object's BTF, then tries again. Pure.

import type { Btf } from "../btf/reader.ts";
import { Kind } from "../btf/types.ts";

export interface BtfFeatures {
  /** BTF_FUNC_GLOBAL linkage (5.6). Without: global functions become static. */
  funcGlobal: boolean;
  /** FLOAT (5.13). Without: an empty STRUCT of the same size. */
  float: boolean;
  /** DECL_TAG (5.16). Without: an anonymous 1-byte INT. */
  declTag: boolean;
  /** TYPE_TAG (5.17). Without: CONST of the same type. */
  typeTag: boolean;
}

export const NO_NEW_KINDS: BtfFeatures = {
  funcGlobal: false,
  float: false,
  declTag: false,
  typeTag: false,
};

const info = (kind: number, vlen: number, kindFlag = false) =>
  ((kindFlag ? 1 : 0) << 31 | kind << 24 | (vlen & 0xffff)) >>> 0;

/**
 * Rewrites, in `bytes` (the raw BTF `btf` was parsed from, or a same-layout copy), each type
 * of a kind the kernel lacks. Returns what it changed, e.g. { FLOAT: 2, TYPE_TAG: 5 }.
 */
export function sanitizeBtf(
  btf: Btf,
  bytes: Uint8Array,
  features: BtfFeatures,
): Record<string, number> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const changed: Record<string, number> = {};
  const count = (k: Kind) => (changed[Kind[k]] = (changed[Kind[k]] ?? 0) + 1);
  for (let id = btf.firstId; id < btf.count; id++) {
    const kind = btf.kind(id);
    const at = btf.recordOffset(id);
    switch (kind) {
      case Kind.FUNC:
        if (!features.funcGlobal && (dv.getUint32(at + 4, true) & 0xffff) !== 0) {
          dv.setUint32(at + 4, info(Kind.FUNC, 0), true);
          count(kind);
        }
        break;
      case Kind.FLOAT:
        if (!features.float) {
          dv.setUint32(at, 0, true); // anonymous: a named empty struct could clash
          dv.setUint32(at + 4, info(Kind.STRUCT, 0), true);
          count(kind); // size at +8 kept
        }
        break;
      case Kind.DECL_TAG:
        if (!features.declTag) {
          dv.setUint32(at, 0, true);
          dv.setUint32(at + 4, info(Kind.INT, 0), true);
          dv.setUint32(at + 8, 1, true); // size 1
          dv.setUint32(at + 12, 8, true); // BTF_INT_ENC(0, 0, 8): 8 bits, unsigned
          count(kind);
        }
        break;
      case Kind.TYPE_TAG:
        if (!features.typeTag) {
          dv.setUint32(at, 0, true); // CONST has no name
          dv.setUint32(at + 4, info(Kind.CONST, 0), true);
          count(kind); // referenced type at +8 kept
        }
        break;
    }
  }
  return changed;
}
