// Loader parity with libbpf on real-world objects: the BPF objects embedded in Debian's
// libbpf-tools binaries (/usr/sbin, package libbpf-tools, installed by scripts/setup.sh). For
// each object (identical ones once), on the running kernel:
// - CO-RE: every relocation decided as libbpf decides it (test/harness/core-compare.ts);
// - each program loaded alone, by our loader and by libbpf (test/harness/core_harness.c
//   --load): the same outcome, loaded or refused with the same errno (fentry/fexit refused with
//   EPERM here, a missing attach target ESRCH, a verifier rejection EACCES/EINVAL ...);
// - the maps, as the kernel has them after the first load, identical (type, key and value
//   size, max_entries, flags): perf event arrays sized to the CPUs, .kconfig laid out alike.
// Maps the tools size at run time (max_entries 0, a stack-trace map's value size 0) are given
// the same size on both sides (10240 entries; 127 frames of 8 bytes, the tools' default).
// The project's extern fixtures (test/fixtures/loader: kconfig of each type, kfuncs present and
// missing, typed and untyped ksyms) are compared the same way, and the .kconfig map's bytes
// (every kconfig extern's value) must be libbpf's. Prints a table per object with totals.
// Cost: ~25 s per runtime here (Deno and Bun alike), half of it libbpf's loads.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTest } from "./env.ts";
import { distinctToolObjects, runtimeSizes, toolBinaries } from "./embedded-bpf.ts";
import { compareWithLibbpf } from "./harness/core-compare.ts";
import { type LibbpfLoadRun, runLibbpfLoad } from "./harness/libbpf-log.ts";
import { getPlatform } from "../src/platform/index.ts";
import type { Platform } from "../src/platform/types.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import type { ObjectSpec } from "../src/object/types.ts";
import { loadCollection } from "../src/loader/collection.ts";
import { mapInfo } from "../src/kernel/bpf.ts";
import { errnoName } from "../src/errors.ts";

const FIXTURES = [
  "externs.bpf.o",
  "typed-ksym.bpf.o",
  "strong-kfunc.bpf.o",
  "sections.bpf.o",
  "getpid.bpf.o",
];
interface Row {
  object: string;
  programs: number;
  libbpfLoaded: number;
  weLoaded: number;
  relocations: number;
  ms: { libbpf: number; ours: number; core: number };
}

/** Our outcome for each program loaded alone, and the maps after the first load. */
function loadOurs(p: Platform, spec: ObjectSpec, sizes: Record<string, [number, number]>) {
  const mapSizes: Record<string, number> = {};
  const valueSizes: Record<string, number> = {};
  for (const [m, [n, v]] of Object.entries(sizes)) {
    if (n) mapSizes[m] = n;
    if (v) valueSizes[m] = v;
  }
  const programs: { name: string; errno: number; error: string }[] = [];
  let maps: LibbpfLoadRun["maps"] | null = null;
  let kconfig: string | null = null;
  for (const prog of spec.programs) {
    try {
      const c = loadCollection(p, spec, { programs: [prog.name], mapSizes, valueSizes });
      try {
        if (!maps) {
          const k = c.dataMaps.get(".kconfig")?.lookup(new Uint8Array(4));
          kconfig = k ? Array.from(k, (b) => b.toString(16).padStart(2, "0")).join("") : null;
        }
        maps ??= [...c.maps].map(([name, m]) => {
          const i = mapInfo(p, m.fd);
          return {
            name,
            type: i.type,
            key: i.keySize,
            value: i.valueSize,
            maxEntries: i.maxEntries,
            flags: i.flags,
          };
        });
      } finally {
        c.close();
      }
      programs.push({ name: prog.name, errno: 0, error: "" });
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      programs.push({
        name: prog.name,
        errno: typeof errno === "number" ? errno : -1,
        error: String((e as Error).message ?? e).split("\n")[0],
      });
    }
  }
  return { programs, maps: maps ?? [], kconfig };
}

test("loader parity with libbpf on Debian's libbpf-tools objects", kernelTest(), async () => {
  const binaries = toolBinaries();
  assert.ok(binaries.length > 0, "libbpf-tools is not installed (scripts/setup.sh installs it)");
  const objects = distinctToolObjects();
  assert.ok(objects.length >= 40, `${objects.length} objects found in libbpf-tools`);
  // The project's own extern fixtures (kconfig of every type, kfuncs, ksyms), compared too.
  for (const f of FIXTURES) {
    objects.push({
      name: f,
      binary: "",
      bytes: new Uint8Array(readFileSync(new URL(`./fixtures/loader/${f}`, import.meta.url))),
    });
  }
  const p = await getPlatform();
  const dir = mkdtempSync(join(tmpdir(), "tracer-parity-"));
  const rows: Row[] = [];
  const problems: string[] = [];
  try {
    for (const o of objects) {
      const path = join(dir, o.name);
      writeFileSync(path, o.bytes);
      const spec = loadObjectSpec(o.bytes, o.name);
      const sizes = runtimeSizes(spec);
      let t = performance.now();
      const lib = runLibbpfLoad(path, sizes);
      const tLib = performance.now() - t;
      t = performance.now();
      const ours = loadOurs(p, spec, sizes);
      const tOurs = performance.now() - t;
      t = performance.now();
      const core = compareWithLibbpf(path, "/sys/kernel/btf/vmlinux", sizes);
      const tCore = performance.now() - t;

      assert.deepEqual(
        ours.programs.map((x) => x.name),
        lib.programs.map((x) => x.name),
        `${o.name}: programs`,
      );
      ours.programs.forEach((x, i) => {
        const want = lib.programs[i].errno;
        if (x.errno !== want) {
          problems.push(
            `${o.name} ${x.name}: libbpf ${want ? errnoName(want) : "loaded"}, ours ${
              x.errno === 0 ? "loaded" : x.errno < 0 ? "no errno" : errnoName(x.errno)
            }${x.error ? ` (${x.error})` : ""}`,
          );
        }
      });
      const byName = (m: { name: string }[]) => [...m].sort((a, b) => a.name < b.name ? -1 : 1);
      if (lib.maps.length && ours.maps.length) {
        const a = JSON.stringify(byName(ours.maps));
        const b = JSON.stringify(byName(lib.maps));
        if (a !== b) problems.push(`${o.name}: maps differ\n  ours   ${a}\n  libbpf ${b}`);
        if (ours.kconfig !== lib.kconfig) {
          problems.push(`${o.name}: .kconfig values: ours ${ours.kconfig}, libbpf ${lib.kconfig}`);
        }
      }
      rows.push({
        object: o.name,
        programs: spec.programs.length,
        libbpfLoaded: lib.programs.filter((x) => x.errno === 0).length,
        weLoaded: ours.programs.filter((x) => x.errno === 0).length,
        relocations: core.compared,
        ms: { libbpf: tLib, ours: tOurs, core: tCore },
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const pad = (s: string | number, n: number) => String(s).padStart(n);
  const lines = [
    `${"object".padEnd(22)} ${pad("programs", 8)} ${pad("libbpf", 7)} ${pad("tracer", 7)} ${
      pad("CO-RE relocations", 17)
    }`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.object.padEnd(22)} ${pad(r.programs, 8)} ${pad(r.libbpfLoaded, 7)} ${
        pad(r.weLoaded, 7)
      } ${pad(r.relocations, 17)}`,
    );
  }
  const sum = (f: (r: Row) => number, of = rows) => of.reduce((a, r) => a + f(r), 0);
  const total = (label: string, of: Row[]) =>
    `${label.padEnd(22)} ${pad(sum((r) => r.programs, of), 8)} ${
      pad(sum((r) => r.libbpfLoaded, of), 7)
    } ${pad(sum((r) => r.weLoaded, of), 7)} ${pad(sum((r) => r.relocations, of), 17)}`;
  const tools = rows.filter((r) => !FIXTURES.includes(r.object));
  lines.push(total(`libbpf-tools (${tools.length})`, tools));
  lines.push(total(`all (${rows.length} objects)`, rows));
  lines.push(
    `time: libbpf loads ${(sum((r) => r.ms.libbpf) / 1000).toFixed(1)} s, ours ${
      (sum((r) => r.ms.ours) / 1000).toFixed(1)
    } s, CO-RE comparison ${(sum((r) => r.ms.core) / 1000).toFixed(1)} s`,
  );
  console.log(lines.join("\n"));
  assert.deepEqual(problems, [], `outcomes differ from libbpf:\n${problems.join("\n")}`);
  assert.equal(sum((r) => r.weLoaded), sum((r) => r.libbpfLoaded));
});
