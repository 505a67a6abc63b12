// `tracer inspect OBJECT.o [--btf FILE] [--json]`: a BPF object's programs, maps and every
// CO-RE relocation as the tracer would apply it against the running kernel (or --btf).
// OBJECT may also name an object embedded in the binary ("exec").

import { exists, readFile } from "../platform/files.ts";
import { type Command, out, parse } from "./command.ts";
import { TracerError, UsageError } from "../errors.ts";
import { KERNEL_BTF_PATH, kernelBtf, readBtfFile } from "../btf/source.ts";
import { loadObjectSpec } from "../object/load.ts";
import type { MapSpec, ObjectSpec, ProgramSpec } from "../object/types.ts";
import { type CoreRelocationResult, relocateObject } from "../core/relocate.ts";
import { CoreError } from "../core/errors.ts";
import { embeddedObject, embeddedObjectNames } from "../tracers/embedded.ts";
import { MapType } from "../kernel/constants.ts";

const MAP_TYPE_NAMES = new Map<number, string>(
  Object.entries(MapType).map(([name, n]) => [n, name.toLowerCase()]),
);
const mapTypeName = (t: number) => MAP_TYPE_NAMES.get(t) ?? String(t);

const USAGE = `usage: tracer inspect OBJECT [--btf FILE] [--json]

  OBJECT       a BPF object file (.bpf.o), or the name of an embedded one (${
  embeddedObjectNames().join(", ")
})
  --btf FILE   target BTF: raw BTF or an ELF's .BTF (default ${KERNEL_BTF_PATH})
  --json       one JSON document: programs, maps, relocations (one record each)
`;

const OPTIONS = {
  btf: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export function readObject(arg: string): { bytes: Uint8Array; name: string } {
  if (exists(arg)) return { bytes: readFile(arg), name: arg };
  const bare = arg.replace(/\.bpf\.o$/, "");
  if (embeddedObjectNames().includes(bare)) {
    return { bytes: embeddedObject(bare), name: `${bare}.bpf.o (embedded)` };
  }
  throw new TracerError(
    `no such object file '${arg}' (embedded objects: ${embeddedObjectNames().join(", ")})`,
  );
}

/** u64 values: JSON numbers when exact, decimal strings beyond 2^53. */
const jsonNum = (v: number | bigint): number | string => typeof v === "bigint" ? v.toString() : v;

function relocationJson(r: CoreRelocationResult) {
  return {
    program: r.program,
    section: r.section,
    relo: r.relo,
    insn: r.insn,
    kind: r.kind,
    local_type: r.localType,
    local_type_name: r.localTypeName,
    access: r.access,
    local_spec: r.localSpec,
    target_type: r.targetType,
    target_spec: r.targetSpec,
    old: jsonNum(r.old),
    new: jsonNum(r.new),
    poisoned: r.poisoned,
    ...(r.memSize ? { mem_size: r.memSize } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
  };
}

function programJson(p: ProgramSpec) {
  return {
    name: p.name,
    section: p.section,
    insns: p.insns.length / 8,
    subprogram: p.isSubprogram,
    prog_type: p.progType,
    attach: p.attach,
  };
}

function mapJson(m: MapSpec) {
  return {
    name: m.name,
    type: m.type,
    type_name: mapTypeName(m.type),
    key_size: m.keySize,
    value_size: m.valueSize,
    max_entries: m.maxEntries,
    flags: m.flags,
    section: m.section,
  };
}

function table(rows: string[][], indent = "  "): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    indent + r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c])).join("  ")
      .trimEnd()
  ).join("\n") + "\n";
}

function outcome(r: CoreRelocationResult): string {
  if (r.poisoned) return `${r.old} -> poisoned`;
  const base = `${r.old} -> ${r.new}`;
  const notFound = r.targetType === null && r.kind !== "local_type_id" ? " (not found)" : "";
  const mem = r.memSize ? ` (load size ${r.memSize.old} -> ${r.memSize.new})` : "";
  return base + notFound + mem;
}

function text(spec: ObjectSpec, target: string, results: CoreRelocationResult[], err?: CoreError) {
  let s = `object ${spec.name}: license ${spec.license || "(none)"}\n`;
  const fns = spec.programs.concat(spec.subprograms);
  s += `\nprograms (${spec.programs.length}) and subprograms (${spec.subprograms.length}):\n`;
  s += table([
    ["SECTION", "NAME", "INSNS", ""],
    ...fns.map((
      p,
    ) => [p.section, p.name, String(p.insns.length / 8), p.isSubprogram ? "subprogram" : ""]),
  ]);
  s += `\nmaps (${spec.maps.length}):\n`;
  if (spec.maps.length) {
    s += table([
      ["NAME", "TYPE", "KEY", "VALUE", "MAX_ENTRIES", "SECTION"],
      ...spec.maps.map((m) => [
        m.name,
        mapTypeName(m.type),
        String(m.keySize),
        String(m.valueSize),
        String(m.maxEntries),
        m.section,
      ]),
    ]);
  }
  s += `\nCO-RE relocations against ${target} (${results.length}):\n`;
  if (results.length) {
    s += table([
      ["PROGRAM", "INSN", "KIND", "LOCAL", "TARGET", "OLD -> NEW"],
      ...results.map((r) => [
        r.program,
        String(r.insn),
        r.kind,
        r.localSpec,
        r.targetType === null ? "-" : `[${r.targetType}]`,
        outcome(r),
      ]),
    ]);
  }
  if (err) s += `\nerror: ${err.message}\n`;
  return s;
}

export const inspectCommand: Command = {
  name: "inspect",
  summary: "list a BPF object's programs, maps and CO-RE relocations against a kernel",
  run(args, platform) {
    const { values, positionals } = parse("inspect", args, OPTIONS, true);
    if (values.help) {
      out(platform, USAGE);
      return Promise.resolve(0);
    }
    if (positionals.length !== 1) {
      throw new UsageError(`inspect: expects one object file\n${USAGE}`);
    }
    const { bytes, name } = readObject(positionals[0]);
    const spec = loadObjectSpec(bytes, name);
    const targetName = values.btf ?? KERNEL_BTF_PATH;
    const target = values.btf ? readBtfFile(values.btf) : kernelBtf(undefined, platform);
    const results: CoreRelocationResult[] = [];
    let error: CoreError | undefined;
    try {
      relocateObject(spec, target, results);
    } catch (e) {
      if (!(e instanceof CoreError)) throw e;
      error = e;
    }
    if (values.json) {
      out(
        platform,
        JSON.stringify({
          object: name,
          license: spec.license,
          target_btf: targetName,
          programs: spec.programs.concat(spec.subprograms).map(programJson),
          maps: spec.maps.map(mapJson),
          relocations: results.map(relocationJson),
          ...(error ? { error: error.message } : {}),
        }) + "\n",
      );
    } else {
      out(platform, text(spec, targetName, results, error));
    }
    return Promise.resolve(error ? 1 : 0);
  },
};
