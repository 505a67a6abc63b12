// `tracer btf dump --format c` against `bpftool btf dump file ... format c` (bpftool 7.1).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Kind } from "../src/btf/types.ts";
import { readBtfFile } from "../src/btf/source.ts";
import { dumpC } from "../src/btf/c-dump.ts";
import { btfCommand } from "../src/cli/btf.ts";
import type { Platform } from "../src/platform/types.ts";
import { debianKernels } from "./btf-reference.ts";
import { kernelTest } from "./env.ts";

const PROBE = new URL("./fixtures/btf/probe.bpf.o", import.meta.url).pathname;

function bpftoolC(path: string): string {
  return execFileSync("bpftool", ["btf", "dump", "file", path, "format", "c"], {
    maxBuffer: 1 << 30,
    encoding: "utf8",
  });
}

/**
 * bpftool 7.1 (libbpf of Linux 6.1) predates `__attribute__((mode(byte)))` on 1-byte enums,
 * which newer libbpf emits and without which such an enum would be 4 bytes in C.
 */
const withoutModeByte = (s: string) => s.replaceAll(" __attribute__((mode(byte)))", "");

/** Runs `tracer btf ARGS...` in-process; returns [exit status, stdout]. */
async function tracerBtf(args: string[]): Promise<[number, string]> {
  const chunks: Uint8Array[] = [];
  const platform = {
    writeAll(fd: number, bytes: Uint8Array) {
      if (fd === 1) chunks.push(bytes.slice());
    },
  } as unknown as Platform;
  const status = await btfCommand.run(args, platform);
  return [status, chunks.map((c) => new TextDecoder().decode(c)).join("")];
}

/** The top-level definition of `struct NAME`, `union NAME` or `enum NAME` in a C dump. */
function definition(c: string, keyword: string, name: string): string {
  const start = c.indexOf(`\n${keyword} ${name} {\n`);
  assert.ok(start >= 0, `${keyword} ${name} not found`);
  const end = c.indexOf("\n}", start + 1);
  return c.slice(start + 1, c.indexOf(";\n", end) + 1);
}

test("btf dump C: the fixture object's header is byte-identical to bpftool's", () => {
  assert.equal(dumpC(readBtfFile(PROBE)), bpftoolC(PROBE));
});

test("btf dump C: the running kernel's whole header equals bpftool's", kernelTest(), () => {
  const ours = dumpC(readBtfFile("/sys/kernel/btf/vmlinux"));
  assert.equal(withoutModeByte(ours), bpftoolC("/sys/kernel/btf/vmlinux"));
});

test(
  "btf dump C: the kernel header compiles with clang-19 and every named struct, union and enum has its BTF size",
  kernelTest(),
  () => {
    const btf = readBtfFile("/sys/kernel/btf/vmlinux");
    const header = dumpC(btf);
    // Names shared by several structs/unions/enums get ___N suffixes in emission order: skip them.
    const tagged = (k: Kind) =>
      k === Kind.STRUCT
        ? "struct"
        : k === Kind.UNION
        ? "union"
        : k === Kind.ENUM || k === Kind.ENUM64
        ? "enum"
        : "";
    const uses = new Map<string, number>();
    for (let id = 1; id < btf.count; id++) {
      if (tagged(btf.kind(id))) uses.set(btf.name(id), (uses.get(btf.name(id)) ?? 0) + 1);
    }
    const asserts: string[] = [];
    for (let id = 1; id < btf.count; id++) {
      const keyword = tagged(btf.kind(id));
      const name = btf.name(id);
      if (!keyword || !name || uses.get(name) !== 1) continue;
      const t = btf.type(id);
      if ((t.kind === Kind.ENUM || t.kind === Kind.ENUM64) && t.values.length === 0) continue;
      asserts.push(`_Static_assert(sizeof(${keyword} ${name}) == ${btf.sizeOf(id)}, "${name}");`);
    }
    assert.ok(asserts.length > 10000, `${asserts.length} types`);
    const dir = mkdtempSync(`${tmpdir()}/btf-c-`);
    try {
      writeFileSync(`${dir}/vmlinux.h`, header);
      writeFileSync(`${dir}/check.c`, `#include "vmlinux.h"\n${asserts.join("\n")}\n`);
      // Target x86_64, the kernel's own: its va_list is 24 bytes (BPF's is a pointer).
      execFileSync("clang-19", [
        "-target",
        "x86_64-linux-gnu",
        "-w",
        "-fsyntax-only",
        "-ferror-limit=5",
        `${dir}/check.c`,
      ], {
        stdio: ["ignore", "pipe", "pipe"],
        maxBuffer: 1 << 26,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "btf dump C: named kernel types match bpftool's definitions member by member",
  kernelTest(),
  async () => {
    const reference = withoutModeByte(bpftoolC("/sys/kernel/btf/vmlinux"));
    const types: [string, string][] = [
      ["struct", "task_struct"],
      ["struct", "sock"],
      ["struct", "inet_sock"],
      ["struct", "file"],
      ["struct", "path"],
      ["struct", "dentry"],
      ["struct", "mm_struct"],
      ["struct", "cred"],
      ["struct", "trace_event_raw_sys_enter"],
      ["struct", "trace_event_raw_sched_process_exec"],
      ["union", "bpf_attr"], // anonymous structs in a union, heavily
      ["struct", "page"], // anonymous unions of anonymous structs
      ["struct", "sk_buff"], // bitfields
      ["enum", "perf_callchain_context"], // ENUM64
    ];
    const [status, ours] = await tracerBtf([
      "dump",
      "--format",
      "c",
      ...new Set(types.map(([, n]) => n)),
    ]);
    assert.equal(status, 0);
    for (const [keyword, name] of types) {
      const mine = definition(withoutModeByte(ours), keyword, name);
      assert.equal(mine, definition(reference, keyword, name));
      assert.ok(mine.split("\n").length > 3, `${name} has members`);
    }
    // The bitfields of sk_buff, one of them for sure.
    assert.match(definition(ours, "struct", "sk_buff"), /\t__u8 cloned: 1;\n/);
    assert.match(
      definition(ours, "enum", "perf_callchain_context"),
      /PERF_CONTEXT_MAX = 18446744073709547521ULL/,
    );
  },
);

test(
  "btf dump C: Debian 6.1 generic and RT headers are byte-identical to bpftool's",
  kernelTest(),
  () => {
    for (const dir of debianKernels()) {
      // Read through the ELF vmlinux's .BTF section; bpftool reads the raw blob.
      assert.equal(dumpC(readBtfFile(`${dir}/vmlinux`)), bpftoolC(`${dir}/vmlinux.btf`), dir);
    }
  },
);

test("btf dump JSON and stats: one object per type, counts per kind", async () => {
  const [status, json] = await tracerBtf([
    "dump",
    "--format",
    "json",
    "--btf",
    PROBE,
    "flags",
    "18",
  ]);
  assert.equal(status, 0);
  const lines = json.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[0].members.slice(0, 3), [
    { name: "a", type: 9, bitOffset: 0, bitfieldSize: 3 },
    { name: "b", type: 9, bitOffset: 3, bitfieldSize: 5 },
    { name: "c", type: 2, bitOffset: 8, bitfieldSize: 12 },
  ]);
  assert.deepEqual(lines[1], {
    id: 18,
    kind: "ENUM64",
    name: "big",
    size: 8,
    signed: false,
    values: [{ name: "BIG_A", value: 4294967296 }, {
      name: "BIG_B",
      value: "18446744073709551615",
    }],
  });
  const [s2, stats] = await tracerBtf(["stats", "--btf", PROBE]);
  assert.equal(s2, 0);
  assert.match(stats, /^types +50$/m);
  assert.match(stats, /^STRUCT +4$/m);
  assert.match(stats, /^ENUM64 +1$/m);
  assert.match(stats, /^index +\d+\.\d+ ms$/m);
  await assert.rejects(
    tracerBtf(["dump", "--btf", PROBE, "no_such_type"]),
    /no type named 'no_such_type'/,
  );
  await assert.rejects(tracerBtf(["dump", "--format", "yaml"]), /--format must be c or json/);
});

test(
  "btf dump C: a module's split BTF over Debian 6.1 vmlinux is byte-identical to bpftool's",
  kernelTest(),
  async () => {
    const dir = debianKernels()[0];
    const ko = `${dir}/modules/tcp_bbr.ko`;
    const reference = execFileSync("bpftool", [
      "--base-btf",
      `${dir}/vmlinux.btf`,
      "btf",
      "dump",
      "file",
      ko,
      "format",
      "c",
    ], {
      maxBuffer: 1 << 30,
      encoding: "utf8",
    });
    const [status, ours] = await tracerBtf(["dump", "--btf", ko, "--base", `${dir}/vmlinux.btf`]);
    assert.equal(status, 0);
    assert.equal(ours, reference);
    assert.match(ours, /\nstruct bbr \{\n/);
  },
);
