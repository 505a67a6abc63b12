import { test } from "node:test";
import assert from "node:assert/strict";
import {
  escapeBytes,
  isValidUtf8,
  quoteArg,
  unescapeBytes,
  utf8SequenceLength,
} from "../src/output/escape.ts";
import { displayWidth, Table } from "../src/output/table.ts";
import { jsonLine, setBytesField, setBytesListField, toJson } from "../src/output/json.ts";
import type { JsonValue } from "../src/output/json.ts";
import { clockTime, rfc3339Boot, rfc3339Nanos, secondsSince } from "../src/output/time.ts";

const b = (...xs: number[]) => new Uint8Array(xs);
const u = (s: string) => new TextEncoder().encode(s);

test("escapeBytes: control characters, backslash, DEL", () => {
  assert.equal(escapeBytes(u("a\nb\tc\rd")), "a\\nb\\tc\\rd");
  assert.equal(escapeBytes(b(0x1b, 0x5b, 0x32, 0x4a)), "\\x1b[2J");
  assert.equal(escapeBytes(b(0x00, 0x07, 0x7f)), "\\x00\\x07\\x7f");
  assert.equal(escapeBytes(u("C:\\x41")), "C:\\\\x41");
  assert.equal(escapeBytes(u("plain ascii /usr/bin/env")), "plain ascii /usr/bin/env");
  assert.equal(escapeBytes(new Uint8Array(0)), "");
});

test("escapeBytes: valid UTF-8 kept, invalid bytes as \\xNN", () => {
  assert.equal(escapeBytes(u("héllo ü 日本 🙂")), "héllo ü 日本 🙂");
  assert.equal(escapeBytes(b(0xff)), "\\xff");
  assert.equal(escapeBytes(b(0x61, 0xc3)), "a\\xc3"); // truncated sequence
  assert.equal(escapeBytes(b(0xc0, 0xaf)), "\\xc0\\xaf"); // overlong '/'
  assert.equal(escapeBytes(b(0xe0, 0x80, 0xaf)), "\\xe0\\x80\\xaf"); // overlong 3-byte
  assert.equal(escapeBytes(b(0xed, 0xa0, 0x80)), "\\xed\\xa0\\x80"); // surrogate D800
  assert.equal(escapeBytes(b(0xf4, 0x90, 0x80, 0x80)), "\\xf4\\x90\\x80\\x80"); // > U+10FFFF
  assert.equal(escapeBytes(b(0x80, 0x41)), "\\x80A"); // lone continuation
});

test("escapeBytes: C1 controls and bidi overrides cannot reach the terminal", () => {
  assert.equal(escapeBytes(b(0xc2, 0x9b, 0x32, 0x4a)), "\\xc2\\x9b2J"); // U+009B CSI
  assert.equal(escapeBytes(u("a\u202eb")), "a\\u{202e}b");
  assert.equal(escapeBytes(u("x\u2028y")), "x\\u{2028}y");
  assert.equal(escapeBytes(u("\u00a0")), "\u00a0"); // first non-control after C1 kept
});

test("unescapeBytes inverts escapeBytes on every byte value and hostile mixes", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  assert.deepEqual(unescapeBytes(escapeBytes(all)), all);
  const samples = [
    b(0x5c, 0x78, 0x66, 0x66), // the text "\xff" itself
    u("a\u202eb\u2028 ü 🙂 \\n"),
    b(0xf0, 0x9f, 0x99), // cut emoji
    b(0xc2, 0x85, 0xe2, 0x80, 0xae, 0xff, 0x00),
  ];
  for (const s of samples) assert.deepEqual(unescapeBytes(escapeBytes(s)), s);
  // Pseudo-random bytes: the escape is always printable and always invertible.
  let x = 12345;
  for (let round = 0; round < 200; round++) {
    const r = new Uint8Array(40).map(() => (x = (x * 1103515245 + 12345) & 0x7fffffff) & 0xff);
    const text = escapeBytes(r);
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      assert.ok(cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f), `control U+${cp.toString(16)}`);
    }
    assert.deepEqual(unescapeBytes(text), r);
  }
});

test("isValidUtf8 and utf8SequenceLength agree with TextDecoder fatal", () => {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  let x = 99;
  for (let round = 0; round < 500; round++) {
    const r = new Uint8Array(6).map(() => (x = (x * 1103515245 + 12345) & 0x7fffffff) & 0xff);
    let ok = true;
    try {
      fatal.decode(r);
    } catch {
      ok = false;
    }
    assert.equal(isValidUtf8(r), ok, `bytes ${[...r]}`);
  }
  assert.equal(utf8SequenceLength(u("é"), 0), 2);
  assert.equal(utf8SequenceLength(u("日"), 0), 3);
  assert.equal(utf8SequenceLength(u("🙂"), 0), 4);
  assert.equal(utf8SequenceLength(b(0xf8, 0x80, 0x80, 0x80), 0), 0);
});

test("quoteArg: quotes empty args and args with spaces or quotes", () => {
  assert.equal(quoteArg(u("plain")), "plain");
  assert.equal(quoteArg(u("")), '""');
  assert.equal(quoteArg(u("hello world")), '"hello world"');
  assert.equal(quoteArg(u('say "hi"')), '"say \\"hi\\""');
  assert.equal(quoteArg(u("it's")), `"it's"`);
  assert.equal(quoteArg(u("a\nb")), "a\\nb");
  assert.equal(quoteArg(b(0x20, 0xff)), '" \\xff"');
});

test("Table: header, alignment, growth, columns never merge", () => {
  const t = new Table([
    { name: "PCOMM", width: 6 },
    { name: "PID", align: "right", width: 5 },
    { name: "ARGS" },
  ]);
  assert.equal(t.header(), "PCOMM    PID ARGS\n");
  assert.equal(t.row(["ls", "42", "/bin/ls -l"]), "ls        42 /bin/ls -l\n");
  // A wide value is printed whole, with a separating space, and the column grows.
  assert.equal(t.row(["averyverylongcomm", "1234567", "x"]), "averyverylongcomm 1234567 x\n");
  assert.equal(t.row(["sh", "1", "y"]), "sh                      1 y\n");
  assert.equal(t.row(["sh", "1", ""]), "sh                      1\n");
  assert.throws(() => t.row(["a"]), /1 cells for 3 columns/);
});

test("Table: wide characters count twice for alignment", () => {
  assert.equal(displayWidth("日本"), 4);
  assert.equal(displayWidth("é"), 1);
  assert.equal(displayWidth("e\u0301"), 1);
  assert.equal(displayWidth("🙂"), 2);
  const t = new Table([{ name: "C", width: 5 }, { name: "D" }]);
  assert.equal(t.row(["日本", "x"]), "日本  x\n");
});

test("JSON: valid UTF-8 is a plain string, other bytes are escaped plus _b64", () => {
  const r: Record<string, JsonValue> = {};
  setBytesField(r, "filename", u("/bin/ü"));
  setBytesField(r, "comm", b(0x61, 0xff, 0x1b));
  assert.deepEqual(r, { filename: "/bin/ü", comm: "a\\xff\\x1b", comm_b64: "Yf8b" });
  const line = jsonLine(r);
  assert.equal(line, '{"filename":"/bin/ü","comm":"a\\\\xff\\\\x1b","comm_b64":"Yf8b"}\n');
  assert.deepEqual(JSON.parse(line), r);
  // Valid UTF-8 with control characters stays exact (JSON escapes it).
  const c: Record<string, JsonValue> = {};
  setBytesField(c, "x", u("a\x1bb\n\u202e"));
  assert.equal(toJson(c), '{"x":"a\\u001bb\\n\u202e"}');
  assert.equal(JSON.parse(toJson(c)).x, "a\x1bb\n\u202e");
});

test("JSON: args list with one invalid argument carries every argument's base64", () => {
  const r: Record<string, JsonValue> = {};
  setBytesListField(r, "args", [u("/bin/echo"), b(0xff), u("")]);
  assert.deepEqual(r, {
    args: ["/bin/echo", "\\xff", ""],
    args_b64: ["L2Jpbi9lY2hv", "/w==", ""],
  });
  const ok: Record<string, JsonValue> = {};
  setBytesListField(ok, "args", [u("a b"), u('"q"')]);
  assert.deepEqual(ok, { args: ["a b", '"q"'] });
  assert.equal(toJson(ok), '{"args":["a b","\\"q\\""]}');
});

test("JSON: bigints are exact numbers, nulls and booleans", () => {
  const big = 18446744073709551615n;
  assert.equal(
    toJson({ id: big, e: null, t: true, f: false, n: -2 }),
    `{"id":${big},"e":null,"t":true,"f":false,"n":-2}`,
  );
  assert.equal(toJson([1, "a", [2n]]), '[1,"a",[2]]');
  assert.equal(toJson({ x: NaN }), '{"x":null}');
});

test("time: RFC 3339 with nanoseconds, seconds since start, clock time", () => {
  assert.equal(rfc3339Nanos(0n), "1970-01-01T00:00:00.000000000Z");
  assert.equal(rfc3339Nanos(1795378311123456789n), "2026-11-22T20:11:51.123456789Z");
  assert.equal(rfc3339Nanos(951782400000000001n), "2000-02-29T00:00:00.000000001Z");
  assert.equal(secondsSince(5_123_999_999n, 1_000_000_000n), "4.123");
  assert.equal(secondsSince(1_000_000_000n, 1_000_000_000n), "0.000");
  const d = new Date(1795378311123);
  const hh = String(d.getHours()).padStart(2, "0");
  assert.equal(clockTime(1795378311123456789n), `${hh}:11:51`);
});

test("rfc3339Boot (number arithmetic) equals rfc3339Nanos(boot + offset), carries and past 2^53", () => {
  const offsets = [1795378311123456789n, 1795378311999999999n, 1795378311000000000n];
  const boots = [0n, 1n, 999_999_999n, 1_000_000_001n, 123_456_789_012_345n];
  boots.push(9007199254740991n, 9007199254740992n, 12_000_000_000_000_000n);
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    boots.push(BigInt(seed) * 4_000_000n + BigInt(seed % 1000));
  }
  for (const off of offsets) {
    for (const b of boots) assert.equal(rfc3339Boot(b, off), rfc3339Nanos(b + off), `${b} ${off}`);
  }
});
