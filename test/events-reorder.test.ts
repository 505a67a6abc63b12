// The perf buffer's reorder step (src/events/reorder.ts): records drained CPU by CPU come
// out in time order, held until they are older than the window.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ReorderBuffer } from "../src/events/reorder.ts";

type Rec = { t: bigint; name: string };
const rec = (t: number, name: string): Rec => ({ t: BigInt(t), name });

test("reorder: CPU 1's older records come before CPU 0's; ties keep arrival order", () => {
  const b = new ReorderBuffer<Rec>((r) => r.t);
  // CPU 0 drained first, then CPU 1.
  for (const r of [rec(10, "a0"), rec(30, "c0"), rec(50, "e0")]) b.push(r);
  for (const r of [rec(20, "b1"), rec(30, "c1"), rec(40, "d1")]) b.push(r);
  const out: string[] = [];
  assert.equal(b.flush((r) => out.push(r.name)), 6);
  assert.deepEqual(out, ["a0", "b1", "c0", "c1", "d1", "e0"]);
  assert.equal(b.size, 0);
});

test("reorder: a window holds recent records back until a later flush", () => {
  const b = new ReorderBuffer<Rec>((r) => r.t);
  b.push(rec(100, "late-cpu0"));
  b.push(rec(5, "early-cpu1"));
  const out: string[] = [];
  // Only records before 50 may go now.
  assert.equal(b.flush((r) => out.push(r.name), 50n), 1);
  assert.deepEqual(out, ["early-cpu1"]);
  assert.equal(b.size, 1);
  // A record from another CPU, older than the held one, arrives in the next drain.
  b.push(rec(60, "next-drain"));
  assert.equal(b.flush((r) => out.push(r.name), 200n), 2);
  assert.deepEqual(out, ["early-cpu1", "next-drain", "late-cpu0"]);
  assert.equal(b.flush((r) => out.push(r.name)), 0);
});
