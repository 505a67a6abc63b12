// Object spec → loaded kernel objects: the object's BTF (fixed up), its maps (global data
// filled, .rodata configured and frozen), and its programs (CO-RE relocated, maps
// patched, subprograms linked, func/line info attached). Every fd is owned by the
// Collection; close() releases them all, and a failed load closes what it created.
// Runtime-neutral: reaches the kernel only through the Platform and src/kernel wrappers.

import { SysError, TracerError } from "../errors.ts";
import { InsnBuffer } from "../asm/insn.ts";
import type { Btf } from "../btf/reader.ts";
import { Kind } from "../btf/types.ts";
import { SHF_EXECINSTR } from "../elf/constants.ts";
import type { Rel } from "../elf/reader.ts";
import type { Platform } from "../platform/types.ts";
import {
  type BpfMap,
  type BpfProgram,
  btfLoad,
  type BtfObject,
  mapCreate,
  progLoad,
} from "../kernel/bpf.ts";
import { MapType } from "../kernel/constants.ts";
import type { LoaderMapSpec, LoaderObjectSpec, LoaderProgramSpec } from "./spec.ts";
import { fixDatasecs } from "./btf-fixup.ts";
import { applyConstants, type ConstantValue } from "./constants.ts";
import { relocateMaps } from "./relocate-maps.ts";
import {
  type CodeSection,
  encodeFuncInfo,
  encodeLineInfo,
  functionsOf,
  linkProgram,
} from "./link-subprograms.ts";

export class LoadError extends TracerError {}

/**
 * Applies CO-RE relocations to one code section's private copy (instruction offsets in the
 * .BTF.ext records are relative to that section). The CO-RE engine (src/core) provides it.
 */
export type CoreRelocator = (
  spec: LoaderObjectSpec,
  section: { name: string; index: number; insns: Uint8Array },
) => void;

export interface LoadOptions {
  /** `const volatile` variables of .rodata to set before load, by name. */
  constants?: Record<string, ConstantValue>;
  /** Load only these programs (default: all). */
  programs?: string[];
  /** The CO-RE engine; required when the object has CO-RE relocations. */
  core?: CoreRelocator;
  /** Kernel BTF, for tp_btf / fentry attach ids (loaded lazily when needed). */
  kernelBtf?: () => Btf;
  /** Per-map overrides, e.g. a ring buffer size chosen on the command line. */
  mapSizes?: Record<string, number>;
  /** Verifier log level for successful loads too (the log lands on LoadedProgram.log). */
  logLevel?: number;
}

export interface LoadedProgram {
  name: string;
  spec: LoaderProgramSpec;
  program: BpfProgram;
  /** Instruction count after linking. */
  insnCount: number;
}

export class Collection {
  /** Maps by name (global-data maps by their kernel name, e.g. "exec.rodata"). */
  readonly maps = new Map<string, BpfMap>();
  /** Global-data maps by section name (".rodata", ".bss" ...). */
  readonly dataMaps = new Map<string, BpfMap>();
  readonly programs = new Map<string, LoadedProgram>();
  btf: BtfObject | null = null;
  /** Things that went wrong but did not stop the load (e.g. BTF rejected). */
  readonly warnings: string[] = [];

  constructor(readonly spec: LoaderObjectSpec) {}

  map(name: string): BpfMap {
    const m = this.maps.get(name) ?? this.dataMaps.get(name);
    if (!m) throw new LoadError(`object ${this.spec.name} has no map ${name}`);
    return m;
  }

  program(name: string): LoadedProgram {
    const p = this.programs.get(name);
    if (!p) throw new LoadError(`object ${this.spec.name} has no loaded program ${name}`);
    return p;
  }

  /** Closes every program, map and the BTF object (idempotent). */
  close(): void {
    for (const p of this.programs.values()) p.program.close();
    for (const m of this.maps.values()) m.close();
    this.btf?.close();
  }
}

function mapSize(spec: LoaderMapSpec, opts: LoadOptions, possibleCpus: number): number {
  const n = opts.mapSizes?.[spec.name];
  if (n !== undefined) return n;
  if (spec.type === MapType.PERF_EVENT_ARRAY && spec.maxEntries === 0) return possibleCpus;
  return spec.maxEntries;
}

function createMaps(p: Platform, c: Collection, opts: LoadOptions): void {
  const { spec } = c;
  const btfFd = c.btf?.fd;
  for (const m of spec.maps) {
    const base = {
      type: m.type,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: mapSize(m, opts, p.possibleCpus()),
      flags: m.flags,
      name: m.name,
    };
    // Key/value BTF helps bpftool dump the map; the kernel refuses it for some map types.
    const withBtf = btfFd !== undefined && m.valueTypeId !== undefined &&
      m.type !== MapType.RINGBUF && m.type !== MapType.PERF_EVENT_ARRAY;
    let map: BpfMap;
    try {
      map = mapCreate(p, {
        ...base,
        ...(withBtf
          ? { btfFd, btfKeyTypeId: m.keyTypeId ?? 0, btfValueTypeId: m.valueTypeId }
          : {}),
      });
    } catch (e) {
      if (!withBtf || !(e instanceof SysError)) throw e;
      c.warnings.push(`map ${m.name}: created without BTF (${e.message})`);
      map = mapCreate(p, base);
    }
    c.maps.set(m.name, map);
    if (m.data) {
      c.dataMaps.set(m.data.section, map);
      const isRodata = m.data.section.startsWith(".rodata");
      const value = isRodata && opts.constants
        ? applyConstants(spec.btf, m, opts.constants)
        : m.data.bytes;
      map.update(new Uint8Array(4), value);
      if (isRodata) map.freeze();
    }
  }
  if (opts.constants && !spec.maps.some((m) => m.data?.section === ".rodata")) {
    const names = Object.keys(opts.constants);
    if (names.length) {
      throw new LoadError(
        `object ${spec.name} has no .rodata, cannot set constants ${names.join(", ")}`,
      );
    }
  }
}

/** Private copies of every code section with its relocations, func and line info. */
function codeSections(spec: LoaderObjectSpec): Map<number, CodeSection> {
  const out = new Map<number, CodeSection>();
  for (const s of spec.elf.sections) {
    if (!(s.flags & SHF_EXECINSTR) || s.size === 0) continue;
    const rels = new Map<number, Rel>();
    for (const r of spec.elf.relocationsFor(s.index)) rels.set(r.offset / 8, r);
    out.set(s.index, {
      index: s.index,
      name: s.name,
      insns: new InsnBuffer(s.data.slice()),
      rels,
      funcInfo: spec.ext?.funcInfo.get(s.name) ?? [],
      lineInfo: spec.ext?.lineInfo.get(s.name) ?? [],
    });
  }
  return out;
}

function attachBtfId(prog: LoaderProgramSpec, opts: LoadOptions): number | undefined {
  const a = prog.attach;
  if (a.kind !== "tp_btf" && a.kind !== "fentry" && a.kind !== "fexit" && a.kind !== "lsm") {
    return undefined;
  }
  if (!opts.kernelBtf) {
    throw new LoadError(`program ${prog.name} (${a.kind}): needs the kernel's BTF to attach`);
  }
  const kbtf = opts.kernelBtf();
  const [name, kind] = a.kind === "tp_btf"
    ? [`btf_trace_${a.target}`, Kind.TYPEDEF]
    : a.kind === "lsm"
    ? [`bpf_lsm_${a.target}`, Kind.FUNC]
    : [a.target, Kind.FUNC];
  const ids = kbtf.byName(name, kind);
  if (ids.length === 0) {
    throw new LoadError(
      `program ${prog.name} (${a.kind}/${a.target}): the kernel's BTF has no ${
        kind === Kind.TYPEDEF ? "typedef" : "function"
      } ${name}`,
    );
  }
  return ids[0];
}

function loadProgram(
  p: Platform,
  c: Collection,
  prog: LoaderProgramSpec,
  sections: Map<number, CodeSection>,
  opts: LoadOptions,
): void {
  const { spec } = c;
  const funcs = functionsOf(spec.elf, sections);
  const entry = funcs.find((f) => f.name === prog.name && f.section.index === prog.sectionIndex);
  if (!entry) throw new LoadError(`program ${prog.name}: no function symbol in ${prog.section}`);
  const linked = linkProgram(entry, funcs, spec.elf);
  const withBtf = c.btf !== null && linked.funcInfo.length > 0;
  try {
    const program = progLoad(p, {
      type: prog.progType,
      insns: linked.insns,
      license: spec.license,
      name: prog.name,
      expectedAttachType: prog.expectedAttachType,
      attachBtfId: attachBtfId(prog, opts),
      logLevel: opts.logLevel,
      ...(withBtf
        ? {
          progBtfFd: c.btf!.fd,
          funcInfo: encodeFuncInfo(linked.funcInfo),
          lineInfo: linked.lineInfo.length ? encodeLineInfo(linked.lineInfo) : undefined,
        }
        : {}),
    });
    c.programs.set(prog.name, {
      name: prog.name,
      spec: prog,
      program,
      insnCount: linked.insns.length / 8,
    });
  } catch (e) {
    const k = prog.attach.kind;
    if (
      e instanceof SysError && e.errno === 1 &&
      (k === "fentry" || k === "fexit" || k === "lsm")
    ) {
      throw new SysError(
        e.step,
        e.errno,
        `the kernel refuses ${k} programs here (BPF trampolines/LSM are locked down or ` +
          `unsupported); use a tracepoint, raw_tp or tp_btf program instead`,
      );
    }
    throw e;
  }
}

/**
 * Loads `spec` into the kernel. On any failure everything created so far is closed and the
 * error (naming the step, the map or program, the errno, and the verifier log) propagates.
 */
export function loadCollection(
  p: Platform,
  spec: LoaderObjectSpec,
  opts: LoadOptions = {},
): Collection {
  const c = new Collection(spec);
  try {
    try {
      c.btf = btfLoad(p, fixDatasecs(spec.btf, spec.elf), `BTF of ${spec.name}`);
    } catch (e) {
      if (!(e instanceof TracerError)) throw e;
      c.warnings.push(`BTF not loaded, programs go without func/line info: ${e.message}`);
    }
    createMaps(p, c, opts);

    const sections = codeSections(spec);
    const codeIdx = new Set(sections.keys());
    const resolver = {
      mapFd: (name: string) => c.maps.get(name)?.fd,
      dataFd: (section: string) => c.dataMaps.get(section)?.fd,
    };
    for (const sec of sections.values()) {
      const relos = spec.ext?.coreRelos.get(sec.name);
      if (relos && relos.length > 0) {
        if (!opts.core) {
          throw new LoadError(
            `object ${spec.name}: section ${sec.name} has ${relos.length} CO-RE relocations and no CO-RE engine was given`,
          );
        }
        opts.core(spec, { name: sec.name, index: sec.index, insns: sec.insns.bytes });
      }
      relocateMaps(sec, spec.elf, codeIdx, resolver);
    }

    const wanted = opts.programs ?? spec.programs.map((x) => x.name);
    for (const name of wanted) {
      const prog = spec.programs.find((x) => x.name === name);
      if (!prog) {
        throw new LoadError(
          `object ${spec.name} has no program ${name} (it has: ${
            spec.programs.map((x) => x.name).join(", ")
          })`,
        );
      }
      loadProgram(p, c, prog, sections, opts);
    }
    return c;
  } catch (e) {
    c.close();
    throw e;
  }
}
