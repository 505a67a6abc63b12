import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseElf } from "../src/elf/reader.ts";
import {
  R_BPF_64_32,
  R_BPF_64_64,
  SHT_NOBITS,
  SHT_PROGBITS,
  SHT_REL,
  STB_GLOBAL,
  STB_LOCAL,
  STT_FUNC,
  STT_OBJECT,
} from "../src/elf/constants.ts";
import { FormatError } from "../src/errors.ts";

const PROBE = new URL("./fixtures/btf/probe.bpf.o", import.meta.url);
const probe = () => new Uint8Array(readFileSync(PROBE));

function rejects(bytes: Uint8Array, pattern: RegExp) {
  assert.throws(
    () => parseElf(bytes, "probe.bpf.o"),
    (e: unknown) => e instanceof FormatError && pattern.test(e.message),
  );
}

test("ELF: sections of the fixture object match llvm-readelf", () => {
  const elf = parseElf(probe(), "probe.bpf.o");
  assert.equal(elf.machine, 247);
  assert.equal(elf.type, 1);
  assert.equal(elf.sections.length, 33);
  const names = elf.sections.slice(1, 12).map((s) => s.name);
  assert.deepEqual(names, [
    ".strtab",
    ".text",
    "tp/sched/sched_process_exec",
    ".reltp/sched/sched_process_exec",
    "raw_tp/sys_enter",
    ".relraw_tp/sys_enter",
    ".rodata",
    ".data",
    ".maps",
    ".bss",
    "license",
  ]);
  const exec = elf.sectionByName("tp/sched/sched_process_exec")!;
  assert.equal(exec.index, 3);
  assert.equal(exec.type, SHT_PROGBITS);
  assert.equal(exec.offset, 0x78);
  assert.equal(exec.size, 0x150);
  assert.equal(exec.data.length, 0x150);
  assert.equal(exec.flags, 6n);
  assert.equal(exec.addralign, 8);
  const rel = elf.sections[4];
  assert.equal(rel.type, SHT_REL);
  assert.equal(rel.link, 32);
  assert.equal(rel.info, 3);
  assert.equal(rel.entsize, 16);
  const bss = elf.sectionByName(".bss")!;
  assert.equal(bss.type, SHT_NOBITS);
  assert.equal(bss.size, 4);
  assert.equal(bss.data.length, 0);
  assert.equal(new TextDecoder().decode(elf.sectionByName("license")!.data), "GPL\0");
  assert.equal(elf.sectionByName(".BTF")!.size, 0x73b);
  assert.equal(elf.sectionByName("nope"), undefined);
});

test("ELF: symbols of the fixture object match llvm-readelf", () => {
  const elf = parseElf(probe(), "probe.bpf.o");
  assert.equal(elf.symbols.length, 23);
  const byName = (n: string) => elf.symbols.find((s) => s.name === n)!;
  assert.deepEqual(byName("handle_exec"), {
    index: 15,
    name: "handle_exec",
    value: 0,
    size: 336,
    type: STT_FUNC,
    bind: STB_GLOBAL,
    visibility: 0,
    shndx: 3,
  });
  assert.deepEqual(
    [byName("bump").bind, byName("bump").type, byName("bump").shndx, byName("bump").size],
    [STB_LOCAL, STT_FUNC, 2, 56],
  );
  const events = byName("events");
  assert.deepEqual([events.index, events.value, events.size, events.type, events.shndx], [
    22,
    0x20,
    16,
    STT_OBJECT,
    9,
  ]);
});

test("ELF: relocations of each program section match llvm-readelf", () => {
  const elf = parseElf(probe(), "probe.bpf.o");
  const named = (sec: number) =>
    elf.relocationsFor(sec).map((r) => [r.offset, elf.symbols[r.symbolIndex].name, r.type]);
  assert.deepEqual(named(3), [
    [0x90, "target_pid", R_BPF_64_64],
    [0xd0, "table", R_BPF_64_64],
    [0xf0, "counter", R_BPF_64_64],
    [0x120, "", R_BPF_64_32], // the STT_SECTION symbol of .text
    [0x128, "seen", R_BPF_64_64],
  ]);
  assert.deepEqual(named(5), [[0x20, "table", R_BPF_64_64], [0x58, "seen", R_BPF_64_64]]);
  assert.equal(elf.symbols[elf.relocationsFor(3)[3].symbolIndex].shndx, 2);
  assert.deepEqual(elf.relocationsFor(2), []);
});

test("ELF: big-endian, non-BPF, 32-bit and non-ELF input are rejected with a clear error", () => {
  const be = probe();
  be[5] = 2;
  rejects(be, /big-endian ELF is not supported .*\(at offset 5\)/);
  const x86 = probe();
  x86[18] = 62;
  rejects(x86, /not a BPF object: e_machine 62, expected EM_BPF \(247\)/);
  assert.equal(parseElf(x86, "x", { anyMachine: true }).machine, 62);
  const elf32 = probe();
  elf32[4] = 1;
  rejects(elf32, /not ELF64/);
  rejects(new TextEncoder().encode("#!/bin/sh\n".repeat(10)), /bad magic/);
});

test("ELF: the object cut at every length gives a FormatError, never another exception", () => {
  const full = probe();
  let errors = 0;
  for (let len = 0; len < full.length; len++) {
    try {
      const elf = parseElf(full.subarray(0, len), "cut");
      for (const s of elf.sections) elf.relocationsFor(s.index);
    } catch (e) {
      if (!(e instanceof FormatError)) throw new Error(`length ${len}: ${e}`);
      errors++;
    }
  }
  // The section headers sit at the end: every cut before them must fail.
  assert.equal(errors, full.length);
});

test("ELF: section data past the end of the file and a bad name offset are caught with offsets", () => {
  const bytes = probe();
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const shoff = Number(view.getBigUint64(0x28, true));
  // Section 3's sh_size to something huge.
  view.setBigUint64(shoff + 3 * 64 + 32, 1n << 40n, true);
  rejects(bytes, new RegExp(`section 3 data .* past end of file .*at offset ${shoff + 3 * 64}\\)`));
  const bad = probe();
  new DataView(bad.buffer, bad.byteOffset).setUint32(shoff + 2 * 64, 0xffffff, true);
  rejects(bad, /string offset 16777215 past string table/);
});
