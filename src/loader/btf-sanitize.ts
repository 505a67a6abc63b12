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
  /** ENUM64 (6.0). Without: a UNION of the same size whose members are 4-byte INTs. */
  enum64: boolean;
}

export const NO_NEW_KINDS: BtfFeatures = {
  funcGlobal: false,
  float: false,
  declTag: false,
  typeTag: false,
  enum64: false,
};

const info = (kind: number, vlen: number, kindFlag = false) =>
  ((kindFlag ? 1 : 0) << 31 | kind << 24 | (vlen & 0xffff)) >>> 0;

const HDR_TYPE_OFF = 8, HDR_TYPE_LEN = 12, HDR_STR_OFF = 16;
const INT_RECORD_SIZE = 16;

/**
 * A copy of the blob with one more type at the end of the type section: an anonymous 4-byte
 * unsigned INT (libbpf's ENUM64 placeholder). Needs clang's layout (types, then strings).
 * Returns null for another layout.
 */
function appendPlaceholderInt(btf: Btf, bytes: Uint8Array): Uint8Array | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hdrLen = dv.getUint32(4, true);
  const typeOff = dv.getUint32(HDR_TYPE_OFF, true);
  const typeLen = dv.getUint32(HDR_TYPE_LEN, true);
  const strOff = dv.getUint32(HDR_STR_OFF, true);
  if (typeOff !== 0 || strOff !== typeLen || btf.base) return null;
  const cut = hdrLen + typeLen;
  const out = new Uint8Array(bytes.length + INT_RECORD_SIZE);
  out.set(bytes.subarray(0, cut), 0);
  out.set(bytes.subarray(cut), cut + INT_RECORD_SIZE);
  const o = new DataView(out.buffer);
  o.setUint32(cut, 0, true); // anonymous
  o.setUint32(cut + 4, info(Kind.INT, 0), true);
  o.setUint32(cut + 8, 4, true); // size 4
  o.setUint32(cut + 12, 32, true); // BTF_INT_ENC(0, 0, 32)
  o.setUint32(HDR_TYPE_LEN, typeLen + INT_RECORD_SIZE, true);
  o.setUint32(HDR_STR_OFF, strOff + INT_RECORD_SIZE, true);
  return out;
}

/**
 * Rewrites, in `bytes` (the raw BTF `btf` was parsed from, or a same-layout copy), each type
 * of a kind the kernel lacks. ENUM64 needs one more type, so the result may be a new array.
 * Returns it and what changed, e.g. { FLOAT: 2, TYPE_TAG: 5 }.
 */
export function sanitizeBtf(
  btf: Btf,
  input: Uint8Array,
  features: BtfFeatures,
): { bytes: Uint8Array; changed: Record<string, number> } {
  let bytes = input;
  let placeholder = 0;
  if (!features.enum64) {
    let has = false;
    for (let id = btf.firstId; id < btf.count && !has; id++) has = btf.kind(id) === Kind.ENUM64;
    const grown = has ? appendPlaceholderInt(btf, input) : null;
    if (grown) {
      bytes = grown;
      placeholder = btf.count; // the new type's id
    }
  }
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
      case Kind.ENUM64:
        if (placeholder) {
          // enum64 values {name_off, lo32, hi32} become union members {name_off, type, offset}.
          const vlen = dv.getUint32(at + 4, true) & 0xffff;
          dv.setUint32(at + 4, info(Kind.UNION, vlen), true);
          for (let i = 0; i < vlen; i++) {
            dv.setUint32(at + 12 + i * 12 + 4, placeholder, true);
            dv.setUint32(at + 12 + i * 12 + 8, 0, true);
          }
          count(kind); // size at +8 kept
        }
        break;
    }
  }
  return { bytes, changed };
}
