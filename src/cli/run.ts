// `tracer run OBJECT --load-only`: loads a BPF developer's CO-RE object as libbpf would (every
// program by its section, .kconfig/.ksyms externs, .rodata constants set by name, CO-RE against
// the running kernel's or --btf BTF), one program at a time, and prints one line per program:
// loaded, or the error that stopped it. Exit status 0 only if every program loaded. Maps whose
// size the object leaves to user space (max_entries 0, a stack-trace map's value size 0) need
// --map-size, else they are refused by name. (Attaching and printing events: not yet.)

import { basename } from "node:path";
import { UsageError } from "../errors.ts";
import { TracerError } from "../errors.ts";
import { KERNEL_BTF_PATH, readKernelBtfFile } from "../btf/source.ts";
import { hostArchitecture } from "../btf/arch.ts";
import { loadObjectSpec } from "../object/load.ts";
import type { MapSpec, ObjectSpec } from "../object/types.ts";
import { loadCollection, type LoadOptions } from "../loader/collection.ts";
import { applyConstants, type ConstantValue } from "../loader/constants.ts";
import { MapType } from "../kernel/constants.ts";
import { type Command, out, parse } from "./command.ts";
import { readObject } from "./inspect.ts";
import process from "node:process";

const USAGE = `usage: tracer run OBJECT --load-only [options]
  Loads every program of a CO-RE BPF object as libbpf would and prints one line per program.
  --load-only               load, print, unload (required for now)
  --program NAME            only this program (repeatable; default: all but "?" sections)
  --set VAR=VALUE           set a const volatile variable of .rodata (repeatable; VALUE is a
                            number, true/false, or a string for a char array)
  --map-size MAP=N[:VSIZE]  max_entries (and value size) of a map the object leaves to
                            user space (repeatable)
  --btf FILE                kernel BTF for CO-RE (default ${KERNEL_BTF_PATH})
`;

const OPTIONS = {
  "load-only": { type: "boolean" },
  program: { type: "string", multiple: true },
  set: { type: "string", multiple: true },
  "map-size": { type: "string", multiple: true },
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
  summary: "load any CO-RE BPF object as libbpf would (--load-only: one line per program)",
  run(args, platform) {
    const { values, positionals } = parse("run", args, OPTIONS, true);
    if (values.help) {
      out(platform, USAGE);
      return Promise.resolve(0);
    }
    if (positionals.length !== 1) throw new UsageError(`run: expects one object file\n${USAGE}`);
    if (!values["load-only"]) {
      throw new UsageError("run: only --load-only is implemented so far (attaching comes next)");
    }
    const { bytes, name } = readObject(positionals[0]);
    const spec = loadObjectSpec(bytes, basename(name));
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
        out(platform, `${prog.padEnd(width)}  FAILED  ${section}  ${first}\n`);
        // A verifier rejection: its log's last lines, indented.
        for (const l of rest.slice(-12)) out(platform, `    ${l}\n`);
      }
    }
    out(platform, `${names.length - failed} of ${names.length} programs loaded\n`);
    return Promise.resolve(failed ? 1 : 0);
  },
};
