// The loader on the real kernel: loads test/fixtures/loader/getpid.bpf.o (BTF maps, CO-RE reads in a subprogram,
// .rodata config, .bss counter, .data value, subprogram calls, func/line info), attaches it,
// triggers real getpid() calls, reads the events from the ring buffer and checks every field;
// then closes and checks no program, map or link of ours is left in the kernel.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { kernelTest } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import process from "node:process";
import { loadCollection } from "../src/loader/collection.ts";
import { RingBufReader } from "../src/events/ringbuf.ts";
import { structDecoder } from "../src/events/decoder.ts";
import { currentTid, idsOf, type OurIds, stillLoaded } from "./loader-ids.ts";
import { SysError } from "../src/errors.ts";
import { MapType } from "../src/kernel/constants.ts";

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./fixtures/loader/${name}`, import.meta.url)));

test(
  "loader: getpid tracepoint events arrive in the ring buffer with exact fields",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("getpid.bpf.o"), "getpid.bpf.o");
    const me = p.pid();
    const tid = currentTid();
    const coll = loadCollection(p, spec, {
      programs: ["on_getpid"],
      constants: { magic: -123456, target_tid: tid },
    });
    let ids: OurIds | undefined;
    try {
      assert.deepEqual([...coll.programs.keys()], ["on_getpid"]);
      assert.equal(coll.warnings.length, 0, coll.warnings.join("\n"));
      // The program really carries BTF (func_info for the entry and both subprograms).
      assert.ok(coll.program("on_getpid").program.info().btfId > 0);
      assert.equal(coll.map("events").type, MapType.RINGBUF);
      // Attached through the collection: its close() must take the link down too.
      const link = coll.attach("on_getpid");
      ids = idsOf(coll, [link]);
      assert.equal(ids.links.length, 1);
      assert.equal(ids.maps.length, 6); // events, drops, calls, .rodata, .bss, .data
      const reader = new RingBufReader(p, coll.map("events"));
      const decoder = structDecoder(spec.btf, "event");
      try {
        const N = 5;
        for (let i = 0; i < N; i++) p.pid();
        const events: Record<string, unknown>[] = [];
        await reader.poll((v, off, len) => events.push(decoder.decode(v, off, len)), 1000);
        assert.equal(events.length, N);
        events.forEach((e, i) => {
          assert.equal(e.pid, me);
          assert.equal(e.tid, tid);
          assert.equal(e.seq, i + 1);
          assert.equal(e.magic, -123456);
          assert.equal(e.ppid, process.ppid); // CO-RE: task->real_parent->tgid
          assert.equal(e.cookie, 0x1122334455667788n);
          assert.equal(typeof e.comm, "string");
          assert.deepEqual(e.in, { neg: -2, flags: [1, 2, 3] });
          assert.deepEqual(e.arr, [-1, 7]);
        });
        // The hash map counted our calls; the .bss counter shows the sequence.
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, me, true);
        const calls = coll.map("calls").lookup(key);
        assert.ok(calls);
        assert.equal(new DataView(calls.buffer).getBigUint64(0, true), BigInt(N));
        const bss = coll.map(".bss").lookup(new Uint8Array(4));
        assert.ok(bss);
        assert.equal(new DataView(bss.buffer).getBigUint64(0, true), BigInt(N));
        // .rodata is frozen: user space can no longer change it.
        assert.throws(
          () => coll.map(".rodata").update(new Uint8Array(4), new Uint8Array(8)),
          (e: unknown) => e instanceof SysError && e.errnoName === "EPERM",
        );
      } finally {
        reader.close();
      }
    } finally {
      coll.close();
    }
    assert.ok(ids);
    assert.deepEqual(await stillLoaded(p, ids), { progs: [], maps: [], links: [] });
  },
);
