// `tracer btf`: print BTF types as C (like `bpftool btf dump ... format c`) or JSON lines,
// or summarise a BTF blob (counts per kind, string section size, time to index).

import { type Command, out, parse } from "./command.ts";
import { TracerError, UsageError } from "../errors.ts";
import type { Btf } from "../btf/reader.ts";
import { btfFromBytes, fileBytes, KERNEL_BTF_PATH, kernelBtf, readBtfFile } from "../btf/source.ts";
import type { Platform } from "../platform/types.ts";
import { dumpC } from "../btf/c-dump.ts";
import { typeToJson } from "../btf/json.ts";
import { KIND_NAMES } from "../btf/types.ts";

const USAGE = `usage:
  tracer btf dump [--btf FILE] [--base FILE] [--format c|json] [TYPE...]
  tracer btf stats [--btf FILE] [--base FILE]

  --btf FILE     raw BTF, or an ELF file's .BTF section (default ${KERNEL_BTF_PATH})
  --base FILE    base BTF when FILE is split BTF (default for /sys/kernel/btf/<module>:
                 the kernel's vmlinux BTF)
  --format c     compilable C, as bpftool prints it (default); json: one object per line
  TYPE           a type name (every type of that name) or a numeric id (default: all)
`;

const OPTIONS = {
  btf: { type: "string" },
  base: { type: "string" },
  format: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * The base for a BTF file: --base, or the kernel's vmlinux BTF for a module's BTF in
 * /sys/kernel/btf/ (split BTF there is always over vmlinux).
 */
function baseFor(path: string, basePath: string | undefined, platform: Platform): Btf | undefined {
  if (basePath) return readBtfFile(basePath, undefined, platform);
  if (path.startsWith("/sys/kernel/btf/") && path !== KERNEL_BTF_PATH) {
    return kernelBtf(KERNEL_BTF_PATH, platform);
  }
  return undefined;
}

function load(path: string | undefined, basePath: string | undefined, platform: Platform): Btf {
  const file = path ?? KERNEL_BTF_PATH;
  return readBtfFile(file, baseFor(file, basePath, platform), platform);
}

/** The ids named on the command line: numeric ids, or every type with that name. */
export function selectTypes(btf: Btf, names: string[]): number[] | undefined {
  if (names.length === 0) return undefined;
  const ids: number[] = [];
  for (const n of names) {
    if (/^\d+$/.test(n)) {
      const id = Number(n);
      if (id < 1 || id >= btf.count) {
        throw new TracerError(`no type with id ${id} (ids are 1..${btf.count - 1})`);
      }
      ids.push(id);
      continue;
    }
    const found = btf.byName(n);
    if (found.length === 0) throw new TracerError(`no type named '${n}' in ${btf.what}`);
    ids.push(...found);
  }
  return ids;
}

function dump(args: string[], platform: Platform): number {
  const { values, positionals } = parse("btf dump", args, OPTIONS, true);
  if (values.help) {
    out(platform, USAGE);
    return 0;
  }
  const format = values.format ?? "c";
  if (format !== "c" && format !== "json") {
    throw new UsageError(`btf dump: --format must be c or json, got '${format}'`);
  }
  const btf = load(values.btf, values.base, platform);
  const ids = selectTypes(btf, positionals);
  if (format === "c") {
    out(platform, dumpC(btf, ids));
    return 0;
  }
  const all = ids ?? Array.from({ length: btf.count - btf.firstId }, (_, i) => i + btf.firstId);
  const chunk: string[] = [];
  for (const id of all) {
    chunk.push(JSON.stringify(typeToJson(btf, id)));
    if (chunk.length === 4096) {
      out(platform, chunk.join("\n") + "\n");
      chunk.length = 0;
    }
  }
  if (chunk.length) out(platform, chunk.join("\n") + "\n");
  return 0;
}

function stats(args: string[], platform: Platform): number {
  const { values, positionals } = parse("btf stats", args, OPTIONS, true);
  if (values.help) {
    out(platform, USAGE);
    return 0;
  }
  if (positionals.length) {
    throw new UsageError(`btf stats: unexpected argument '${positionals[0]}'`);
  }
  const path = values.btf ?? KERNEL_BTF_PATH;
  const base = baseFor(path, values.base, platform);
  const t0 = performance.now();
  const bytes = fileBytes(path, platform, "BTF file");
  const t1 = performance.now();
  const btf = btfFromBytes(bytes, path, base);
  const t2 = performance.now();
  const counts = btf.kindCounts();
  const lines = [
    `file           ${path} (${bytes.length} bytes)`,
    `types          ${btf.count - btf.firstId}${
      btf.base ? ` (ids ${btf.firstId}..${btf.count - 1}, split)` : ""
    }`,
    `strings        ${btf.stringsSize} bytes`,
    `map or read    ${(t1 - t0).toFixed(2)} ms`,
    `index          ${(t2 - t1).toFixed(2)} ms`,
    "",
    "kind        count",
  ];
  for (let k = 1; k < KIND_NAMES.length; k++) {
    if (counts[k]) lines.push(`${KIND_NAMES[k].padEnd(11)} ${counts[k]}`);
  }
  out(platform, lines.join("\n") + "\n");
  return 0;
}

export const btfCommand: Command = {
  name: "btf",
  summary: "print or summarise BTF type information (kernel or file)",
  run(args, platform) {
    const [sub, ...rest] = args;
    if (sub === "dump") return Promise.resolve(dump(rest, platform));
    if (sub === "stats") return Promise.resolve(stats(rest, platform));
    if (sub === "-h" || sub === "--help" || sub === "help") {
      out(platform, USAGE);
      return Promise.resolve(0);
    }
    return Promise.reject(
      new UsageError(
        sub === undefined ? "btf: expected 'dump' or 'stats'" : `btf: unknown subcommand '${sub}'`,
      ),
    );
  },
};
