// Object spec → loaded kernel objects: the object's BTF (fixed up), its maps (global data
// filled, .rodata configured and frozen), and its programs (CO-RE relocated, maps
// patched, subprograms linked, func/line info attached). Every fd is owned by the
// Collection; close() releases them all, and a failed load closes what it created.
// Runtime-neutral: reaches the kernel only through the Platform and src/kernel wrappers.

import { SysError, TracerError } from "../errors.ts";
import type { Btf, NameQuery } from "../btf/reader.ts";
import { kernelBtf } from "../btf/source.ts";
import { Kind } from "../btf/types.ts";
import type { MapSpec, ObjectSpec, ProgramSpec } from "../object/types.ts";
import { coreLookups, type CoreRelocationResult, relocateCore } from "../core/relocate.ts";
import type { Platform } from "../platform/types.ts";
import {
  type BpfMap,
  type BpfProgram,
  btfLoad,
  type BtfObject,
  mapCreate,
  progLoad,
} from "../kernel/bpf.ts";
import { MapType, ProgFlags } from "../kernel/constants.ts";
import { type KconfigSource, runningKernelKconfig } from "../kernel/kconfig.ts";
import { runningKernelKsyms } from "../kernel/ksyms.ts";
import type { FdObject } from "../kernel/fd.ts";
import type { KconfigExtern, KsymExtern } from "../object/externs.ts";
import { ExternError, fillKconfig } from "./kconfig.ts";
import { type KsymResolution, type KsymSource, resolveKsyms } from "./ksyms.ts";
import { fixDatasecs, fixExternDatasecs } from "./btf-fixup.ts";
import { NO_NEW_KINDS, sanitizeBtf } from "./btf-sanitize.ts";
import { applyConstants, type ConstantValue } from "./constants.ts";
import { POISON_CALL_KFUNC_BASE, relocateMaps } from "./relocate-maps.ts";
import {
  encodeFuncInfo,
  encodeLineInfo,
  linkProgram,
  reachedFunctions,
} from "./link-subprograms.ts";
import { explainVerifierLog, poisonedInsnFromLog } from "../core/explain.ts";
import { raiseMemlockIfCharged } from "../kernel/memlock.ts";
import type { Phases } from "../phases.ts";
import { attachProgram } from "../link/attach.ts";
import { applyPatches, CoreCache, type CoreCacheConfig, diffInsns } from "./core-cache.ts";
import { closeAll, type Link } from "../link/link.ts";

/** A load refused before the kernel was asked; `errno` is what libbpf's load fails with. */
export class LoadError extends TracerError {
  constructor(message: string, readonly errno?: number) {
    super(message);
  }
}

const ESRCH = 3;

/**
 * A test switch, not an option: TRACER_NO_CORE=1 loads every program with its CO-RE
 * relocations left as compiled (the offsets of bpf/vmlinux_min.h's own layouts), to show that
 * the vmtest fails without relocation (test/vm/kernels.vmtest.ts, exec_nocore).
 */
const SKIP_CORE = process.env.TRACER_NO_CORE === "1";

export interface LoadOptions {
  /** `const volatile` variables of .rodata to set before load, by name. */
  constants?: Record<string, ConstantValue>;
  /** Load only these programs (default: all). */
  programs?: string[];
  /**
   * The BTF CO-RE relocates against and tp_btf / fentry attach ids come from: the running
   * kernel's by default (/sys/kernel/btf/vmlinux, read only when needed).
   */
  kernelBtf?: (lookUp?: readonly NameQuery[]) => Btf;
  /** Per-map overrides, e.g. a ring buffer size chosen on the command line. */
  mapSizes?: Record<string, number>;
  /** Per-map value sizes (a stack-trace map's, which the object leaves to user space). */
  valueSizes?: Record<string, number>;
  /** Where kconfig externs get their values (default: this kernel, runningKernelKconfig). */
  kconfig?: KconfigSource;
  /** Where .ksyms externs are resolved (default: this kernel's BTF and /proc/kallsyms). */
  ksyms?: KsymSource;
  /**
   * Maps created as BPF_MAP_TYPE_PERF_EVENT_ARRAY (one slot per possible CPU) whatever type
   * the object declares: how an object written for the BPF ring buffer sends its events
   * through a perf buffer on kernels without ring buffers (its programs must not use the
   * ring buffer helpers on that path).
   */
  perfEventArrays?: string[];
  /** Verifier log level for successful loads too (the log lands on program.verifierLog). */
  logLevel?: number;
  /**
   * The per-boot cache of CO-RE results and attach ids (core-cache.ts): read before the
   * kernel's BTF is, written with what this load learned. Only for the running kernel's BTF.
   */
  coreCache?: CoreCacheConfig;
  /** Start-up phases to mark (maps, kernel BTF, CO-RE, verifier). */
  phases?: Phases;
  /**
   * Called for a program the kernel refuses to load (or that cannot be loaded), which is then
   * left out while the others load (tracer run); without it the first refusal fails the load.
   */
  onRefused?: (program: string, error: TracerError) => void;
}

export interface LoadedProgram {
  name: string;
  spec: ProgramSpec;
  program: BpfProgram;
  /** Instruction count after linking. */
  insnCount: number;
  /** Where each function landed in the linked program. */
  layout: { name: string; start: number }[];
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
  /** What CO-RE did, relocation by relocation (for `inspect` and tests); empty from the cache. */
  readonly coreResults: CoreRelocationResult[] = [];
  /** Where CO-RE's results came from (for --verbose); null when the programs have none. */
  coreSource: string | null = null;

  /** Links made with attach(), closed first by close(). */
  readonly links: Link[] = [];
  /** Module BTF fds opened for .ksyms externs (closed last). */
  readonly btfFds: FdObject[] = [];

  constructor(readonly spec: ObjectSpec, private readonly platform: Platform) {}

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

  /** Attaches a loaded program by name; the link is closed with the collection. */
  attach(name: string): Link {
    const link = attachProgram(this.platform, this.program(name));
    this.links.push(link);
    return link;
  }

  /** Closes links (newest first), programs, maps and the BTF object; idempotent. */
  close(): void {
    const links = this.links.splice(0).reverse();
    closeAll([
      ...links,
      ...[...this.programs.values()].map((p) => p.program),
      ...this.maps.values(),
      ...(this.btf ? [this.btf] : []),
      ...this.btfFds.splice(0),
    ]);
  }
}

/** The spec of a perf event array standing in for `m`: u32 keys and values, a slot per CPU. */
function asPerfEventArray(m: MapSpec): MapSpec {
  return {
    ...m,
    type: MapType.PERF_EVENT_ARRAY,
    keySize: 4,
    valueSize: 4,
    maxEntries: 0,
    flags: 0,
    keyTypeId: undefined,
    valueTypeId: undefined,
  };
}

function mapSize(spec: MapSpec, opts: LoadOptions, possibleCpus: number): number {
  const n = opts.mapSizes?.[spec.name];
  if (n !== undefined) return n;
  if (spec.type === MapType.PERF_EVENT_ARRAY && spec.maxEntries === 0) return possibleCpus;
  return spec.maxEntries;
}

/**
 * The initial value of each global-data map, by section, with the constants written into
 * .rodata: computed before anything is created, so a bad constant costs no kernel object.
 */
function initialData(
  p: Platform,
  spec: ObjectSpec,
  opts: LoadOptions,
): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const constants = opts.constants ?? {};
  const rodata = spec.maps.find((m) => m.data?.section === ".rodata");
  if (!rodata && Object.keys(constants).length) {
    throw new LoadError(
      `object ${spec.name} has no .rodata, cannot set constants ${
        Object.keys(constants).join(", ")
      }`,
    );
  }
  for (const m of spec.maps) {
    if (!m.data) continue;
    if (m.data.section === ".kconfig") {
      const bytes = new Uint8Array(m.data.bytes.length);
      const kcfg = spec.externs.filter((e): e is KconfigExtern => e.kind === "kconfig");
      try {
        fillKconfig(kcfg, bytes, opts.kconfig ?? runningKernelKconfig(p));
      } catch (e) {
        throw withUse(spec, e);
      }
      out.set(".kconfig", bytes);
      continue;
    }
    out.set(
      m.data.section,
      m === rodata ? applyConstants(spec.btf, m, constants) : m.data.bytes,
    );
  }
  return out;
}

function createMaps(
  p: Platform,
  c: Collection,
  opts: LoadOptions,
  initial: Map<string, Uint8Array>,
): void {
  const { spec } = c;
  const btfFd = c.btf?.fd;
  for (const declared of spec.maps) {
    const m = opts.perfEventArrays?.includes(declared.name) ? asPerfEventArray(declared) : declared;
    const base = {
      type: m.type,
      keySize: m.keySize,
      valueSize: opts.valueSizes?.[m.name] ?? m.valueSize,
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
      map.update(new Uint8Array(4), initial.get(m.data.section)!);
      // Read-only data (configuration, string literals): frozen, so the verifier can
      // treat it as constant and user space cannot change it under the programs.
      if (m.data.section.startsWith(".rodata") || m.data.section === ".kconfig") map.freeze();
    }
  }
}

/** The kernel's BTF; `lookUp`: names the caller looks up next (see kernelBtf). */
function requireKernelBtf(p: Platform, opts: LoadOptions, lookUp?: NameQuery[]): Btf {
  return opts.kernelBtf ? opts.kernelBtf(lookUp) : kernelBtf(undefined, p, lookUp);
}

/**
 * The kernel BTF type a program attaches to (tp_btf, fentry, fexit, lsm, fmod_ret, iter), with
 * libbpf's btf_trace_/bpf_lsm_/bpf_iter_ prefixes (find_attach_btf_id), or null.
 */
function attachBtfName(prog: ProgramSpec): NameQuery | null {
  const a = prog.attach;
  if (
    a.kind !== "tp_btf" && a.kind !== "fentry" && a.kind !== "fexit" && a.kind !== "lsm" &&
    a.kind !== "fmod_ret" && a.kind !== "iter"
  ) {
    return null;
  }
  return a.kind === "tp_btf"
    ? { name: `btf_trace_${a.target}`, kind: Kind.TYPEDEF, flavored: false }
    : a.kind === "lsm"
    ? { name: `bpf_lsm_${a.target}`, kind: Kind.FUNC, flavored: false }
    : a.kind === "iter"
    ? { name: `bpf_iter_${a.target}`, kind: Kind.FUNC, flavored: false }
    : { name: a.target, kind: Kind.FUNC, flavored: false };
}

/**
 * The BTF id a tracing program attaches to (and, for a module's function, that module's BTF
 * fd), found as libbpf finds it: vmlinux first, then the loaded modules.
 */
function attachTarget(
  p: Platform,
  prog: ProgramSpec,
  opts: LoadOptions,
  kernel: KsymSource,
  cache: CoreCache | null,
): { attachBtfId?: number; attachBtfObjFd?: number } {
  const q = attachBtfName(prog);
  if (!q) return {};
  const a = prog.attach as { kind: string; target: string };
  const { name, kind } = q;
  const cacheKey = `${kind}:${name}`;
  const cached = cache?.attachId(cacheKey);
  if (cached !== undefined) return { attachBtfId: cached };
  const kbtf = requireKernelBtf(p, opts);
  const ids = kbtf.byName(name, kind);
  if (ids.length) cache?.learnAttachId(cacheKey, ids[0]);
  if (ids.length === 0) {
    for (const m of kernel.modules()) {
      const own = m.btf.byName(name, kind).find((i) => i >= m.btf.firstId);
      if (own !== undefined) return { attachBtfId: own, attachBtfObjFd: m.fd() };
    }
  }
  if (ids.length === 0) {
    throw new LoadError(
      `program ${prog.name} (${a.kind}/${a.target}): the kernel's BTF has no ${
        kind === Kind.TYPEDEF ? "typedef" : "function"
      } ${name}`,
      ESRCH,
    );
  }
  return { attachBtfId: ids[0] };
}

/**
 * BPF_BTF_LOAD of the object's BTF (DATASECs fixed up). A kernel that refuses it gets it
 * again with the kinds it may lack rewritten (btf-sanitize.ts); if that fails too the
 * programs load without BTF (no func/line info), with a warning.
 */
function loadObjectBtf(p: Platform, c: Collection): BtfObject | null {
  const { spec } = c;
  const kconfigMap = spec.maps.find((m) => m.data?.section === ".kconfig");
  const bytes = fixExternDatasecs(
    spec.btf,
    spec.datasecBtf ?? fixDatasecs(spec.btf, spec.elf),
    spec.externs.filter((e): e is KconfigExtern => e.kind === "kconfig"),
    kconfigMap?.valueSize ?? 0,
  );
  const what = `BTF of ${spec.name}`;
  try {
    return btfLoad(p, bytes, what);
  } catch (e) {
    if (!(e instanceof SysError) || e.errno === 1 /* EPERM: no privilege, not a format issue */) {
      throw e;
    }
    const { bytes: sanitized, changed } = sanitizeBtf(spec.btf, bytes, NO_NEW_KINDS);
    const rewritten = Object.entries(changed).map(([k, n]) => `${n} ${k}`).join(", ");
    try {
      const btf = btfLoad(p, sanitized, what);
      c.warnings.push(
        `${what}: kernel refused it (${e.errnoName}); loaded with ${rewritten} rewritten`,
      );
      return btf;
    } catch (e2) {
      if (!(e2 instanceof TracerError)) throw e2;
      c.warnings.push(`${what} not loaded, programs go without func/line info: ${e.message}`);
      return null;
    }
  }
}

/** "program P, instruction N": the first use of extern `name` (for its errors). */
function firstUse(spec: ObjectSpec, name: string): string {
  for (const f of spec.programs.concat(spec.subprograms)) {
    const r = f.relocations.find((x) => x.kind === "extern" && x.symbol === name);
    if (r) {
      const fn = f.isSubprogram ? `function ${f.name}` : `program ${f.name}`;
      return `${fn} (section ${f.section}), instruction ${r.insn}`;
    }
  }
  return `object ${spec.name} (no instruction uses it)`;
}

/** An ExternError said with the object and the first instruction using the extern. */
function withUse(spec: ObjectSpec, e: unknown): unknown {
  if (!(e instanceof ExternError)) return e;
  const m = /^extern '([^']+)'/.exec(e.message);
  if (!m) return new LoadError(`object ${spec.name}: ${e.message}`, e.errno);
  return new LoadError(`${firstUse(spec, m[1])}: ${e.message}`, e.errno);
}

/** The object's .ksyms externs resolved against the kernel (null when it has none). */
function resolveObjectKsyms(c: Collection, kernel: KsymSource): KsymResolution | null {
  const externs = c.spec.externs.filter((e): e is KsymExtern => e.kind === "ksym");
  if (!externs.length) return null;
  try {
    return resolveKsyms(externs, c.spec.btf, kernel);
  } catch (e) {
    throw withUse(c.spec, e);
  }
}

const EAGAIN = 11;

/**
 * The verifier gives up with EAGAIN when a signal is pending (a profiler's SIGPROF, a child's
 * SIGCHLD...): try again a few times, as libbpf does.
 */
export function retryInterrupted<T>(load: () => T, attempts = 5): T {
  for (let i = 1;; i++) {
    try {
      return load();
    } catch (e) {
      if (!(e instanceof SysError) || e.errno !== EAGAIN || i >= attempts) throw e;
    }
  }
}

/** Program kinds a kernel may refuse outright (EPERM) by policy: trampolines, BPF LSM. */
const maybeLockedDown = (prog: ProgramSpec) =>
  prog.attach.kind === "fentry" || prog.attach.kind === "fexit" || prog.attach.kind === "lsm";

/** A load of `prog` refused with EPERM because of its kind, said as such; else null. */
function trampolineRefusal(prog: ProgramSpec, e: unknown): SysError | null {
  if (!(e instanceof SysError) || e.errno !== 1 || !maybeLockedDown(prog)) return null;
  return new SysError(
    e.step,
    e.errno,
    `the kernel refuses ${prog.attach.kind} programs here (BPF trampolines/LSM are locked ` +
      `down or unsupported); use a tracepoint, raw_tp or tp_btf program instead`,
  );
}

/**
 * A verifier log that stops at a poisoned kfunc call ("invalid func unknown#2002000003"): the
 * program reaches a call of a weak kfunc this kernel lacks; names it (libbpf's log fixup).
 */
function missingKfuncReached(spec: ObjectSpec, log: string): string | null {
  const m = /(\d+): \(85\) call unknown#(2002\d{6})/.exec(log) ??
    /invalid func unknown#(2002\d{6})/.exec(log);
  if (!m) return null;
  const index = Number(m[m.length - 1]) - POISON_CALL_KFUNC_BASE;
  const ext = spec.externs[index];
  if (!ext) return null;
  return `${m.length > 2 ? `instruction ${m[1]} ` : ""}calls kfunc '${ext.name}', which this ` +
    `kernel lacks (a __weak extern left unresolved): guard the call with bpf_ksym_exists()`;
}

/**
 * Programs this loader cannot load, refused before anything is created, naming the program
 * and what is unsupported: a section libbpf does not know, a struct_ops program (loaded with
 * its struct_ops map, which the loader does not create).
 */
function refuseUnsupported(wanted: ProgramSpec[]): void {
  for (const prog of wanted) {
    if (prog.attach.kind === "struct_ops") {
      throw new LoadError(
        `program ${prog.name} (section ${prog.section}): struct_ops programs are loaded with ` +
          `their struct_ops map, which tracer does not create`,
        95, // EOPNOTSUPP
      );
    }
    if (prog.progType === 0) {
      throw new LoadError(
        `program ${prog.name}: section '${prog.section}' is not one libbpf knows (e.g. ` +
          `tracepoint/CAT/NAME, raw_tp/NAME, tp_btf/NAME, fentry/FUNC, kprobe/FUNC, ` +
          `uprobe/PATH:FUNC, usdt, perf_event, lsm/HOOK, iter/NAME), so it has no program type`,
        22, // EINVAL, as the kernel answers a program of type 0
      );
    }
  }
}

/** r0 = 0; exit. */
const RET0 = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

/**
 * Programs the kernel may refuse by policy (fentry, fexit, lsm) are first loaded with an
 * empty body and the same type, attach type and target: where the kernel refuses them
 * (EPERM), that costs one small load instead of CO-RE and the verifier of the whole object.
 * Only EPERM is taken as the answer; any other failure is left to the real load.
 */
function refuseLockedDownEarly(
  p: Platform,
  wanted: ProgramSpec[],
  opts: LoadOptions,
  kernel: KsymSource,
  refused: Set<string>,
  cache: CoreCache | null,
): void {
  const accepted = new Set<string>();
  for (const prog of wanted) {
    if (!maybeLockedDown(prog) || accepted.has(prog.attach.kind)) continue;
    let trial: BpfProgram;
    try {
      trial = progLoad(p, {
        type: prog.progType,
        insns: RET0,
        license: "GPL",
        name: prog.name,
        expectedAttachType: prog.expectedAttachType,
        ...attachTarget(p, prog, opts, kernel, cache),
      });
    } catch (e) {
      const refusal = trampolineRefusal(prog, e);
      if (refusal && opts.onRefused) {
        opts.onRefused(prog.name, refusal);
        refused.add(prog.name);
      } else if (refusal) throw refusal;
      continue;
    }
    trial.close();
    // The kernel allows this kind here: one trial per kind; the real loads decide the rest.
    accepted.add(prog.attach.kind);
  }
}

function loadProgram(
  p: Platform,
  c: Collection,
  prog: ProgramSpec,
  pool: ProgramSpec[],
  opts: LoadOptions,
  fdArray: number[],
  kernel: KsymSource,
  cache: CoreCache | null,
): void {
  const entry = pool.find((f) => f.name === prog.name && f.sectionIndex === prog.sectionIndex);
  if (!entry) throw new LoadError(`program ${prog.name}: not among the object's functions`);
  const linked = linkProgram(entry, pool);
  const withBtf = c.btf !== null && linked.funcInfo.length > 0;
  try {
    const program = retryInterrupted(() =>
      progLoad(p, {
        type: prog.progType,
        insns: linked.insns,
        license: c.spec.license,
        name: prog.name,
        expectedAttachType: prog.expectedAttachType,
        ...attachTarget(p, prog, opts, kernel, cache),
        progFlags: prog.sleepable ? ProgFlags.SLEEPABLE : undefined,
        fdArray: fdArray.length ? new Uint8Array(new Int32Array(fdArray).buffer) : undefined,
        logLevel: opts.logLevel,
        ...(withBtf
          ? {
            progBtfFd: c.btf!.fd,
            funcInfo: encodeFuncInfo(linked.funcInfo),
            lineInfo: linked.lineInfo.length ? encodeLineInfo(linked.lineInfo) : undefined,
          }
          : {}),
      })
    );
    c.programs.set(prog.name, {
      name: prog.name,
      spec: prog,
      program,
      insnCount: linked.insns.length / 8,
      layout: linked.layout,
    });
  } catch (e) {
    const refused = trampolineRefusal(prog, e);
    if (refused) throw refused;
    if (e instanceof SysError && e.detail) {
      // A rejection at an instruction CO-RE poisoned: name the relocation that failed.
      const bases = new Map(linked.layout.map((l) => [l.name, l.start]));
      const why = explainVerifierLog(c.coreResults, e.detail, prog.name, bases) ??
        missingKfuncReached(c.spec, e.detail);
      if (why) throw new SysError(e.step, e.errno, `${e.detail}\n${why}`);
    }
    throw e;
  }
}

/**
 * Loads `spec` into the kernel. On any failure everything created so far is closed and the
 * error (naming the step, the map or program, the errno, and the verifier log) propagates.
 * With opts.coreCache, what an earlier load on this boot learned from the kernel's BTF is
 * used instead of reading it; should the verifier reject a program so loaded at a poisoned
 * CO-RE instruction, the load is made again the long way, whose rejection names the
 * relocation that failed (the cached patches hold the poison, not why).
 */
export function loadCollection(
  p: Platform,
  spec: ObjectSpec,
  opts: LoadOptions = {},
): Collection {
  const cache = opts.coreCache && !SKIP_CORE
    ? CoreCache.open(opts.coreCache, spec.name, p.identity().euid)
    : null;
  let c: Collection;
  try {
    c = loadWith(p, spec, opts, cache);
  } catch (e) {
    // What the load learned before it failed holds (a refused strategy's patches and ids).
    cache?.save();
    if (!cache?.used || !(e instanceof SysError) || poisonedInsnFromLog(e.detail ?? "") === null) {
      throw e;
    }
    return loadWith(p, spec, opts, null);
  }
  if (cache?.save() && c.coreResults.length > 0) c.coreSource += `, saved to ${cache.path}`;
  return c;
}

/** The key of function `f` in the cache: section and name (static functions may share names). */
const cacheName = (f: ProgramSpec) => `${f.section}/${f.name}`;

/**
 * CO-RE of `pool` from the cache, when it has every function's patches (and they fit); false
 * when any is missing, the pool then being as it was.
 */
function coreFromCache(pool: ProgramSpec[], cache: CoreCache): boolean {
  const patches = pool.map((f) => cache.patches(cacheName(f)));
  if (patches.some((x) => x === undefined)) return false;
  const originals = pool.map((f) => f.insns.slice());
  for (let i = 0; i < pool.length; i++) {
    if (!applyPatches(pool[i].insns, patches[i]!)) {
      pool.forEach((f, j) => f.insns.set(originals[j]));
      return false;
    }
  }
  cache.used = true;
  return true;
}

function loadWith(
  p: Platform,
  spec: ObjectSpec,
  opts: LoadOptions,
  cache: CoreCache | null,
): Collection {
  const initial = initialData(p, spec, opts);
  raiseMemlockIfCharged(p);
  const c = new Collection(spec, p);
  try {
    // By default the programs libbpf would load: all but "?section" ones.
    const names = opts.programs ?? spec.programs.filter((x) => x.autoload).map((x) => x.name);
    const wanted = names.map((name) => {
      const prog = spec.programs.find((x) => x.name === name);
      if (!prog) {
        throw new LoadError(
          `object ${spec.name} has no program ${name} (it has: ${
            spec.programs.map((x) => x.name).join(", ")
          })`,
        );
      }
      return prog;
    });
    refuseUnsupported(wanted);
    // The kernel's BTF and symbols beyond vmlinux (modules, kallsyms), read when first needed.
    const kernel = opts.ksyms ??
      runningKernelKsyms(p, () => requireKernelBtf(p, opts), (fd) => c.btfFds.push(fd));
    // A kernel that refuses the programs' kind says so before anything is created.
    const refused = new Set<string>();
    refuseLockedDownEarly(p, wanted, opts, kernel, refused, cache);
    c.btf = loadObjectBtf(p, c);
    createMaps(p, c, opts, initial);
    opts.phases?.mark("object BTF + maps");

    // Private copies of the functions the wanted programs reach (calls do not depend on
    // relocations, so the reach is known up front): CO-RE and map relocations patch them.
    const all = spec.programs.concat(spec.subprograms);
    const reached = reachedFunctions(wanted, all);
    const pool = all.filter((f) => reached.has(f)).map((f) => ({
      ...f,
      insns: f.insns.slice(),
    }));
    const ksyms = resolveObjectKsyms(c, kernel);
    const resolver = {
      mapFd: (section: string, symbol: string) =>
        c.maps.get(spec.maps.find((m) => m.section === section && m.symbol === symbol)?.name ?? "")
          ?.fd,
      dataFd: (section: string) => c.dataMaps.get(section)?.fd,
      extern: (name: string) => {
        const index = spec.externs.findIndex((e) => e.name === name);
        const e = spec.externs[index];
        if (!e) return undefined;
        if (e.kind === "kconfig") {
          const fd = c.dataMaps.get(".kconfig")?.fd;
          return fd === undefined
            ? undefined
            : { kind: "kconfig" as const, fd, offset: e.offset, index };
        }
        const ksym = ksyms?.byName.get(name);
        return ksym ? { kind: "ksym" as const, ksym, index } : undefined;
      },
    };
    const hasCore = pool.some((f) =>
      spec.ext?.coreRelos.get(f.section)?.some((r) =>
        r.insnOff >= f.offset && r.insnOff < f.offset + f.insns.length
      )
    );
    // A cache holding every function's CO-RE patches spares reading the kernel's BTF at all.
    const cached = hasCore && cache !== null && coreFromCache(pool, cache);
    let target: Btf | null = null;
    if (hasCore && !cached) {
      // Every name the loads look up in the kernel's BTF (CO-RE candidates, attach targets),
      // found in one pass over its types: its index pass when this reads it.
      const lookUps = [
        ...coreLookups(spec, pool),
        ...wanted.flatMap((w) => attachBtfName(w) ?? []),
      ];
      target = requireKernelBtf(p, opts, lookUps);
      target.lookUp(lookUps);
    }
    opts.phases?.mark("kernel BTF");
    if (target && SKIP_CORE) c.warnings.push("CO-RE relocation skipped (TRACER_NO_CORE=1)");
    if (cached) c.coreSource = `from the cache ${cache!.path}`;
    for (const fn of pool) {
      if (target && !SKIP_CORE) {
        const before = cache ? fn.insns.slice() : null;
        c.coreResults.push(...relocateCore(spec, fn, target));
        if (before) cache!.learnPatches(cacheName(fn), diffInsns(before, fn.insns));
      }
      relocateMaps(fn, resolver);
    }
    if (target && !SKIP_CORE) {
      c.coreSource = `${c.coreResults.length} relocations against the kernel's BTF`;
    }
    opts.phases?.mark("CO-RE + relocations");
    for (const prog of wanted) {
      if (refused.has(prog.name)) continue;
      try {
        loadProgram(p, c, prog, pool, opts, ksyms?.fdArray ?? [], kernel, cache);
      } catch (e) {
        if (!opts.onRefused || !(e instanceof TracerError)) throw e;
        opts.onRefused(prog.name, e);
      }
    }
    opts.phases?.mark("verifier (program loads)");
    return c;
  } catch (e) {
    c.close();
    throw e;
  }
}
