// The BTF reader against bpftool on real kernel BTF: the running kernel's and Debian 6.1's
// (generic and PREEMPT_RT, fetched on first use by scripts/fetch-kernels.sh).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Btf } from "../src/btf/reader.ts";
import { fileBytes, kernelBtf, readBtfFile } from "../src/btf/source.ts";
import { getPlatform } from "../src/platform/index.ts";
import { writeBtf } from "../src/btf/writer.ts";
import { Kind } from "../src/btf/types.ts";
import { asBpftoolJson, bpftoolTypes, debianKernels } from "./btf-reference.ts";
import { kernelTest } from "./env.ts";

function sameAsBpftool(btf: Btf, reference: Record<string, unknown>[]) {
  assert.equal(btf.count - 1, reference.length, "type count");
  for (const want of reference) {
    const got = asBpftoolJson(btf, want.id as number);
    if (JSON.stringify(got) !== JSON.stringify(want)) assert.deepEqual(got, want);
  }
}

test(
  "kernel BTF: every type of the running kernel decodes as bpftool -j prints it",
  kernelTest(),
  () => {
    const btf = kernelBtf();
    sameAsBpftool(btf, bpftoolTypes("/sys/kernel/btf/vmlinux"));
    const ts = btf.byName("task_struct", Kind.STRUCT);
    assert.equal(ts.length, 1);
    assert.deepEqual(btf.candidates("task_struct", Kind.STRUCT), ts);
    assert.equal(btf.sizeOf(ts[0]), (btf.type(ts[0]) as { size: number }).size);
  },
);

test(
  "kernel BTF: write then read gives the same types, and writing again the same bytes",
  kernelTest(),
  () => {
    const btf = kernelBtf();
    const blob = writeBtf(btf);
    const again = Btf.parse(blob);
    assert.equal(again.count, btf.count);
    for (let id = 1; id < btf.count; id++) {
      const a = btf.type(id);
      const b = again.type(id);
      if (JSON.stringify(a, big) !== JSON.stringify(b, big)) assert.deepEqual(b, a);
    }
    assert.deepEqual(writeBtf(again), blob);
    assert.equal(blob.length <= btf.bytes.length, true);
  },
);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const big = (_: string, v: unknown) => typeof v === "bigint" ? `${v}n` : v;

test(
  "Debian 6.1 BTF (generic and RT): raw file and vmlinux ELF agree with bpftool -j",
  kernelTest(),
  () => {
    const dirs = debianKernels();
    assert.equal(dirs.length, 2);
    const tgid: number[] = [];
    for (const dir of dirs) {
      const raw = readBtfFile(`${dir}/vmlinux.btf`);
      sameAsBpftool(raw, bpftoolTypes(`${dir}/vmlinux.btf`));
      const fromElf = readBtfFile(`${dir}/vmlinux`);
      assert.equal(fromElf.count, raw.count);
      assert.ok(
        sameBytes(fromElf.bytes, readFileSync(`${dir}/vmlinux.btf`)),
        "ELF .BTF = vmlinux.btf",
      );
      const ts = raw.byName("task_struct", Kind.STRUCT)[0];
      const t = raw.type(ts);
      if (t.kind !== Kind.STRUCT) throw new Error("task_struct is not a struct");
      tgid.push(t.members.find((m) => m.name === "tgid")!.bitOffset / 8);
      const again = Btf.parse(writeBtf(raw));
      for (let id = 1; id < raw.count; id += 97) assert.deepEqual(again.type(id), raw.type(id));
    }
    // The RT kernel lays task_struct out differently (DESIGN.md: tgid at 2484 vs ...).
    assert.notEqual(tgid[0], tgid[1]);
    assert.ok(tgid.includes(2484), `tgid offsets ${tgid}`);
  },
);

test(
  "Debian 6.1 module BTF (ext4, tcp_bbr): split over vmlinux, as bpftool --base-btf -j",
  kernelTest(),
  () => {
    for (const dir of debianKernels()) {
      const base = readBtfFile(`${dir}/vmlinux.btf`);
      for (const mod of ["ext4", "tcp_bbr"]) {
        const path = `${dir}/modules/${mod}.ko`;
        const split = readBtfFile(path, base);
        assert.equal(split.firstId, base.count);
        const reference = bpftoolTypes(path, `${dir}/vmlinux.btf`);
        assert.equal(split.count - split.firstId, reference.length, `${path}: type count`);
        for (const want of reference) {
          const got = asBpftoolJson(split, want.id as number);
          if (JSON.stringify(got) !== JSON.stringify(want)) assert.deepEqual(got, want);
        }
        // Names in split types may live in the base's strings, and lookups span both.
        assert.equal(
          split.byName("task_struct", Kind.STRUCT)[0],
          base.byName("task_struct", Kind.STRUCT)[0],
        );
        const again = Btf.parse(writeBtf(split), { base });
        for (let id = split.firstId; id < split.count; id++) {
          assert.deepEqual(
            again.type(id),
            split.type(id),
          );
        }
      }
      const ext4 = readBtfFile(`${dir}/modules/ext4.ko`, base);
      assert.equal(ext4.byName("ext4_sb_info", Kind.STRUCT).length, 1);
      assert.ok(ext4.byName("ext4_sb_info", Kind.STRUCT)[0] >= base.count);
    }
  },
);

test(
  "kernel BTF: mmapped through the platform, the same bytes and types as read",
  kernelTest(),
  async () => {
    const platform = await getPlatform();
    const mapped = fileBytes("/sys/kernel/btf/vmlinux", platform);
    const read = readFileSync("/sys/kernel/btf/vmlinux");
    // Not the read buffer: a view of the mapping.
    assert.notEqual(mapped.buffer, read.buffer);
    assert.ok(sameBytes(mapped, read), "mapped bytes = read bytes");
    const a = Btf.parse(mapped);
    const b = Btf.parse(read);
    assert.equal(a.count, b.count);
    for (let id = 1; id < a.count; id += 101) assert.deepEqual(a.type(id), b.type(id));
    // Regular files map too (the fixture object's .BTF read through the mapping).
    const probe = new URL("./fixtures/btf/probe.bpf.o", import.meta.url).pathname;
    assert.equal(readBtfFile(probe, undefined, platform).count, 51);
  },
);
