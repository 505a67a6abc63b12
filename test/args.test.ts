// The tracer's option parser (src/cli/args.ts) against node:util's parseArgs in strict mode, its
// reference: random command lines over a pool of tokens (long, short, grouped, `=`, values that
// look like options, `--`, repeats, unknowns) give the same values and positionals, or both an
// error. Under Deno the error's first sentence is compared too (Bun's node:util words some of them
// differently from Node's, e.g. 'd' for '-d'; the tracer's own parser says the same on both).

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseArgs as reference } from "node:util";
import { ArgsError, parseArgs } from "../src/cli/args.ts";

const OPTIONS = {
  json: { type: "boolean", short: "j" },
  verbose: { type: "boolean", short: "v" },
  duration: { type: "string", short: "d" },
  pid: { type: "string", short: "p", multiple: true },
  out: { type: "string", default: "x" },
  flag: { type: "boolean", multiple: true, short: "f" },
  tags: { type: "string", multiple: true, default: ["a"] as string[] },
} as const;

const POOL = [
  "-j",
  "--json",
  "-d",
  "5",
  "-d5",
  "--duration=1",
  "--duration",
  "-jv",
  "-vd",
  "-vdx",
  "3",
  "-x",
  "--nope",
  "--nope=1",
  "--",
  "foo",
  "-",
  "--json=1",
  "-1",
  "--pid",
  "-p7",
  "--pid=8",
  "",
  "-f",
  "-ff",
  "--out=",
  "-jfp9",
  "--=x",
  "---x",
  "--tags",
  "t",
  "--tags=-u",
  "-d-5",
  "--constructor",
  "--__proto__",
  "-jx",
]; // deno-fmt-ignore

/** A small deterministic generator (xorshift32), so a failure names a reproducible line. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const firstSentence = (m: string) => m.split(/\.(?: |\n|$)|\n/)[0];

function outcome(run: () => { values: object; positionals: string[] }, words: boolean): string {
  try {
    const r = run();
    return JSON.stringify([Object.entries(r.values).sort(), r.positionals]);
  } catch (e) {
    return words ? `error: ${firstSentence((e as Error).message)}` : "error";
  }
}

test("the option parser agrees with node:util parseArgs (strict) on 20,000 random command lines", () => {
  const words = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  const next = random(0x7ac3);
  let compared = 0, errors = 0;
  for (let n = 0; n < 10_000; n++) {
    const args = Array.from(
      { length: Math.floor(next() * 6) },
      () => POOL[Math.floor(next() * POOL.length)],
    );
    for (const allowPositionals of [true, false]) {
      const want = outcome(
        () => reference({ args, options: OPTIONS, allowPositionals, strict: true }),
        words,
      );
      const got = outcome(() => parseArgs(args, OPTIONS, allowPositionals), words);
      assert.equal(got, want, `${JSON.stringify(args)} allowPositionals=${allowPositionals}`);
      compared++;
      if (want.startsWith("error")) errors++;
    }
  }
  // Both kinds of outcome were exercised, not only one.
  assert.equal(compared, 20_000);
  assert.ok(errors > 2_000 && errors < 18_000, `${errors} errors of ${compared}`);
});

test("the option parser: values, defaults, repeats and its errors", () => {
  const { values, positionals } = parseArgs(
    ["-jd", "0.5", "-p", "1", "--pid=2", "--", "-x", "y"],
    OPTIONS,
    true,
  );
  assert.deepEqual({ ...values }, {
    json: true,
    duration: "0.5",
    pid: ["1", "2"],
    out: "x",
    tags: ["a"],
  });
  assert.deepEqual(positionals, ["-x", "y"]);
  // A default array is a copy: changing one result does not change the next.
  parseArgs([], OPTIONS).values.tags.push("b");
  assert.deepEqual(parseArgs([], OPTIONS).values.tags, ["a"]);
  assert.throws(() => parseArgs(["--nope"], OPTIONS), { message: "Unknown option '--nope'" });
  assert.throws(() => parseArgs(["-d"], OPTIONS), (e) => {
    assert.ok(e instanceof ArgsError);
    assert.equal(e.message, "Option '-d, --duration <value>' argument missing");
    return true;
  });
  assert.throws(() => parseArgs(["--duration", "-5"], OPTIONS), {
    name: "Error",
    message: "Option '--duration' argument is ambiguous. " +
      "To give a value starting with a dash: '--duration=-XYZ'",
  });
  assert.throws(() => parseArgs(["y"], OPTIONS), {
    message: "Unexpected argument 'y'. This command does not take positional arguments",
  });
});
