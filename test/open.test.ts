// The open tracer's pure parts (flags, full-path joining, prefixes, the decoder, the
// formatter) and, in this process, the kernel-side filters it configures.

import { DecoderError } from "../src/events/decoder.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseElf } from "../src/elf/reader.ts";
import { Btf } from "../src/btf/reader.ts";
import { embeddedObject } from "../src/tracers/embedded.ts";
import { eventLayout } from "../src/tracers/layout.ts";
import type { EventLayout } from "../src/tracers/types.ts";
import {
  joinFullPath,
  OPEN_F_DELETED,
  OPEN_F_FULL,
  OPEN_F_FULL_DIR,
  OPEN_F_FULL_TRUNCATED,
  OPEN_F_PATH_TRUNCATED,
  openDecoder,
  type OpenRecord,
  openTracer,
  underPrefix,
} from "../src/tracers/open.ts";
import { flagNames, parseFlagFilter, takesMode } from "../src/tracers/open-flags.ts";
import { openFormatter } from "../src/tracers/open-format.ts";
import { startTracer } from "../src/tracers/run.ts";
import type { KernelText } from "../src/output/escape.ts";
import { getPlatform } from "../src/platform/index.ts";
import { kernelTest, scratchDir } from "./env.ts";
import { currentTid } from "./loader-ids.ts";

const u = (s: string) => new TextEncoder().encode(s);
const text = (b: KernelText | null) =>
  b === null ? null : typeof b === "string" ? b : new TextDecoder().decode(b);

function layout(): EventLayout {
  const elf = parseElf(embeddedObject("open"), "open.bpf.o");
  return eventLayout(Btf.parse(elf.sectionByName(".BTF")!.data), "open_event");
}

/** A record built the way the BPF program does, at the offsets the BTF gives. */
function record(
  l: EventLayout,
  f: { path: Uint8Array; full?: Uint8Array; flags?: number; ret?: number; sys?: number },
) {
  const data = l.field("data").offset;
  const full = f.full ?? new Uint8Array();
  const len = data + f.path.length + full.length;
  const buf = new Uint8Array(len + 16).fill(0xee);
  const dv = new DataView(buf.buffer, 8);
  const u32 = (name: string, v: number) => dv.setUint32(l.field(name).offset, v, true);
  dv.setBigUint64(l.field("time_ns").offset, 5_000_000_000n, true);
  dv.setBigUint64(l.field("cgroup_id").offset, 0xfedcba9876543210n, true);
  dv.setBigUint64(l.field("mntns_id").offset, 4026531832n, true);
  dv.setBigUint64(l.field("open_flags").offset, 0o2000101n, true);
  u32("pid", 4242);
  u32("tid", 4243);
  u32("uid", 1000);
  dv.setInt32(l.field("ret").offset, f.ret ?? 3, true);
  dv.setInt32(l.field("dirfd").offset, -100, true);
  u32("mode", 0o640);
  u32("path_len", f.path.length);
  u32("full_len", full.length);
  u32("flags", f.flags ?? 0);
  u32("syscall", f.sys ?? 2);
  new Uint8Array(buf.buffer, 8 + l.field("comm").offset, 16).set(u("touch\0"));
  new Uint8Array(buf.buffer, 8 + data).set(f.path);
  new Uint8Array(buf.buffer, 8 + data + f.path.length).set(full);
  return { view: dv, len };
}

test("flags: symbolic names, O_SYNC and O_TMPFILE whole, unknown bits in hex, arm64 values", () => {
  assert.equal(flagNames(0n), "O_RDONLY");
  assert.equal(flagNames(0o2000101n), "O_WRONLY|O_CREAT|O_CLOEXEC");
  assert.equal(flagNames(0o2000101), "O_WRONLY|O_CREAT|O_CLOEXEC");
  assert.equal(flagNames(0o4010002n), "O_RDWR|O_SYNC");
  assert.equal(flagNames(0o10000n), "O_RDONLY|O_DSYNC");
  assert.equal(flagNames(0o20200002n), "O_RDWR|O_TMPFILE");
  assert.equal(flagNames(0o200000n), "O_RDONLY|O_DIRECTORY");
  assert.equal(flagNames(3n | (1n << 40n)), "O_ACCMODE|0x10000000000");
  // arm64: O_DIRECTORY is 040000, O_DIRECT 0200000.
  assert.equal(flagNames(0o40000n, "arm64"), "O_RDONLY|O_DIRECTORY");
  assert.equal(flagNames(0o40000n, "x64"), "O_RDONLY|O_DIRECT");
  assert.ok(takesMode(0o100n) && takesMode(0o20200000n) && !takesMode(0o1n));
});

test("-f: access modes by value, flags by bit, with or without O_; unknown flags named", () => {
  assert.deepEqual(parseFlagFilter(["O_WRONLY", "rdwr"]), { bits: 0n, accmodes: 0b110 });
  assert.deepEqual(parseFlagFilter(["O_CREAT", "tmpfile", "O_SYNC"]), {
    bits: 0o100n | 0o20000000n | 0o4000000n,
    accmodes: 0,
  });
  assert.deepEqual(parseFlagFilter(["O_RDONLY"]), { bits: 0n, accmodes: 1 });
  assert.throws(
    () => parseFlagFilter(["O_BOGUS"]),
    /unknown open flag 'O_BOGUS' \(known: O_RDONLY/,
  );
  assert.throws(() => parseFlagFilter(["__O_SYNC"]), /unknown open flag/);
});

test("full paths: components reversed, a failed open's dir joined, truncation, deleted", () => {
  const comps = (...names: string[]) => u(names.map((n) => n + "\0").join(""));
  const no = { dirOf: false, truncated: false, deleted: false };
  assert.equal(text(joinFullPath(comps("c", "b", "a"), u("x"), no)), "/a/b/c");
  assert.equal(text(joinFullPath(comps(), u("x"), no)), "/");
  assert.equal(
    text(joinFullPath(comps("tmp"), u("nope/x"), { ...no, dirOf: true })),
    "/tmp/nope/x",
  );
  assert.equal(text(joinFullPath(comps(), u("etc"), { ...no, dirOf: true })), "/etc");
  assert.equal(text(joinFullPath(comps("c", "b"), u(""), { ...no, truncated: true })), ".../b/c");
  assert.equal(
    text(joinFullPath(comps("#12", "tmp"), u("."), { ...no, deleted: true })),
    "/tmp/#12 (deleted)",
  );
});

test("--path: the prefix itself, or below it at a / boundary", () => {
  assert.ok(underPrefix(u("/etc"), u("/etc")));
  assert.ok(underPrefix(u("/etc/passwd"), u("/etc")));
  assert.ok(underPrefix(u("/etc/passwd"), u("/etc/")));
  assert.ok(!underPrefix(u("/etcetera"), u("/etc")));
  assert.ok(!underPrefix(u("/et"), u("/etc")));
});

test("openDecoder: every field; -F paths; a record too short for its lengths throws", () => {
  const l = layout();
  const dec = openDecoder(l, { fullPath: true });
  const r = record(l, {
    path: u("created2"),
    full: u("created2\0tmp\0"),
    flags: OPEN_F_FULL | OPEN_F_PATH_TRUNCATED,
  });
  const rec = dec(r.view, 0, r.len)!;
  assert.deepEqual({
    ...rec,
    comm: text(rec.comm),
    path: text(rec.path),
    fullPath: text(rec.fullPath),
  }, {
    timeNs: 5_000_000_000n,
    pid: 4242,
    tid: 4243,
    uid: 1000,
    ret: 3,
    dirfd: -100,
    flags: 0o2000101,
    mode: 0o640,
    syscall: "openat2",
    comm: "touch",
    path: "created2",
    pathTruncated: true,
    pathFault: false,
    fullPath: "/tmp/created2",
    fullPathTruncated: false,
    cgroupId: 0xfedcba9876543210n,
    mntnsId: 4026531832,
    context: null,
  });
  const failed = record(l, {
    path: u("x"),
    full: u("d\0"),
    ret: -2,
    flags: OPEN_F_FULL | OPEN_F_FULL_DIR | OPEN_F_FULL_TRUNCATED,
  });
  assert.equal(text(dec(failed.view, 0, failed.len)!.fullPath), ".../d/x");
  const gone = record(l, {
    path: u("."),
    full: u("#9\0tmp\0"),
    flags: OPEN_F_FULL | OPEN_F_DELETED,
  });
  assert.equal(text(dec(gone.view, 0, gone.len)!.fullPath), "/tmp/#9 (deleted)");
  // Without -F no full path, even for an absolute path.
  assert.equal(openDecoder(l)(record(l, { path: u("/a") }).view, 0, 200)!.fullPath, null);
  assert.throws(() => dec(r.view, 0, r.len - 1), DecoderError);
  assert.throws(() => dec(record(l, { path: u("a"), sys: 3 }).view, 0, 200), DecoderError);
  // -n and --path drop records in user space.
  assert.equal(openDecoder(l, { name: /^cat$/ })(r.view, 0, r.len), null);
  assert.equal(
    openDecoder(l, { fullPath: true, pathPrefix: u("/tmp") })(r.view, 0, r.len)?.pid,
    4242,
  );
  assert.equal(openDecoder(l, { fullPath: true, pathPrefix: u("/etc") })(r.view, 0, r.len), null);
});

const rec = (o: Partial<OpenRecord> = {}): OpenRecord => ({
  timeNs: 2_500_000_000n,
  pid: 4242,
  tid: 4242,
  uid: 1000,
  ret: 3,
  dirfd: -100,
  flags: 0o2000101n,
  mode: 0o640,
  syscall: "openat",
  comm: u("touch"),
  path: u("new"),
  pathTruncated: false,
  pathFault: false,
  fullPath: u("/tmp/new"),
  fullPathTruncated: false,
  cgroupId: 7n,
  mntnsId: 4026531832,
  context: null,
  ...o,
});
const clock = { wallOffsetNs: 1_795_000_000_000_000_000n, startBootNs: 1_000_000_000n };

test("table: opensnoop columns, errno names, -e FLAGS/MODE, -F, escapes", () => {
  const t = openFormatter({ ...clock, extended: true });
  assert.equal(
    t.header(),
    "    PID COMM              FD ERR          FLAGS                MODE PATH\n",
  );
  assert.equal(
    t.record(rec()),
    "   4242 touch              3 0            O_WRONLY|O_CREAT|O_CLOEXEC 0640 new\n",
  );
  const plain = openFormatter({ ...clock, fullPath: true, uidColumn: true });
  assert.equal(
    plain.record(rec({ ret: -13, flags: 0n, comm: u("a\x1b[2J"), fullPath: u("/x\n") })),
    "  1000    4242 a\\x1b[2J          -1 EACCES       /x\\n\n",
  );
  assert.equal(
    plain.record(rec({ pathFault: true, fullPath: null })).trimEnd().endsWith(
      "[path not readable]",
    ),
    true,
  );
  assert.match(plain.record(rec({ pathTruncated: true, fullPath: null })), /new \[truncated\]\n$/);
});

test("JSON: exact open line; dirfd, mode and fd null when absent; lossless bytes", () => {
  const j = openFormatter({ ...clock, json: true, fullPath: true });
  assert.equal(
    j.record(rec()),
    '{"type":"open","time":"2026-11-18T11:06:42.500000000Z","time_ns":2500000000,"pid":4242,' +
      '"tid":4242,"uid":1000,"comm":"touch","path":"new","full_path":"/tmp/new",' +
      '"path_truncated":false,"dirfd":null,"flags":"O_WRONLY|O_CREAT|O_CLOEXEC",' +
      '"flags_raw":524353,"mode":416,"syscall":"openat","fd":3,"ret":3,"error":null,' +
      '"cgroup_id":7,"mntns_id":4026531832,"cgroup":null,"container_id":null,"pod_uid":null}\n',
  );
  const bad = JSON.parse(
    j.record(rec({ ret: -2, dirfd: 5, flags: 0n, path: Uint8Array.of(0xff), fullPath: null })),
  );
  assert.deepEqual(
    [bad.path, bad.path_b64, bad.full_path, bad.dirfd, bad.mode, bad.fd, bad.error],
    ["\\xff", "/w==", null, 5, null, null, "ENOENT"],
  );
  // Without -F there is no full_path field at all.
  assert.equal(
    "full_path" in JSON.parse(openFormatter({ ...clock, json: true }).record(rec())),
    false,
  );
});

test(
  "in the kernel: --path (as passed), -x and --tid filter before the ring buffer",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const dir = scratchDir("open-filter-");
    const inside = join(dir, "in"), outside = join(dir, "out");
    writeFileSync(inside, "");
    writeFileSync(outside, "");
    const tid = currentTid();
    // The decoder's own checks are left out, so only what the kernel let through arrives:
    // "inx" is not below "in", and exists only in the failed list.
    const desc = openTracer({ tid, pathPrefix: u(inside), failedOnly: false });
    const t = startTracer(p, { ...desc, decoder: (l) => openDecoder(l) });
    const failedOnly = startTracer(p, {
      ...openTracer({ tid, failedOnly: true }),
      decoder: (l) => openDecoder(l),
    });
    try {
      for (const path of [inside, outside, inside + "x", join(dir, "missing")]) {
        try {
          closeSync(openSync(path, "r"));
        } catch { /* the missing one */ }
      }
      const seen: string[] = [], failed: string[] = [];
      await t.poll(50, (r) => seen.push(text(r.path)!));
      failedOnly.drain((r) => failed.push(text(r.path)!));
      assert.deepEqual(seen, [inside]);
      assert.deepEqual(failed, [inside + "x", join(dir, "missing")]);
    } finally {
      t.close();
      failedOnly.close();
    }
  },
);
