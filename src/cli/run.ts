// `tracer run OBJECT`: loads a BPF developer's CO-RE object as libbpf would (every program by
// its section, .kconfig/.ksyms externs, .rodata constants set by name, CO-RE against the running
// kernel's or --btf BTF). With --load-only: one program at a time, one line per program (loaded,
// or FAILED with the errno and the error that stopped it), exit status 0 only if every program
// loaded. Without it: all selected programs in one collection, attached by their sections,
// events and maps printed as JSON (run-trace.ts, run-maps.ts). Maps whose size the object leaves
// to user space (max_entries 0, a stack-trace map's value size 0) need --map-size, else they are
// refused by name.

import { errnoName, TracerError, UsageError } from "../errors.ts";
import { btfFromBytes, fileBytes, KERNEL_BTF_PATH, readKernelBtfFile } from "../btf/source.ts";
import type { Btf } from "../btf/reader.ts";
import { hostArchitecture } from "../btf/arch.ts";
import { loadObjectSpec } from "../object/load.ts";
import type { MapSpec, ObjectSpec } from "../object/types.ts";
import { loadCollection, type LoadOptions } from "../loader/collection.ts";
import { applyConstants, type ConstantValue } from "../loader/constants.ts";
import { MapType } from "../kernel/constants.ts";
import { type Command, intOption, out, parse } from "./command.ts";
import { Kind } from "../btf/types.ts";
import type { Platform } from "../platform/types.ts";
import { jsonDecoder } from "../events/btf-json.ts";
import { isDumpedMap, MapPrinter } from "./run-maps.ts";
import { traceObject } from "./run-trace.ts";
import { missingPrivilege } from "../tracers/session.ts";
import { readObject } from "./inspect.ts";

const USAGE = `usage: tracer run OBJECT [options] [-- CMD ARGS...]
  Loads a CO-RE BPF object as libbpf would, attaches its programs by their sections
  (tracepoint, raw_tp, tp_btf, fentry/fexit, lsm, kprobe/kretprobe, uprobe/uretprobe,
  perf_event sampling), prints each record of its ring buffers and perf buffers as a JSON
  line decoded by the object's BTF, and its hash and array maps as JSON at exit. A program
  the kernel refuses to load or attach is one line on stderr (name, section, reason with the
  errno) and the others run, where libbpf's skeleton would fail as a whole; programs sharing
  a hook all run (said on stderr). Records:
  {"type":"event","map":M,"event":{...}}, {"type":"lost","map":M,...} (perf buffers),
  {"type":"map","name":M,"entries":[{"key":K,"value":V}]} (per-CPU: "values" per CPU, "sum").
  --load-only               load each program alone, one line per program, unload; exit 0
                            only if all loaded
  --program NAME            only this program (repeatable; default: all but "?" sections)
  --set VAR=VALUE           set a const volatile variable of .rodata (repeatable; VALUE is a
                            number, true/false, or a string for a char array)
  --map-size MAP=N[:VSIZE]  max_entries (and value size) of a map the object leaves to
                            user space (repeatable)
  --event [MAP=]TYPE[@FILE] the struct the records of buffer MAP (or of every buffer) are,
                            from the object's BTF or FILE's (a BPF object or raw BTF: for
                            an object whose BTF lacks it); default: the struct "event"
  --uprobe PROG=PATH:FUNC   attach uprobe program PROG to function FUNC (or FUNC+OFF, or
                            0xOFF, a file offset) of the executable or library PATH
                            (repeatable; default: its section's uprobe/PATH:FUNC)
  --sample-freq HZ          perf_event programs: sample every CPU HZ times a second (cpu-clock;
                            default 49)
  --interval SECS           print the maps every SECS seconds too
  -o, --output FILE         write the JSON lines to FILE
  -d, --duration SECS       stop after SECS seconds
  -c, --count N             stop after N records
  --as-root                 under sudo, run CMD as root (default: as the user who ran sudo)
  --btf FILE                kernel BTF for CO-RE (default ${KERNEL_BTF_PATH})
  -- CMD ARGS...            run CMD once attached, stop when it exits, exit with its status
`;

const OPTIONS = {
  "load-only": { type: "boolean" },
  program: { type: "string", multiple: true },
  set: { type: "string", multiple: true },
  "map-size": { type: "string", multiple: true },
  event: { type: "string", multiple: true },
  uprobe: { type: "string", multiple: true },
  "sample-freq": { type: "string" },
  interval: { type: "string" },
  output: { type: "string", short: "o" },
  duration: { type: "string", short: "d" },
  count: { type: "string", short: "c" },
  "as-root": { type: "boolean" },
  btf: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** "42", "-1", "0x1f" -> bigint; "true"/"false" -> boolean; anything else a string. */
export function constantValue(text: string): ConstantValue {
  if (text === "true" || text === "false") return text === "true";
  if (/^-?(0x[0-9a-fA-F]+|\d+)$/.test(text)) {
    return text.startsWith("-") ? -BigInt(text.slice(1)) : BigInt(text);
  }
  return text;
}

function pairs(option: string, values: string[] | undefined): [string, string][] {
  return (values ?? []).map((v) => {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new UsageError(`run: --${option} expects NAME=VALUE, got '${v}'`);
    return [v.slice(0, eq), v.slice(eq + 1)];
  });
}

/** The maps the object leaves to user space to size, without a size given: named, refused. */
function unsizedMaps(spec: ObjectSpec, sized: Set<string>): MapSpec[] {
  return spec.maps.filter((m) =>
    !sized.has(m.name) &&
    ((m.maxEntries === 0 && m.type !== MapType.PERF_EVENT_ARRAY) ||
      (m.type === MapType.STACK_TRACE && m.valueSize === 0))
  );
}

export const runCommand: Command = {
  name: "run",
  summary: "run any CO-RE BPF object: attach it, print its records and maps as JSON",
  async run(args, platform) {
    const dash = args.indexOf("--");
    const cmd = dash < 0 ? [] : args.slice(dash + 1);
    const { values, positionals } = parse(
      "run",
      dash < 0 ? args : args.slice(0, dash),
      OPTIONS,
      true,
    );
    if (values.help) {
      out(platform, USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`run: expects one object file\n${USAGE}`);
    if (dash >= 0 && cmd.length === 0) throw new UsageError("run: '--' needs a command after it");
    if (values["load-only"] && cmd.length) {
      throw new UsageError("run: --load-only runs no command");
    }
    const { bytes, name } = readObject(positionals[0]);
    const spec = loadObjectSpec(bytes, name.slice(name.lastIndexOf("/") + 1));
    const constants: Record<string, ConstantValue> = {};
    for (const [k, v] of pairs("set", values.set)) constants[k] = constantValue(v);
    // A bad --set is one error, before any load (not one per program).
    if (Object.keys(constants).length) {
      const rodata = spec.maps.find((m) => m.data?.section === ".rodata");
      if (!rodata) throw new TracerError(`object ${spec.name} has no .rodata to --set`);
      applyConstants(spec.btf, rodata, constants);
    }
    const mapSizes: Record<string, number> = {};
    const valueSizes: Record<string, number> = {};
    for (const [m, v] of pairs("map-size", values["map-size"])) {
      const x = /^(\d+)(?::(\d+))?$/.exec(v);
      if (!x) throw new UsageError(`run: --map-size ${m}= expects N or N:VALUE_SIZE, got '${v}'`);
      if (!spec.maps.some((s) => s.name === m)) {
        throw new UsageError(
          `run: --map-size: object has no map ${m} (maps: ${
            spec.maps.map((s) => s.name).join(", ")
          })`,
        );
      }
      mapSizes[m] = Number(x[1]);
      if (x[2]) valueSizes[m] = Number(x[2]);
    }
    const unsized = unsizedMaps(
      spec,
      new Set(Object.keys(mapSizes).concat(Object.keys(valueSizes))),
    );
    if (unsized.length) {
      throw new TracerError(
        unsized.map((m) =>
          `map ${m.name}: the object leaves its ${
            m.maxEntries === 0 ? "max_entries" : "value size"
          } to user space; give --map-size ${m.name}=N${
            m.type === MapType.STACK_TRACE ? ":VALUE_SIZE" : ""
          }`
        ).join("\n"),
      );
    }
    const kbtf = values.btf
      ? readKernelBtfFile(values.btf, hostArchitecture(process.arch), platform)
      : undefined;
    const opts: LoadOptions = {
      constants,
      mapSizes,
      valueSizes,
      ...(kbtf ? { kernelBtf: () => kbtf } : {}),
    };
    const names = values.program ??
      spec.programs.filter((p) => p.autoload).map((p) => p.name);
    if (!values["load-only"]) return await traceRun(platform, spec, opts, names, values, cmd);
    let failed = 0;
    const width = Math.max(...names.map((n) => n.length), 7);
    for (const prog of names) {
      const section = spec.programs.find((p) => p.name === prog)?.section ?? "?";
      try {
        const c = loadCollection(platform, spec, { ...opts, programs: [prog] });
        const loaded = c.program(prog);
        out(
          platform,
          `${prog.padEnd(width)}  loaded  ${section}  (${loaded.insnCount} instructions)\n`,
        );
        c.close();
      } catch (e) {
        if (!(e instanceof TracerError)) throw e;
        failed++;
        const [first, ...rest] = e.message.split("\n");
        // The errno libbpf would return for this failure, as a column of its own (the qemu
        // guests compare it with libbpf's: test/vm/kernels.vmtest.ts runparity); "-" for none.
        const errno = (e as { errno?: unknown }).errno;
        const code = typeof errno === "number" ? errnoName(errno).replace(" ", "") : "-";
        out(platform, `${prog.padEnd(width)}  FAILED  ${code}  ${section}  ${first}\n`);
        // A verifier rejection: its log's last lines, indented.
        for (const l of rest.slice(-12)) out(platform, `    ${l}\n`);
      }
    }
    out(platform, `${names.length - failed} of ${names.length} programs loaded\n`);
    return failed ? 1 : 0;
  },
};

/** The struct each event buffer's records are: --event [MAP=]TYPE, else struct "event". */
export function eventTypes(
  spec: ObjectSpec,
  given: string[],
  platform?: Platform,
): Map<string, { btf: Btf; id: number }> {
  const buffers = spec.maps.filter((m) =>
    !m.data && (m.type === MapType.RINGBUF || m.type === MapType.PERF_EVENT_ARRAY)
  ).map((m) => m.name);
  const byMap = new Map<string, string>();
  let all: string | undefined;
  for (const e of given) {
    const eq = e.indexOf("=");
    if (eq < 0) {
      all = e;
      continue;
    }
    const map = e.slice(0, eq);
    if (!buffers.includes(map)) {
      throw new UsageError(
        `run: --event ${e}: ${map} is not a ring or perf buffer of the object (it has: ${
          buffers.join(", ") || "none"
        })`,
      );
    }
    byMap.set(map, e.slice(eq + 1));
  }
  const out = new Map<string, { btf: Btf; id: number }>();
  for (const map of buffers) {
    const given = byMap.get(map) ?? all;
    if (given !== undefined) {
      // TYPE@FILE: the type from another object's (or a raw BTF file's) BTF, for an object
      // whose own BTF lacks it (clang leaves out types only used for locals).
      const at = given.indexOf("@");
      const name = at < 0 ? given : given.slice(0, at);
      const file = at < 0 ? null : given.slice(at + 1);
      const btf = file === null ? spec.btf : btfFromBytes(fileBytes(file, platform), file);
      const id = btf.byName(name, Kind.STRUCT)[0] ?? btf.byName(name, Kind.UNION)[0] ??
        btf.byName(name, Kind.TYPEDEF)[0];
      if (id === undefined) {
        throw new UsageError(
          `run: --event: ${file ?? "the object's BTF"} has no type ${name}` +
            (file === null ? ` (structs: ${candidates(spec)})` : ""),
        );
      }
      out.set(map, { btf, id });
      continue;
    }
    const ids = spec.btf.byName("event", Kind.STRUCT);
    if (ids.length !== 1) {
      throw new TracerError(
        `buffer ${map}: ${
          ids.length ? "several structs" : "no struct"
        } named 'event' in the object's BTF; say what its records are with --event ${
          buffers.length > 1 ? `${map}=` : ""
        }TYPE[@FILE] (structs: ${candidates(spec)})`,
      );
    }
    out.set(map, { btf: spec.btf, id: ids[0] });
  }
  return out;
}

/**
 * Named structs of the object's own, as candidates for --event: those no CO-RE relocation
 * names (kernel types the programs read) and not a map's definition.
 */
function candidates(spec: ObjectSpec): string {
  const core = new Set<number>();
  for (const list of spec.ext?.coreRelos.values() ?? []) {
    for (const r of list) core.add(r.typeId);
  }
  const names: string[] = [];
  for (let id = 1;; id++) {
    let t;
    try {
      t = spec.btf.type(id);
    } catch {
      break;
    }
    if (t.kind !== Kind.STRUCT || !t.name || core.has(id) || t.name.includes("___")) continue;
    if (t.name.startsWith("trace_event_raw_") || t.name.startsWith("bpf_")) continue;
    names.push(t.name);
  }
  return names.slice(0, 20).join(", ") || "none";
}

/** Loads every selected program into one collection, attaches and prints (run-trace.ts). */
async function traceRun(
  platform: Platform,
  spec: ObjectSpec,
  opts: LoadOptions,
  names: string[],
  values: { [k: string]: string | boolean | string[] | undefined },
  cmd: string[],
): Promise<number> {
  const str = (k: string) => values[k] as string | undefined;
  const seconds = (k: string) => {
    const v = str(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(n > 0 && Number.isFinite(n))) {
      throw new UsageError(`run: --${k} expects a positive number of seconds, got '${v}'`);
    }
    return n * 1000;
  };
  const durationMs = seconds("duration");
  const intervalMs = seconds("interval");
  const count = intOption("run", "count", str("count"), { min: 1 });
  const uprobes = new Map<string, string>();
  for (const [prog, where] of pairs("uprobe", values.uprobe as string[] | undefined)) {
    const kind = spec.programs.find((x) => x.name === prog)?.attach.kind;
    if (kind !== "uprobe" && kind !== "uretprobe") {
      throw new UsageError(`run: --uprobe ${prog}=...: the object has no uprobe program ${prog}`);
    }
    uprobes.set(prog, where);
  }
  const types = eventTypes(spec, (values.event as string[] | undefined) ?? [], platform);
  const events = new Map([...types].map(([m, t]) => [m, jsonDecoder(t.btf, t.id)]));
  const missing = missingPrivilege(platform.identity().capEff);
  if (missing) throw new TracerError(missing);
  let notLoaded = 0;
  const c = loadCollection(platform, spec, {
    ...opts,
    programs: names,
    // A program the kernel refuses (fentry where trampolines are locked down...): one line,
    // and the others run.
    onRefused(prog, e) {
      notLoaded++;
      const section = spec.programs.find((x) => x.name === prog)?.section ?? "?";
      process.stderr.write(
        `tracer: program ${prog} (${section}) not loaded: ${e.message.split("\n")[0]}\n`,
      );
    },
  });
  try {
    const printed = spec.maps.filter(isDumpedMap).map((m) => ({ spec: m, map: c.map(m.name) }));
    return await traceObject(platform, c, {
      events,
      printer: new MapPrinter(spec.btf, printed, platform.possibleCpus()),
      output: str("output"),
      durationMs,
      count,
      intervalMs,
      cmd,
      asRoot: !!values["as-root"],
      notLoaded,
      uprobes,
      sampleFreq: intOption("run", "sample-freq", str("sample-freq"), { min: 1, max: 100000 }),
    });
  } finally {
    c.close();
  }
}
