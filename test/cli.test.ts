import { test } from "node:test";
import assert from "node:assert/strict";
import { intOption } from "../src/cli/command.ts";
import { UsageError } from "../src/errors.ts";

test("intOption parses numbers and rejects junk with a UsageError naming the option", () => {
  assert.equal(intOption("exec", "count", "12"), 12);
  assert.equal(intOption("exec", "count", undefined), undefined);
  assert.throws(
    () => intOption("exec", "count", "12x"),
    (e: unknown) =>
      e instanceof UsageError && /--count expects a number, got '12x'/.test(e.message),
  );
  assert.throws(() => intOption("exec", "count", "5", { min: 10 }), UsageError);
});
