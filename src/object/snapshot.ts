// An object spec's snapshot: what loadObjectSpec makes of an embedded object, written at build
// time (scripts/build-bpf.ts) as one JSON text, and made back into an ObjectSpec at start-up
// by JSON.parse and base64 decoding (both native) instead of parsing the ELF, its BTF.ext and
// its relocations in JavaScript that runs cold at every start (exec: ~10 ms of a start, against
// ~3). The ELF itself is parsed only if something asks for spec.elf (`tracer inspect`); the
// loader's DATASEC fix-up and each function's section size are in the snapshot. Pure.

import type { BtfExt, CoreReloRecord, FuncInfoRecord, LineInfoRecord } from "../btf/ext.ts";
import { fromBase64, toBase64 } from "../base64.ts";
import { Btf } from "../btf/reader.ts";
import { type ElfFile, parseElf } from "../elf/reader.ts";
import { FormatError } from "../errors.ts";
import type { ExternSpec } from "./externs.ts";
import { functionFuncInfo, functionLineInfo } from "./load.ts";
import type { MapSpec, ObjectSpec, ProgramSpec } from "./types.ts";

/** The snapshot format: a snapshot of another format is refused. */
const FORMAT = 1;

type MapSnapshot = Omit<MapSpec, "data"> & {
  data?: Omit<NonNullable<MapSpec["data"]>, "bytes"> & { bytes: string };
};

type FunctionSnapshot = Omit<ProgramSpec, "insns" | "funcInfo" | "lineInfo"> & { insns: string };

interface ObjectSnapshot {
  format: number;
  name: string;
  license: string;
  kernelVersion: number;
  /** The .BTF section, and the same with its DATASECs fixed up, base64. */
  btf: string;
  datasecBtf: string;
  ext: {
    funcInfo: [string, FuncInfoRecord[]][];
    /** Per section: insnOff, fileNameOff, lineOff, line, col of each record, in a row. */
    lineInfo: [string, number[]][];
    coreRelos: [string, CoreReloRecord[]][];
    funcInfoRecSize: number;
    lineInfoRecSize: number;
    coreReloRecSize: number;
  } | null;
  programs: FunctionSnapshot[];
  subprograms: FunctionSnapshot[];
  maps: MapSnapshot[];
  externs: ExternSpec[];
}

/** The snapshot of `spec` (parsed by loadObjectSpec), with its fixed-up BTF `datasecBtf`. */
export function objectSnapshot(spec: ObjectSpec, datasecBtf: Uint8Array): string {
  const fn = (f: ProgramSpec): FunctionSnapshot => ({
    name: f.name,
    section: f.section,
    sectionIndex: f.sectionIndex,
    offset: f.offset,
    sectionSize: f.sectionSize,
    insns: toBase64(f.insns),
    attach: f.attach,
    progType: f.progType,
    expectedAttachType: f.expectedAttachType,
    sleepable: f.sleepable,
    autoload: f.autoload,
    isSubprogram: f.isSubprogram,
    relocations: f.relocations,
  });
  const ext = spec.ext;
  const snapshot: ObjectSnapshot = {
    format: FORMAT,
    name: spec.name,
    license: spec.license,
    kernelVersion: spec.kernelVersion,
    btf: toBase64(spec.btf.bytes),
    datasecBtf: toBase64(datasecBtf),
    ext: ext && {
      funcInfo: [...ext.funcInfo],
      lineInfo: [...ext.lineInfo].map(([section, recs]) => [
        section,
        recs.flatMap((r) => [r.insnOff, r.fileNameOff, r.lineOff, r.line, r.col]),
      ]),
      coreRelos: [...ext.coreRelos],
      funcInfoRecSize: ext.funcInfoRecSize,
      lineInfoRecSize: ext.lineInfoRecSize,
      coreReloRecSize: ext.coreReloRecSize,
    },
    programs: spec.programs.map(fn),
    subprograms: spec.subprograms.map(fn),
    maps: spec.maps.map((m): MapSnapshot => ({
      ...m,
      data: m.data && { ...m.data, bytes: toBase64(m.data.bytes) },
    })),
    externs: spec.externs,
  };
  return JSON.stringify(snapshot);
}

/**
 * The ObjectSpec of a snapshot; `bytes` gives the object's ELF bytes, parsed only when
 * spec.elf is first read.
 */
export function specFromSnapshot(text: string, bytes: () => Uint8Array): ObjectSpec {
  const s = JSON.parse(text) as ObjectSnapshot;
  if (s.format !== FORMAT) {
    throw new FormatError(
      `snapshot of BPF object ${s.name}`,
      0,
      `format ${s.format}, not ${FORMAT}`,
    );
  }
  const what = `BPF object ${s.name}`;
  const btf = Btf.parse(fromBase64(s.btf), { what: `${s.name} .BTF` });
  const ext: BtfExt | null = s.ext && {
    funcInfo: new Map(s.ext.funcInfo),
    lineInfo: new Map(s.ext.lineInfo.map(([section, n]) => {
      const recs: LineInfoRecord[] = [];
      for (let i = 0; i < n.length; i += 5) {
        recs.push({
          insnOff: n[i],
          fileNameOff: n[i + 1],
          lineOff: n[i + 2],
          line: n[i + 3],
          col: n[i + 4],
        });
      }
      return [section, recs];
    })),
    coreRelos: new Map(s.ext.coreRelos),
    funcInfoRecSize: s.ext.funcInfoRecSize,
    lineInfoRecSize: s.ext.lineInfoRecSize,
    coreReloRecSize: s.ext.coreReloRecSize,
  };
  const fn = (f: FunctionSnapshot): ProgramSpec => {
    const insns = fromBase64(f.insns);
    const end = f.offset + insns.length;
    let funcInfo: ProgramSpec["funcInfo"] | undefined;
    let lineInfo: ProgramSpec["lineInfo"] | undefined;
    return {
      ...f,
      insns,
      get funcInfo() {
        return funcInfo ??= functionFuncInfo(ext?.funcInfo.get(f.section) ?? [], f.offset, end);
      },
      get lineInfo() {
        return lineInfo ??= functionLineInfo(ext?.lineInfo.get(f.section) ?? [], f.offset, end);
      },
    };
  };
  let elf: ElfFile | undefined;
  return {
    name: s.name,
    license: s.license,
    kernelVersion: s.kernelVersion,
    btf,
    ext,
    get elf() {
      return elf ??= parseElf(bytes(), what);
    },
    programs: s.programs.map(fn),
    subprograms: s.subprograms.map(fn),
    maps: s.maps.map((m): MapSpec => ({
      ...m,
      data: m.data && { ...m.data, bytes: fromBase64(m.data.bytes) },
    })),
    externs: s.externs,
    datasecBtf: fromBase64(s.datasecBtf),
  };
}
