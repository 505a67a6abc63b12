// Output safety, as properties over random byte strings in every text field of every tracer
// (exec: comm, pcomm, filename, args, ancestors' comms; open: comm, path, full path; connect:
// comm; all three: the cgroup path and a container name taken from it), through
// the real formatters:
//   - table: no C0/C1 control, ESC, DEL, bidi override/isolate (U+202A-U+202E,
//     U+2066-U+2069), line separator or other invisible control reaches the terminal; each
//     text cell, read back by the documented escape rule, gives the original bytes (a comm
//     cut to its column: a prefix of them, ending in "…"); and every column of every row
//     starts where the header's does, by display width;
//   - JSON: every line parses, and every text field decodes back to the exact original
//     bytes by the rule of src/output/README-json.md (<field>_b64 when present, else the
//     string's UTF-8).
// Seeded (OUTPUT_SEED, else random, named in a failure); OUTPUT_CASES records per tracer
// (default 2000). Cost: about 5 s per runtime.

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { kernelText, unescapeBytes } from "../src/output/escape.ts";
import { displayWidth } from "../src/output/table.ts";
import { execFormatter } from "../src/tracers/exec-format.ts";
import { openFormatter } from "../src/tracers/open-format.ts";
import { connectFormatter } from "../src/tracers/connect-format.ts";
import type { FormatOptions } from "../src/tracers/format.ts";
import type { ExecRecord } from "../src/tracers/exec.ts";
import type { OpenRecord } from "../src/tracers/open.ts";
import type { ConnectRecord } from "../src/tracers/connect.ts";
import { hostileBytes } from "./fuzz/events.ts";
import { ContextResolver, type TaskContext } from "../src/tracers/context.ts";
import { byteChars } from "../src/tracers/container.ts";
import { type Rand, rng } from "./fuzz/rng.ts";

// Under CI=true a fixed seed (as test/fuzz.test.ts): random elsewhere.
const SEED = Number(
  process.env.OUTPUT_SEED ??
    (process.env.CI === "true" ? 20261127 : Math.floor(Math.random() * 0xffffffff)),
);
const CASES = Number(process.env.OUTPUT_CASES ?? 2000);

/** Random bytes: hostile pieces (escapes, C1, bidi, bad UTF-8, wide) or uniform bytes. */
function text(rand: Rand, max: number, nul = false): Uint8Array {
  let b: Uint8Array;
  if (rand(3) === 0) {
    b = new Uint8Array(rand(max + 1));
    for (let i = 0; i < b.length; i++) b[i] = rand(256);
  } else b = hostileBytes(rand, max);
  // C strings (comm, paths) hold no NUL: the kernel cuts them there.
  return nul ? b : b.map((x) => x === 0 ? 0x40 : x);
}

/** Code points that must never reach the terminal raw. */
function forbidden(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069) || cp === 0x2028 || cp === 0x2029 || cp === 0x200e ||
    cp === 0x200f || cp === 0x061c || cp === 0xfeff;
}

function assertTerminalSafe(line: string, what: string) {
  for (const ch of line) {
    const cp = ch.codePointAt(0)!;
    if (forbidden(cp)) assert.fail(`${what}: U+${cp.toString(16)} raw in ${JSON.stringify(line)}`);
  }
}

/** Columns the formatters align right (numbers); every other column is aligned left. */
const RIGHT = new Set([
  "TIME(s)",
  "UID",
  "PID",
  "PPID",
  "RET",
  "FD",
  "IP",
  "SPORT",
  "DPORT",
  "LAT(ms)",
]);

/** A line as display columns: each holds its character, or "" after a wide one. */
function grid(line: string): string[] {
  const g: string[] = [];
  for (const ch of line.replace(/\n$/, "")) {
    const w = displayWidth(ch);
    if (w === 0 && g.length) {
      g[g.length - 1] += ch; // a combining mark joins the column before it
      continue;
    }
    g.push(ch);
    for (let k = 1; k < w; k++) g.push("");
  }
  return g;
}

/**
 * Splits a row into its cells by the header's columns, and checks that no column moved:
 * a left-aligned value starts exactly where its header name starts, a right-aligned one ends
 * exactly where its header name ends, and a space separates each value from the next.
 */
function cells(header: string, row: string, what: string): string[] {
  const h = grid(header), r = grid(row);
  const cols: { name: string; start: number; end: number }[] = [];
  for (let i = 0; i < h.length; i++) {
    if (h[i] !== " " && (i === 0 || h[i - 1] === " ")) cols.push({ name: "", start: i, end: i });
    if (h[i] !== " ") {
      cols[cols.length - 1].name += h[i];
      cols[cols.length - 1].end = i + 1;
    }
  }
  const fail = (i: number, why: string) =>
    assert.fail(`${what}: column ${cols[i].name} ${why}:\n${header}${row}`);
  const at = (i: number) => r[i] ?? "";
  // Where each right-aligned value starts (it runs back from its end to a space).
  const rightStart = (i: number) => {
    const c = cols[i];
    if (at(c.end) !== "" && at(c.end) !== " ") fail(i, "does not end under its header");
    let p = c.end;
    while (p > 0 && at(p - 1) !== " ") p--;
    return p;
  };
  const out: string[] = [];
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i];
    let from: number, to: number;
    if (RIGHT.has(c.name)) {
      from = rightStart(i);
      to = c.end;
    } else if (i + 1 === cols.length && r.length < c.start) {
      out.push(""); // an empty last value: the row ends before it (no trailing spaces)
      continue;
    } else {
      if (c.start > 0 && at(c.start - 1) !== " ") fail(i, "does not start under its header");
      from = c.start;
      if (i + 1 === cols.length) to = r.length;
      else if (RIGHT.has(cols[i + 1].name)) to = rightStart(i + 1) - 1;
      else to = cols[i + 1].start - 1;
      const lastEmpty = i + 2 === cols.length && r.length <= to; // an empty last value
      if (i + 1 < cols.length && at(to) !== " " && !lastEmpty) {
        fail(i, "runs into the next column");
      }
    }
    let cell = r.slice(from, to).join("");
    if (i + 1 < cols.length) cell = cell.replace(/ +$/, "");
    out.push(cell);
  }
  return out;
}

const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

/**
 * A cell read back: exact bytes, or for a cut comm ("…" at the end) a prefix of them. In a
 * column before the last, spaces at the end of a value cannot be told from the padding, so
 * they are not compared (the JSON has them).
 */
function assertCell(cell: string, original: Uint8Array, what: string, last = false) {
  let bytes = original;
  if (!last) {
    let n = bytes.length;
    while (n > 0 && bytes[n - 1] === 0x20) n--;
    bytes = bytes.subarray(0, n);
  }
  if (cell.endsWith("…") && !eq(unescapeBytes(cell), bytes)) {
    bytes = original; // cut: the spaces at the end may be what did not fit
    const shown = unescapeBytes(cell.slice(0, -1));
    assert.ok(
      shown.length < bytes.length && eq(shown, bytes.subarray(0, shown.length)),
      `${what}: cut cell ${JSON.stringify(cell)} is not a prefix of ${hex(bytes)}`,
    );
    return;
  }
  if (!eq(unescapeBytes(cell), bytes)) {
    assert.fail(`${what}: ${JSON.stringify(cell)} is not ${hex(bytes)}`);
  }
}

/** The ARGS cell read back: quoted or bare arguments, each escaped (exec-format.ts). */
function parseArgsCell(cell: string): Uint8Array[] {
  const args: Uint8Array[] = [];
  for (let i = 0; i < cell.length;) {
    if (cell[i] === " ") {
      i++;
      continue;
    }
    let t = "";
    if (cell[i] === '"') {
      for (i++; cell[i] !== '"'; i++) {
        assert.ok(i < cell.length, `unterminated quote in ${JSON.stringify(cell)}`);
        if (cell[i] === "\\") {
          if (cell[i + 1] !== '"') t += "\\";
          i++;
        }
        t += cell[i];
      }
      i++;
    } else {
      while (i < cell.length && cell[i] !== " ") t += cell[i++];
    }
    args.push(unescapeBytes(t));
  }
  return args;
}

/**
 * A random cgroup path (hostile bytes, no NUL) as a container runtime could name it (an LXC or
 * systemd machine name is any bytes), and its context; or no context (null).
 */
function randomContext(
  rand: Rand,
): { path: Uint8Array; id: Uint8Array | null; context: TaskContext } | null {
  if (rand(4) === 0) return null;
  const name = text(rand, 24).map((x) => x === 0x2f ? 0x2e : x);
  const head = ["/lxc/", "/lxc.payload.", "/machine.slice/machine-", "/x/"][rand(4)];
  const machine = head.startsWith("/machine.slice");
  const path = new Uint8Array([
    ...enc.encode(head),
    ...name,
    ...enc.encode(machine ? ".scope" : ""),
  ]);
  // The name is the container's (systemd's \xNN escapes undone in a machine name).
  const latin1 = byteChars(name);
  const id = head === "/x/" || name.length === 0 ? null : machine
    ? Uint8Array.from(
      latin1.replace(/\\x([0-9a-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
      (c) => c.charCodeAt(0),
    )
    : name;
  return { path, id, context: new ContextResolver({ pathOf: () => path }, undefined).of(1n) };
}

/** The CONTAINER cell (--containers) reads back as the container's name, or "-". */
function assertContainerCell(
  o: FormatOptions,
  c: string[],
  ctx: { id: Uint8Array | null } | null,
  what: string,
) {
  if (!o.containersColumn) return;
  const at = [o.clock, o.elapsed, o.uidColumn].filter(Boolean).length;
  if (!ctx?.id) assert.equal(c[at], "-", `${what} CONTAINER`);
  else assertCell(c[at], ctx.id, `${what} CONTAINER`);
}

/** The JSON cgroup and container_id fields decode back to the path's and its name's bytes. */
function assertJsonContext(
  rec: Record<string, unknown>,
  c: { path: Uint8Array; id: Uint8Array | null } | null,
  what: string,
) {
  if (!c) {
    assert.deepEqual([rec.cgroup, rec.container_id, rec.pod_uid], [null, null, null], what);
    return;
  }
  assertJsonField(rec, "cgroup", c.path, `${what} cgroup`);
  if (c.id === null) assert.equal(rec.container_id, null, what);
  else assertJsonField(rec, "container_id", c.id, `${what} container_id`);
  assert.equal(rec.pod_uid, null, what);
}

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const enc = new TextEncoder();

/** A JSON text field decoded by the documented rule, compared with the original bytes. */
function assertJsonField(
  rec: Record<string, unknown>,
  name: string,
  bytes: Uint8Array,
  what: string,
) {
  const b = rec[`${name}_b64`];
  const got = typeof b === "string" ? b64(b) : enc.encode(rec[name] as string);
  if (!eq(got, bytes)) {
    assert.fail(`${what}: JSON ${name} ${JSON.stringify(rec[name])} is not ${hex(bytes)}`);
  }
  if (typeof b === "string") assert.ok(eq(unescapeBytes(rec[name] as string), bytes));
}

function formats(rand: Rand): FormatOptions {
  return {
    clock: rand(2) === 0,
    elapsed: rand(2) === 0,
    uidColumn: rand(2) === 0,
    containersColumn: rand(2) === 0,
    wallOffsetNs: 1764000000000000000n,
    startBootNs: 1000000000n,
  };
}

const json: FormatOptions = { json: true, wallOffsetNs: 1764000000000000000n, startBootNs: 0n };

test(`exec: ${CASES} records with random comm, pcomm, filename and args are shown safely (seed ${SEED})`, () => {
  const rand = rng(SEED);
  for (let k = 0; k < CASES; k++) {
    const what = `seed ${SEED} case ${k}`;
    const args = Array.from({ length: rand(5) }, () => text(rand, 20));
    const r: ExecRecord = {
      timeNs: 2000000000n + BigInt(rand(1 << 30)),
      pid: 1 + rand(4194304),
      tid: 1 + rand(4194304),
      ppid: rand(4194304),
      uid: rand(70000),
      gid: rand(70000),
      ret: rand(4) ? 0 : -[2, 8, 13, 36][rand(4)],
      comm: text(rand, 16),
      pcomm: text(rand, 16),
      filename: text(rand, 40),
      args,
      argsTruncated: false,
      filenameTruncated: false,
      argsFault: false,
      execveat: false,
      cgroupId: BigInt(rand(1 << 20)),
      mntnsId: 4026531832,
      ancestors: Array.from({ length: rand(4) }, () => ({ pid: rand(1000), comm: text(rand, 16) })),
      context: null,
    };
    const ctx = randomContext(rand);
    r.context = ctx?.context ?? null;
    const o = formats(rand);
    const f = execFormatter(o);
    const header = f.header(), row = f.record(r);
    assertTerminalSafe(row.replace(/\n$/, ""), what);
    assert.equal(row.indexOf("\n"), row.length - 1, `${what}: one line`);
    const c = cells(header, row, what);
    assertContainerCell(o, c, ctx, what);
    const n = c.length;
    assertCell(c[n - 5], r.comm, `${what} PCOMM`);
    assert.deepEqual(c.slice(n - 4, n - 1), [String(r.pid), String(r.ppid), String(r.ret)], what);
    if (args.length) {
      const back = parseArgsCell(c[n - 1]);
      assert.equal(back.length, args.length, `${what}: ARGS ${JSON.stringify(c[n - 1])}`);
      back.forEach((a, i) => {
        if (!eq(a, args[i])) assert.fail(`${what}: arg ${i} ${hex(a)} is not ${hex(args[i])}`);
      });
    } else assertCell(c[n - 1], r.filename, `${what} ARGS (filename)`, true);

    const line = execFormatter(json).record(r);
    assert.equal(line.indexOf("\n"), line.length - 1);
    const rec = JSON.parse(line);
    for (const name of ["comm", "pcomm", "filename"] as const) {
      assertJsonField(rec, name, r[name], what);
    }
    assertJsonContext(rec, ctx, what);
    assert.equal(rec.ancestors.length, r.ancestors.length, what);
    r.ancestors.forEach((a, i) => {
      assert.equal(rec.ancestors[i].pid, a.pid, what);
      assertJsonField(rec.ancestors[i], "comm", a.comm, `${what} ancestor ${i}`);
    });
    assert.equal(rec.args.length, args.length);
    args.forEach((a, i) => {
      const got = rec.args_b64 ? b64(rec.args_b64[i]) : enc.encode(rec.args[i]);
      if (!eq(got, a)) {
        assert.fail(`${what}: JSON arg ${i} ${JSON.stringify(rec.args[i])} is not ${hex(a)}`);
      }
    });
  }
});

test(`open: ${CASES} records with random comm, path and full path are shown safely (seed ${SEED})`, () => {
  const rand = rng(SEED ^ 0x0be1);
  for (let k = 0; k < CASES; k++) {
    const what = `seed ${SEED} case ${k}`;
    const comm = text(rand, 16), path = text(rand, 60), full = text(rand, 80);
    const failed = rand(3) === 0;
    const r: OpenRecord = {
      timeNs: 2000000000n + BigInt(rand(1 << 30)),
      pid: 1 + rand(4194304),
      tid: 1 + rand(4194304),
      uid: rand(70000),
      ret: failed ? -[2, 13, 36][rand(3)] : rand(1000),
      dirfd: -100,
      flags: [0, 1, 0x42, 0x80000][rand(4)], // names that fit FLAGS (longer ones widen it)
      mode: 0o644,
      syscall: "openat",
      comm: kernelText(comm, 0, comm.length),
      path: kernelText(path, 0, path.length),
      pathTruncated: false,
      pathFault: false,
      fullPath: kernelText(full, 0, full.length),
      fullPathTruncated: false,
      cgroupId: rand(1 << 20),
      mntnsId: 4026531832,
      context: null,
    };
    const ctx = randomContext(rand);
    r.context = ctx?.context ?? null;
    const fullPath = rand(2) === 0;
    const extended = rand(2) === 0;
    const o = { ...formats(rand), fullPath, extended };
    const f = openFormatter(o);
    const header = f.header(), row = f.record(r);
    assertTerminalSafe(row.replace(/\n$/, ""), what);
    assert.equal(row.indexOf("\n"), row.length - 1, `${what}: one line`);
    const c = cells(header, row, what);
    assertContainerCell(o, c, ctx, what);
    const n = c.length, shift = extended ? 2 : 0;
    assert.equal(c[n - 5 - shift], String(r.pid), what);
    assertCell(c[n - 4 - shift], comm, `${what} COMM`);
    // -F shows the full path when one is known (a non-empty one), else the path as passed.
    assertCell(c[n - 1], fullPath && full.length ? full : path, `${what} PATH`, true);

    const line = openFormatter({ ...json, fullPath: true }).record(r);
    const rec = JSON.parse(line);
    assertJsonField(rec, "comm", comm, what);
    assertJsonField(rec, "path", path, what);
    assertJsonField(rec, "full_path", full, what);
    assertJsonContext(rec, ctx, what);
  }
});

test(`connect: ${CASES} records with a random comm are shown safely (seed ${SEED})`, () => {
  const rand = rng(SEED ^ 0xc0ec);
  for (let k = 0; k < CASES; k++) {
    const what = `seed ${SEED} case ${k}`;
    const r: ConnectRecord = {
      timeNs: 2000000000n + BigInt(rand(1 << 30)),
      startNs: 2000000000n,
      pid: 1 + rand(4194304),
      tid: 1 + rand(4194304),
      uid: rand(70000),
      comm: text(rand, 16),
      family: 4,
      saddr: `10.0.${rand(256)}.${rand(256)}`,
      sport: rand(65536),
      daddr: `127.0.0.${rand(256)}`,
      dport: rand(65536),
      err: rand(2) ? 0 : 111,
      pending: false,
      cgroupId: BigInt(rand(1 << 20)),
      mntnsId: 4026531832,
      netnsId: 4026531833,
      context: null,
    };
    const ctx = randomContext(rand);
    r.context = ctx?.context ?? null;
    const o = formats(rand);
    const f = connectFormatter(o);
    const header = f.header(), row = f.record(r);
    assertTerminalSafe(row.replace(/\n$/, ""), what);
    const c = cells(header, row, what);
    assertContainerCell(o, c, ctx, what);
    const n = c.length;
    assert.equal(c[n - 9], String(r.pid), what);
    assertCell(c[n - 8], r.comm, `${what} COMM`);
    assert.deepEqual(c.slice(n - 7, n - 1), [
      "4",
      r.saddr,
      String(r.sport),
      r.daddr,
      String(r.dport),
      r.err ? "ECONNREFUSED" : "ok",
    ], what);
    const rec = JSON.parse(connectFormatter(json).record(r));
    assertJsonField(rec, "comm", r.comm, what);
    assertJsonContext(rec, ctx, what);
  }
});

test("what these properties found, fixed: wide comm, leading combining mark, zero-width space, BOM", () => {
  const rec = (comm: Uint8Array): ExecRecord => ({
    timeNs: 2000000000n,
    pid: 4242,
    tid: 4242,
    ppid: 1,
    uid: 0,
    gid: 0,
    ret: 0,
    comm,
    pcomm: comm,
    filename: comm,
    args: [comm],
    argsTruncated: false,
    filenameTruncated: false,
    argsFault: false,
    execveat: false,
    cgroupId: 1n,
    mntnsId: 1,
    ancestors: [],
    context: null,
  });
  const f = execFormatter({ wallOffsetNs: 0n, startBootNs: 0n });
  const header = f.header();
  // 16 ESC bytes escape to 64 columns: the PCOMM column used to widen, shifting PID, PPID,
  // RET and ARGS right of their headers. Now cut between escapes, ending in "…".
  const esc = new Uint8Array(16).fill(0x1b);
  const c = cells(header, f.record(rec(esc)), "16 ESC");
  assert.equal(c[0], "\\x1b".repeat(3) + "…");
  assert.deepEqual(c.slice(1, 4), ["4242", "1", "0"]);
  // A combining mark first joined the space before the cell; zero-width characters were raw.
  assert.equal(cells(header, f.record(rec(enc.encode("\u0301a"))), "mark")[0], "\\u{301}a");
  assert.equal(cells(header, f.record(rec(enc.encode("l\u200bs"))), "zwsp")[4], "l\\u{200b}s");
  // JSON dropped a leading U+FEFF (the UTF-8 decoder took it for a byte-order mark).
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x61]);
  const j = JSON.parse(execFormatter(json).record(rec(bom)));
  assert.equal(j.comm, "\ufeffa");
  assert.equal(j.args[0], "\ufeffa");
});
