// .BTF.ext reader: func_info, line_info and CO-RE relocation records, per ELF section.
// Offsets are bytes within the section, as in the object file. Pure.

import { FormatError } from "../errors.ts";
import type { Btf } from "./reader.ts";

export interface FuncInfoRecord {
  /** Byte offset of the function's first instruction within its section. */
  insnOff: number;
  typeId: number;
}

export interface LineInfoRecord {
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  line: number;
  col: number;
}

export interface CoreReloRecord {
  insnOff: number;
  typeId: number;
  /** The access string, e.g. "0:1:2". */
  accessStr: string;
  /** bpf_core_relo_kind (0 = FIELD_BYTE_OFFSET ...). */
  kind: number;
}

export interface BtfExt {
  funcInfo: Map<string, FuncInfoRecord[]>;
  lineInfo: Map<string, LineInfoRecord[]>;
  coreRelos: Map<string, CoreReloRecord[]>;
  funcInfoRecSize: number;
  lineInfoRecSize: number;
  coreReloRecSize: number;
}

const BTF_EXT_MAGIC = 0xeb9f;
const MIN_HEADER = 24;
const CORE_HEADER = 32;

export function parseBtfExt(bytes: Uint8Array, btf: Btf, what = ".BTF.ext"): BtfExt {
  if (bytes.length < MIN_HEADER) {
    throw new FormatError(what, 0, `${bytes.length} bytes is shorter than a .BTF.ext header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(0, true);
  if (magic === 0x9feb) throw new FormatError(what, 0, "big-endian .BTF.ext is not supported");
  if (magic !== BTF_EXT_MAGIC) throw new FormatError(what, 0, `bad magic 0x${magic.toString(16)}`);
  if (bytes[2] !== 1) throw new FormatError(what, 2, `unsupported version ${bytes[2]}`);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < MIN_HEADER || hdrLen > bytes.length) {
    throw new FormatError(what, 4, `bad header length ${hdrLen}`);
  }
  const section = (field: number) => {
    const off = view.getUint32(field, true);
    const len = view.getUint32(field + 4, true);
    const start = hdrLen + off;
    if (start > bytes.length || len > bytes.length - start) {
      throw new FormatError(
        what,
        field,
        `sub-section [${off}, +${len}) past end (${bytes.length - hdrLen})`,
      );
    }
    return { start, len };
  };
  const str = (off: number, at: number) => {
    try {
      return btf.string(off);
    } catch {
      throw new FormatError(what, at, `string offset ${off} not in the BTF string section`);
    }
  };

  /** Walks one info sub-section: record size, then per ELF section: name, count, records. */
  function walk<T>(
    name: string,
    { start, len }: { start: number; len: number },
    minRecSize: number,
    record: (at: number) => T,
  ): { map: Map<string, T[]>; recSize: number } {
    const map = new Map<string, T[]>();
    if (len === 0) return { map, recSize: 0 };
    const end = start + len;
    if (len < 4) throw new FormatError(what, start, `${name} too short`);
    const recSize = view.getUint32(start, true);
    if (recSize < minRecSize || recSize % 4 !== 0) {
      throw new FormatError(
        what,
        start,
        `${name} record size ${recSize} (expected >= ${minRecSize})`,
      );
    }
    let p = start + 4;
    while (p < end) {
      if (end - p < 8) throw new FormatError(what, p, `${name} section header truncated`);
      const secName = str(view.getUint32(p, true), p);
      const num = view.getUint32(p + 4, true);
      p += 8;
      if (num === 0) throw new FormatError(what, p - 4, `${name} for ${secName} has no records`);
      if (num > (end - p) / recSize) {
        throw new FormatError(
          what,
          p - 4,
          `${name} for ${secName}: ${num} records overrun the sub-section`,
        );
      }
      const records: T[] = map.get(secName) ?? [];
      for (let i = 0; i < num; i++, p += recSize) records.push(record(p));
      map.set(secName, records);
    }
    return { map, recSize };
  }

  const fi = walk("func_info", section(8), 8, (at) => ({
    insnOff: view.getUint32(at, true),
    typeId: checkType(view.getUint32(at + 4, true), at),
  }));
  const li = walk("line_info", section(16), 16, (at) => {
    const lineCol = view.getUint32(at + 12, true);
    return {
      insnOff: view.getUint32(at, true),
      fileNameOff: view.getUint32(at + 4, true),
      lineOff: view.getUint32(at + 8, true),
      line: lineCol >>> 10,
      col: lineCol & 0x3ff,
    };
  });
  const cr = hdrLen >= CORE_HEADER
    ? walk("core_relo", section(24), 16, (at) => ({
      insnOff: view.getUint32(at, true),
      typeId: checkType(view.getUint32(at + 4, true), at),
      accessStr: str(view.getUint32(at + 8, true), at + 8),
      kind: view.getUint32(at + 12, true),
    }))
    : { map: new Map<string, CoreReloRecord[]>(), recSize: 0 };

  function checkType(id: number, at: number): number {
    if (id >= btf.count) {
      throw new FormatError(what, at, `type id ${id} out of range (${btf.count} types)`);
    }
    return id;
  }

  return {
    funcInfo: fi.map,
    lineInfo: li.map,
    coreRelos: cr.map,
    funcInfoRecSize: fi.recSize,
    lineInfoRecSize: li.recSize,
    coreReloRecSize: cr.recSize,
  };
}
