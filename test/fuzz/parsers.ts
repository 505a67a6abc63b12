// Fuzz targets of the parsers of object files and BTF: ELF, BTF (base and split), .BTF.ext,
// the object spec (maps, programs) and the CO-RE engine (mutated object against mutated
// target BTF). Seeds: the shipped objects, the fixture objects and target BTFs, and a
// kernel module's split BTF over its kernel's BTF.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { parseElf } from "../../src/elf/reader.ts";
import { Btf } from "../../src/btf/reader.ts";
import { parseBtfExt } from "../../src/btf/ext.ts";
import { dumpC } from "../../src/btf/c-dump.ts";
import { writeBtf } from "../../src/btf/writer.ts";
import { FormatError } from "../../src/errors.ts";
import { CoreError } from "../../src/core/errors.ts";
import { loadObjectSpec } from "../../src/object/load.ts";
import { relocateObject } from "../../src/core/relocate.ts";
import { embeddedObject } from "../../src/tracers/embedded.ts";
import { mutateStructured, type Region } from "./mutate.ts";
import type { Rand } from "./rng.ts";
import { debianKernels } from "../btf-reference.ts";
import { type FuzzTarget, pack, unpack } from "./target.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const file = (p: string) => new Uint8Array(readFileSync(ROOT + p));

/** The small objects every ELF-level target starts from. */
const OBJECT_FILES = [
  "test/fixtures/btf/probe.bpf.o",
  "test/fixtures/core/core_fields.bpf.o",
  "test/fixtures/core/core_ambig.bpf.o",
  "test/fixtures/core/core_poison.bpf.o",
  "test/fixtures/core/core_kernel.bpf.o",
  "test/fixtures/loader/getpid.bpf.o",
  "test/fixtures/loader/kinds.bpf.o",
];
const SHIPPED = ["exec", "open", "connect"];

function objectSeeds(): Uint8Array[] {
  return [...SHIPPED.map(embeddedObject), ...OBJECT_FILES.map(file)];
}

/** The parts of an ELF object a parser interprets: header, section headers, tables, BTF. */
export function elfRegions(bytes: Uint8Array): Region[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shnum = dv.getUint16(0x3c, true);
  const regions: Region[] = [{ start: 0, end: 64 }, { start: shoff, end: shoff + shnum * 64 }];
  const elf = parseElf(bytes);
  for (const s of elf.sections) {
    if (
      s.type === 2 || s.type === 9 || s.type === 3 || s.name === ".BTF" ||
      s.name === ".BTF.ext" || s.name === ".maps" || s.name === "license"
    ) {
      regions.push({ start: s.offset, end: s.offset + Math.min(s.size, 4096) });
    }
  }
  return regions;
}

/** BTF header and type section. */
function btfRegions(blob: Uint8Array): Region[] {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const hdr = dv.getUint32(4, true);
  const typeOff = dv.getUint32(8, true), typeLen = dv.getUint32(12, true);
  return [{ start: 0, end: hdr }, { start: hdr + typeOff, end: hdr + typeOff + typeLen }];
}

interface Seed {
  bytes: Uint8Array;
  regions: Region[];
}

function pickMutation(seeds: Seed[], rand: Rand): Uint8Array {
  const s = seeds[rand(seeds.length)];
  return mutateStructured(s.bytes, rand, s.regions, seeds[rand(seeds.length)].bytes);
}

const isFormat = (e: unknown) => e instanceof FormatError;

/**
 * Uses a BTF the way the tracer does (decode, resolve, size, and `lookups` name lookups);
 * sizeOf may refuse a type with a FormatError, which is fine.
 */
export function exerciseBtf(btf: Btf, rand: Rand, sample: number, lookups: number): void {
  const n = btf.count - btf.firstId;
  for (let k = 0; k < Math.min(sample, n); k++) {
    const id = sample >= n ? btf.firstId + k : btf.firstId + rand(n);
    const t = btf.type(id);
    btf.resolve(id);
    try {
      btf.sizeOf(id);
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
    }
    if (k < lookups && t.name) {
      btf.byName(t.name);
      btf.candidates(t.name, t.kind);
    }
  }
}

/**
 * A BTF that parses survives being written and read back: same bytes again, and (`c`) the
 * same C printed. (Split BTF is not printed: its C is the whole base's, megabytes each time.)
 */
function roundTrip(btf: Btf, c = true): void {
  const written = writeBtf(btf);
  const again = Btf.parse(written, { base: btf.base });
  assert.deepEqual(writeBtf(again), written, "BTF round trip: other bytes written");
  if (c) assert.equal(dumpC(again), dumpC(btf), "BTF round trip: other C printed");
}

export const elfTarget: FuzzTarget = {
  name: "elf",
  about: "ELF reader (sections, symbols, relocations) on the shipped and fixture objects",
  prepare() {
    const seeds = objectSeeds().map((bytes) => ({ bytes, regions: elfRegions(bytes) }));
    return {
      generate: (rand) => pickMutation(seeds, rand),
      run(input) {
        const elf = parseElf(input, "fuzz.o");
        for (const s of elf.sections) elf.relocationsFor(s.index);
        elf.sectionByName(".BTF");
      },
      allowed: isFormat,
    };
  },
};

/** The .BTF sections of the seed objects. */
function btfSeeds(): Seed[] {
  return objectSeeds().map((o) => {
    const bytes = parseElf(o).sectionByName(".BTF")!.data.slice();
    return { bytes, regions: btfRegions(bytes) };
  });
}

export const btfTarget: FuzzTarget = {
  name: "btf",
  about: "BTF reader (parse, every type decoded and sized, name lookups, C dump, writer " +
    "round trip) on the .BTF of the shipped and fixture objects",
  prepare() {
    const seeds = btfSeeds();
    return {
      generate: (rand) => pickMutation(seeds, rand),
      run(input) {
        const btf = Btf.parse(input, { what: "fuzz .BTF" });
        exerciseBtf(btf, rand1(), 1000, 1000);
        roundTrip(btf);
      },
      allowed: isFormat,
    };
  },
};

/** A fixed generator for the parts of `run` that sample (run must be a function of its input). */
function rand1(): Rand {
  let x = 1;
  return (n) => (x = (x * 1103515245 + 12345) & 0x7fffffff) % n;
}

/**
 * A kernel BTF and a module's split BTF: Debian 6.1's generic kernel from .cache/kernels,
 * fetched on first use by scripts/fetch-kernels.sh.
 */
function splitSeed(): { base: Btf; split: Uint8Array } | null {
  const dir =
    debianKernels().find((d) => !/-rt-/.test(d) && existsSync(d + "/modules/tcp_bbr.ko")) + "/";
  if (!existsSync(dir + "vmlinux.btf") || !existsSync(dir + "modules/tcp_bbr.ko")) return null;
  const base = Btf.parse(new Uint8Array(readFileSync(dir + "vmlinux.btf")), { what: "vmlinux" });
  const ko = new Uint8Array(readFileSync(dir + "modules/tcp_bbr.ko"));
  const split = parseElf(ko, "tcp_bbr.ko", { anyMachine: true }).sectionByName(".BTF")!.data
    .slice();
  return { base, split };
}

export const btfSplitTarget: FuzzTarget = {
  name: "btf-split",
  about: "split BTF: Debian 6.1's tcp_bbr.ko module BTF (mutated) over that kernel's " +
    "vmlinux BTF (.cache/kernels, scripts/fetch-kernels.sh)",
  prepare() {
    const s = splitSeed();
    if (!s) {
      throw new Error(
        "btf-split: no Debian 6.1 kernel in .cache/kernels (scripts/fetch-kernels.sh)",
      );
    }
    const seeds = [{ bytes: s.split, regions: btfRegions(s.split) }];
    return {
      generate: (rand) => pickMutation(seeds, rand),
      run(input) {
        const btf = Btf.parse(input, { base: s.base, what: "fuzz split BTF" });
        // No name lookups: each new split BTF would index the base's 120,000 names again.
        exerciseBtf(btf, rand1(), 1000, 0);
        roundTrip(btf, false);
      },
      allowed: isFormat,
    };
  },
};

export const btfExtTarget: FuzzTarget = {
  name: "btf-ext",
  about: ".BTF.ext (func_info, line_info, CO-RE records) of the shipped and fixture " +
    "objects, mutated, against the object's own BTF",
  prepare() {
    const seeds = objectSeeds().flatMap((o) => {
      const elf = parseElf(o);
      const ext = elf.sectionByName(".BTF.ext");
      if (!ext) return [];
      const btf = Btf.parse(elf.sectionByName(".BTF")!.data);
      return [{ btf, bytes: ext.data.slice() }];
    });
    return {
      generate(rand) {
        const i = rand(seeds.length);
        const s = seeds[i];
        const ext = mutateStructured(
          s.bytes,
          rand,
          [{ start: 0, end: 32 }],
          seeds[rand(seeds.length)].bytes,
        );
        // The seed index rides in the first byte so that the input alone says which BTF.
        const out = new Uint8Array(1 + ext.length);
        out[0] = i;
        out.set(ext, 1);
        return out;
      },
      run(input) {
        if (input.length === 0) return;
        parseBtfExt(input.subarray(1), seeds[input[0] % seeds.length].btf, "fuzz .BTF.ext");
      },
      allowed: isFormat,
    };
  },
};

export const objectTarget: FuzzTarget = {
  name: "object",
  about: "the object spec (ELF + BTF + .BTF.ext -> programs, subprograms, maps, " +
    "relocations; before any bpf() call) of the shipped and fixture objects",
  prepare() {
    const seeds = objectSeeds().map((bytes) => ({ bytes, regions: elfRegions(bytes) }));
    return {
      generate: (rand) => pickMutation(seeds, rand),
      run(input) {
        loadObjectSpec(input, "fuzz.o");
      },
      allowed: isFormat,
    };
  },
};

const CORE_OBJECTS = [
  "test/fixtures/core/core_fields.bpf.o",
  "test/fixtures/core/core_ambig.bpf.o",
  "test/fixtures/core/core_poison.bpf.o",
  "test/fixtures/core/core_kernel.bpf.o",
];
const CORE_TARGETS = [
  "test/fixtures/core/target_a.btf",
  "test/fixtures/core/target_b.btf",
  "test/fixtures/core/target_c.btf",
];

export const coreTarget: FuzzTarget = {
  name: "core",
  about: "CO-RE engine: the core_* fixture objects (mutated) relocated against the " +
    "hand-made target BTFs target_a/b/c (mutated); each side left intact a third of the time",
  prepare() {
    const objects = CORE_OBJECTS.map(file).map((bytes) => ({ bytes, regions: elfRegions(bytes) }));
    const targets = CORE_TARGETS.map(file).map((bytes) => ({ bytes, regions: btfRegions(bytes) }));
    return {
      generate(rand) {
        const how = rand(3);
        const o = objects[rand(objects.length)], t = targets[rand(targets.length)];
        const obj = how === 1 ? o.bytes : pickMutation(objects, rand);
        const btf = how === 0 ? t.bytes : pickMutation(targets, rand);
        return pack(obj, btf);
      },
      run(input) {
        const [obj, btf] = unpack(input);
        const target = Btf.parse(btf, { what: "fuzz target BTF" });
        relocateObject(loadObjectSpec(obj, "fuzz.o"), target);
      },
      allowed: (e) => e instanceof FormatError || e instanceof CoreError,
    };
  },
};
