// The per-boot CO-RE cache (src/loader/core-cache.ts) on the real kernel: a load with an empty
// cache relocates against the kernel's BTF and writes what it learned; the next load takes it
// from the cache without the kernel's BTF, and the kernel computes the same program tag for
// both (the tag hashes the instructions, map fds left out), and events carry the exact CO-RE
// read fields. A cache of another build, a torn file, patches that do not fit, a directory
// others may write or another user owns, and a symbolic link in place of the file are all
// misses that never mislead a load.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import process from "node:process";
import { kernelTest, scratchDir } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { type Collection, loadCollection } from "../src/loader/collection.ts";
import { applyPatches, type CoreCacheConfig, diffInsns } from "../src/loader/core-cache.ts";
import { RingBufReader } from "../src/events/ringbuf.ts";
import { structDecoder } from "../src/events/decoder.ts";
import { embeddedSpec } from "../src/tracers/embedded.ts";
import { currentTid } from "./loader-ids.ts";

test("core cache: patches turn the compiled instructions into the relocated ones", () => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  for (let round = 0; round < 200; round++) {
    const before = Uint8Array.from({ length: 8 * (1 + rand(300)) }, () => rand(256));
    const after = before.slice();
    for (let k = rand(20); k > 0; k--) after[rand(after.length)] = rand(256);
    const patches = diffInsns(before, after);
    const copy = before.slice();
    assert.equal(applyPatches(copy, patches), true);
    assert.deepEqual(copy, after);
    // Only changed instructions are recorded: 12 bytes each.
    let changed = 0;
    for (let i = 0; i < after.length; i += 8) {
      if (before.subarray(i, i + 8).some((b, j) => b !== after[i + j])) changed++;
    }
    assert.equal(atob(patches).length, changed * 12);
  }
  // Patches past the end, or cut, leave the instructions as they were.
  const insns = new Uint8Array(16).fill(1);
  const far = diffInsns(new Uint8Array(24), new Uint8Array(24).fill(2));
  assert.equal(applyPatches(insns, far), false);
  assert.deepEqual(insns, new Uint8Array(16).fill(1));
  assert.equal(applyPatches(insns, "AQAAAA=="), false);
  assert.equal(applyPatches(insns, "not base64!"), false);
  assert.deepEqual(insns, new Uint8Array(16).fill(1));
});

const fixture = () =>
  new Uint8Array(readFileSync(new URL("./fixtures/loader/getpid.bpf.o", import.meta.url)));

/** Loads getpid.bpf.o's program with `cache`, and checks its events' CO-RE read fields. */
async function loadAndCheck(
  cache: CoreCacheConfig,
): Promise<{ tag: string; relocated: number; source: string | null }> {
  const p = await getPlatform();
  const spec = loadObjectSpec(fixture(), "getpid.bpf.o");
  const tid = currentTid();
  const c: Collection = loadCollection(p, spec, {
    programs: ["on_getpid"],
    constants: { magic: 42, target_tid: tid },
    coreCache: cache,
  });
  try {
    c.attach("on_getpid");
    const reader = new RingBufReader(p, c.map("events"));
    const decoder = structDecoder(spec.btf, "event");
    try {
      for (let i = 0; i < 3; i++) p.pid();
      const events: Record<string, unknown>[] = [];
      await reader.poll((v, off, len) => events.push(decoder.decode(v, off, len)), 1000);
      assert.equal(events.length, 3);
      for (const e of events) {
        assert.equal(e.pid, p.pid());
        assert.equal(e.tid, tid);
        assert.equal(e.ppid, process.ppid); // CO-RE: task->real_parent->tgid
      }
    } finally {
      reader.close();
    }
    return {
      tag: c.program("on_getpid").program.info().tag,
      relocated: c.coreResults.length,
      source: c.coreSource,
    };
  } finally {
    c.close();
  }
}

test(
  "core cache: the second load takes CO-RE from the cache, with the same program tag",
  kernelTest(),
  async () => {
    const dir = `${scratchDir("core-cache-")}/cache`;
    const cache = { dir, key: "build-a" };
    const first = await loadAndCheck(cache);
    assert.ok(first.relocated > 0, "the first load relocates against the kernel's BTF");
    const file = `${dir}/getpid.bpf.o-build-a.json`;
    assert.equal(
      first.source,
      `${first.relocated} relocations against the kernel's BTF, saved to ${file}`,
    );
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const entry = JSON.parse(readFileSync(file, "utf8"));
    assert.match(entry.key, /^build-a boot [0-9a-f-]{36}$/);
    assert.deepEqual(Object.keys(entry.fns).sort(), [
      ".text/count_drop",
      ".text/fill",
      "tp/syscalls/sys_enter_getpid/on_getpid",
    ]);
    const second = await loadAndCheck(cache);
    assert.equal(second.relocated, 0, "the second load takes CO-RE from the cache");
    assert.equal(second.tag, first.tag);
    assert.equal(second.source, `from the cache ${file}`);

    // Another build's entries are not this build's: a file of its own, filled the long way.
    const other = await loadAndCheck({ dir, key: "build-b" });
    assert.ok(other.relocated > 0);
    assert.equal(other.tag, first.tag);
    const otherFile = `${dir}/getpid.bpf.o-build-b.json`;
    assert.match(JSON.parse(readFileSync(otherFile, "utf8")).key, /^build-b /);
    assert.equal((await loadAndCheck(cache)).relocated, 0, "build-a's entries are still there");
    // A file whose key is not the build's (or not this boot's) is a miss, written again.
    const whole = readFileSync(file, "utf8");
    writeFileSync(file, readFileSync(otherFile));
    assert.ok((await loadAndCheck(cache)).relocated > 0);
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), JSON.parse(whole));

    // A torn file (a concurrent writer cut it) is a miss and is written whole again.
    writeFileSync(file, whole.slice(0, whole.length / 2));
    assert.ok((await loadAndCheck(cache)).relocated > 0);
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), JSON.parse(whole));

    // Patches that do not fit the functions (past their end): the load goes the long way.
    const bad = JSON.parse(whole);
    const past = new Uint8Array(8 * 10000);
    past[past.length - 1] = 1;
    for (const k of Object.keys(bad.fns)) bad.fns[k] = diffInsns(new Uint8Array(past.length), past);
    writeFileSync(file, JSON.stringify(bad));
    const longWay = await loadAndCheck(cache);
    assert.ok(longWay.relocated > 0);
    assert.equal(longWay.tag, first.tag);
  },
);

test(
  "core cache: a directory others may write or own, or a link in place of the file, is not used",
  kernelTest(),
  async () => {
    const root = scratchDir("core-cache-unsafe-");
    const cache = (dir: string) => ({ dir, key: "k" });

    // Group/world-writable: neither read nor written.
    const open = `${root}/open`;
    mkdirSync(open);
    chmodSync(open, 0o777);
    const refused = await loadAndCheck(cache(open));
    assert.ok(refused.relocated > 0);
    assert.equal(refused.source, `${refused.relocated} relocations against the kernel's BTF`);
    assert.equal(existsSync(`${open}/getpid.bpf.o-k.json`), false);

    // Owned by another user: neither read nor written (root could write there).
    const theirs = `${root}/theirs`;
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    assert.ok((await loadAndCheck(cache(theirs))).relocated > 0);
    assert.equal(existsSync(`${theirs}/getpid.bpf.o-k.json`), false);

    // A symbolic link to the directory: not followed.
    const real = `${root}/real`;
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, `${root}/link`);
    assert.ok((await loadAndCheck(cache(`${root}/link`))).relocated > 0);
    assert.equal(existsSync(`${real}/getpid.bpf.o-k.json`), false);

    // A symbolic link in place of the file: never written through.
    const mine = `${root}/mine`;
    mkdirSync(mine, { mode: 0o700 });
    writeFileSync(`${root}/victim`, "keep");
    symlinkSync(`${root}/victim`, `${mine}/getpid.bpf.o-k.json`);
    assert.ok((await loadAndCheck(cache(mine))).relocated > 0);
    assert.equal(readFileSync(`${root}/victim`, "utf8"), "keep");
    assert.ok(lstatSync(`${mine}/getpid.bpf.o-k.json`).isSymbolicLink());
    rmSync(`${root}/link`);
  },
);

test(
  "core cache: tracing programs' attach ids come from the cache on the second load",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = embeddedSpec("exec");
    // The tp_btf program where this kernel allows it; else the attach-id path is not exercised.
    const prog = spec.programs.find((x) => x.attach.kind === "tp_btf")!;
    const dir = `${scratchDir("core-cache-attach-")}/cache`;
    const load = () =>
      loadCollection(p, spec, { programs: [prog.name], coreCache: { dir, key: "k" } });
    let first: Collection;
    try {
      first = load();
    } catch (e) {
      // This kernel refuses the tp_btf program: its attach id was learned (and saved) first.
      const saved = JSON.parse(readFileSync(`${dir}/exec-k.json`, "utf8"));
      assert.deepEqual(Object.keys(saved.attach).length, 1, `${e}`);
      return;
    }
    const tag = first.program(prog.name).program.info().tag;
    first.close();
    const entry = JSON.parse(readFileSync(`${dir}/exec-k.json`, "utf8"));
    const key = Object.keys(entry.attach);
    assert.equal(key.length, 1);
    const target = (prog.attach as { target: string }).target;
    assert.match(key[0], new RegExp(`:btf_trace_${target}$`));
    const second = load();
    try {
      assert.equal(second.coreResults.length, 0);
      assert.equal(second.program(prog.name).program.info().tag, tag);
      assert.match(second.coreSource ?? "", /^from the cache /);
    } finally {
      second.close();
    }
  },
);
