// The loader and links on the real kernel, beyond the tracepoint path (loader.test.ts):
// raw_tp and tp_btf attachment, the perf buffer reader, a program the verifier rejects,
// and the attach kinds this host refuses (fentry: EPERM; kprobes: absent), whose errors
// must say so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { kernelTest } from "./env.ts";
import { currentTid, idsOf, kernelObjectFds, stillLoaded } from "./loader-ids.ts";
import { getPlatform } from "../src/platform/index.ts";
import type { Platform } from "../src/platform/types.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { type Collection, loadCollection } from "../src/loader/collection.ts";
import { attachProgram } from "../src/link/attach.ts";
import { attachKprobe } from "../src/link/kprobe.ts";
import { attachTracepoint } from "../src/link/tracepoint.ts";
import { RingBufReader } from "../src/events/ringbuf.ts";
import { PerfBufReader } from "../src/events/perfbuf.ts";
import { structDecoder } from "../src/events/decoder.ts";
import { SysError, TracerError } from "../src/errors.ts";
import { kprobePmu } from "../src/kernel/tracefs.ts";
import { btfLoad, progLoad } from "../src/kernel/bpf.ts";
import { AttachType, ProgType } from "../src/kernel/constants.ts";
import { asm, encode } from "../src/asm/insn.ts";
import { kernelBtf } from "../src/btf/source.ts";
import { Kind } from "../src/btf/types.ts";
import { fixDatasecs } from "../src/loader/btf-fixup.ts";
import { NO_NEW_KINDS, sanitizeBtf } from "../src/loader/btf-sanitize.ts";

/** This process's open file descriptors. */
const openFds = kernelObjectFds;

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./fixtures/loader/${name}`, import.meta.url)));

/** Loads one program of getpid.bpf.o, attaches it, makes 3 getpid calls, returns the events. */
async function eventsFrom(p: Platform, program: string) {
  const spec = loadObjectSpec(fixture("getpid.bpf.o"), "getpid.bpf.o");
  const coll = loadCollection(p, spec, {
    programs: [program],
    constants: { target_tid: currentTid() },
  });
  try {
    const link = attachProgram(p, coll.program(program));
    const ids = idsOf(coll, [link]);
    const reader = new RingBufReader(p, coll.map("events"));
    const decoder = structDecoder(spec.btf, "event");
    const events: Record<string, unknown>[] = [];
    try {
      for (let i = 0; i < 3; i++) p.pid();
      await reader.poll((v, off, len) => events.push(decoder.decode(v, off, len)), 1000);
    } finally {
      reader.close();
      link.close();
    }
    return { events, link, ids, coll };
  } finally {
    coll.close();
  }
}

test(
  "loader: raw_tp program on sys_enter delivers exact events and leaves nothing behind",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const { events, link, ids } = await eventsFrom(p, "on_sys_enter_raw");
    assert.equal(link.kind, "raw_tp");
    assert.equal(link.target, "sys_enter");
    assert.equal(events.length, 3);
    events.forEach((e, i) => {
      assert.equal(e.pid, p.pid());
      assert.equal(e.magic, 1001);
      assert.equal(e.seq, i + 1);
      assert.equal(e.ppid, process.ppid);
    });
    assert.deepEqual(await stillLoaded(p, ids), { progs: [], maps: [], links: [] });
  },
);

test(
  "loader: tp_btf program (attach BTF id of btf_trace_sys_enter) delivers exact events",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const { events, link, ids } = await eventsFrom(p, "on_sys_enter_btf");
    assert.equal(link.kind, "tp_btf");
    assert.equal(events.length, 3);
    events.forEach((e, i) => {
      assert.equal(e.pid, p.pid());
      assert.equal(e.magic, 1002);
      assert.equal(e.seq, i + 1);
    });
    assert.deepEqual(await stillLoaded(p, ids), { progs: [], maps: [], links: [] });
  },
);

test(
  "loader: perf buffer reader receives bpf_perf_event_output samples",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("kinds.bpf.o"), "kinds.bpf.o");
    const coll = loadCollection(p, spec, {
      programs: ["to_perf"],
      constants: { target_tid: currentTid() },
    });
    try {
      assert.equal(coll.map("samples").maxEntries, p.possibleCpus());
      const link = attachProgram(p, coll.program("to_perf"));
      const reader = new PerfBufReader(p, coll.map("samples"), 8);
      const decoder = structDecoder(spec.btf, "perf_sample");
      try {
        for (let i = 0; i < 4; i++) p.pid();
        const got: Record<string, unknown>[] = [];
        // Samples may sit on either CPU: poll until all four are in (or a second passes).
        const deadline = Date.now() + 1000;
        while (got.length < 4 && Date.now() < deadline) {
          await reader.poll((v, off, len) => got.push(decoder.decode(v, off, len)), 100);
        }
        got.sort((a, b) => Number(a.seq) - Number(b.seq));
        assert.deepEqual(got.map((s) => s.seq), [1, 2, 3, 4]);
        for (const s of got) {
          assert.equal(s.pid, p.pid());
          assert.ok((s.cpu as number) < p.possibleCpus());
        }
        assert.equal(reader.lost, 0);
      } finally {
        reader.close();
        link.close();
      }
    } finally {
      coll.close();
    }
  },
);

test(
  "loader: a program the verifier rejects fails with its name, the errno and the verifier log",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("bad.bpf.o"), "bad.bpf.o");
    const fds = openFds();
    let coll: Collection | undefined;
    assert.throws(
      () => {
        coll = loadCollection(p, spec);
      },
      (e: unknown) => {
        assert.ok(e instanceof SysError);
        assert.match(e.message, /^BPF_PROG_LOAD of program derefs_scalar: EACCES: verifier log:/);
        assert.match(e.message, /invalid mem access 'scalar'/);
        return true;
      },
    );
    assert.equal(coll, undefined);
    assert.deepEqual(openFds(), fds); // the object's BTF fd was closed again
  },
);

/** The .bss counter `name` of a loaded kinds.bpf.o. */
function hits(spec: ReturnType<typeof loadObjectSpec>, coll: Collection, name: string): bigint {
  const bss = coll.map(".bss").lookup(new Uint8Array(4))!;
  const off = spec.elf.symbols.find((s) => s.name === name)!.value;
  return new DataView(bss.buffer).getBigUint64(off, true);
}

/** Whether this kernel loads an fentry program on vfs_read: asked with a bare one. */
function kernelLoadsFentry(p: Platform): { ok: boolean; errno?: string } {
  const fn = kernelBtf().byName("vfs_read", Kind.FUNC)[0];
  try {
    progLoad(p, {
      type: ProgType.TRACING,
      insns: encode([asm.mov64Imm(0, 0), asm.exit()]),
      license: "GPL",
      name: "t_fentry",
      expectedAttachType: AttachType.TRACE_FENTRY,
      attachBtfId: fn,
    }).close();
    return { ok: true };
  } catch (e) {
    if (e instanceof SysError) return { ok: false, errno: e.errnoName };
    throw e;
  }
}

test(
  "loader: fentry loads, attaches and fires where the kernel allows it, else a refusal naming the program",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("kinds.bpf.o"), "kinds.bpf.o");
    const kernel = kernelLoadsFentry(p);
    if (!kernel.ok) {
      assert.throws(
        () => loadCollection(p, spec, { programs: ["fentry_vfs_read"] }),
        (e: unknown) =>
          e instanceof SysError && e.errnoName === kernel.errno &&
          /program fentry_vfs_read/.test(e.message) &&
          (e.errnoName !== "EPERM" || /refuses fentry programs/.test(e.message)),
      );
      return;
    }
    const coll = loadCollection(p, spec, { programs: ["fentry_vfs_read"] });
    try {
      const link = attachProgram(p, coll.program("fentry_vfs_read"));
      try {
        assert.equal(link.kind, "fentry");
        for (let i = 0; i < 5; i++) readFileSync("/proc/version");
        assert.ok(hits(spec, coll, "fentry_hits") >= 5n, "the fentry program never ran");
      } finally {
        link.close();
      }
    } finally {
      coll.close();
    }
  },
);

test(
  "link: kprobe attach on a kernel without kprobes explains that kprobes are unavailable",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("kinds.bpf.o"), "kinds.bpf.o");
    const coll = loadCollection(p, spec, { programs: ["kprobe_vfs_read"] });
    try {
      const prog = coll.program("kprobe_vfs_read");
      if (kprobePmu() === null) {
        assert.throws(
          () => attachProgram(p, prog),
          (e: unknown) =>
            e instanceof TracerError &&
            /kprobe vfs_read: kprobes are not available/.test(e.message),
        );
      } else {
        const link = attachKprobe(p, prog.program.fd, prog.name, "vfs_read");
        try {
          assert.equal(link.kind, "kprobe");
          for (let i = 0; i < 5; i++) readFileSync("/proc/version");
          assert.ok(hits(spec, coll, "kprobe_hits") >= 5n, "the kprobe program never ran");
        } finally {
          link.close();
        }
      }
    } finally {
      coll.close();
    }
  },
);

test(
  "loader: unknown and ill-typed .rodata constants are refused before anything is created",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("getpid.bpf.o"), "getpid.bpf.o");
    assert.throws(
      () => loadCollection(p, spec, { constants: { nope: 1 } }),
      /constant nope: no such variable in \.rodata \(it has: magic, target_tid\)/,
    );
    assert.throws(
      () => loadCollection(p, spec, { constants: { target_tid: -1 } }),
      /constant target_tid: -1 does not fit an unsigned 4-byte integer/,
    );
    assert.throws(
      () => loadCollection(p, spec, { constants: { magic: 2 ** 31 } }),
      /constant magic: 2147483648 does not fit a signed 4-byte integer/,
    );
    assert.throws(
      () => loadCollection(p, spec, { constants: { magic: true } }),
      /constant magic: expects an integer of 4 bytes/,
    );
  },
);

test(
  "link: tracepoint attached the pre-5.15 way (PERF_EVENT_IOC_SET_BPF) delivers events and detaches on close",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("getpid.bpf.o"), "getpid.bpf.o");
    const coll = loadCollection(p, spec, {
      programs: ["on_getpid"],
      constants: { target_tid: currentTid() },
    });
    try {
      const prog = coll.program("on_getpid");
      const link = attachTracepoint(p, prog.program.fd, prog.name, "syscalls", "sys_enter_getpid", {
        method: "ioctl",
      });
      assert.equal(link.method, "ioctl");
      const reader = new RingBufReader(p, coll.map("events"));
      const decoder = structDecoder(spec.btf, "event");
      const seqs: number[] = [];
      try {
        p.pid();
        p.pid();
        await reader.poll(
          (v, off, len) => void seqs.push(decoder.decode(v, off, len).seq as number),
          1000,
        );
        assert.deepEqual(seqs, [1, 2]);
        link.close();
        p.pid(); // detached: no event
        await reader.poll(
          (v, off, len) => void seqs.push(decoder.decode(v, off, len).seq as number),
          50,
        );
        assert.deepEqual(seqs, [1, 2]);
      } finally {
        reader.close();
        link.close();
      }
    } finally {
      coll.close();
    }
  },
);

test(
  "loader: a map the kernel refuses is named in the error, and nothing created stays",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("getpid.bpf.o"), "getpid.bpf.o");
    const fds = openFds();
    assert.throws(
      // A ring buffer must be a power-of-two number of pages.
      () => loadCollection(p, spec, { mapSizes: { events: 5000 } }),
      (e: unknown) =>
        e instanceof SysError && /^BPF_MAP_CREATE of map events: EINVAL/.test(e.message),
    );
    // The object's BTF and the maps created before the failing one were closed again.
    assert.deepEqual(openFds(), fds);
  },
);

test(
  "ringbuf reader skips records the program discards and reads records submitted without wakeup",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("kinds.bpf.o"), "kinds.bpf.o");
    const BPF_RB_NO_WAKEUP = 1;
    const coll = loadCollection(p, spec, {
      programs: ["to_ringbuf_discarding"],
      constants: { target_tid: currentTid(), submit_flags: BPF_RB_NO_WAKEUP },
    });
    try {
      coll.attach("to_ringbuf_discarding");
      const reader = new RingBufReader(p, coll.map("rb"));
      const decoder = structDecoder(spec.btf, "rb_sample");
      try {
        for (let i = 0; i < 6; i++) p.pid();
        const seqs: number[] = [];
        const t0 = Date.now();
        // No wakeup comes (BPF_RB_NO_WAKEUP): poll sees pending data and drains without
        // waiting for epoll.
        const n = await reader.poll((v, off, len) => {
          seqs.push(decoder.decode(v, off, len).seq as number);
        }, 200);
        assert.equal(n, 3);
        assert.deepEqual(seqs, [1, 3, 5]);
        assert.equal(reader.consumer.discarded, 3);
        assert.equal(reader.consumer.pending(), 0);
        assert.ok(Date.now() - t0 < 1000);
      } finally {
        reader.close();
      }
    } finally {
      coll.close();
    }
  },
);

test(
  "the kernel accepts the object's BTF after sanitizing (as an older kernel would get it)",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("kinds.bpf.o"), "kinds.bpf.o");
    const { bytes } = sanitizeBtf(spec.btf, fixDatasecs(spec.btf, spec.elf), NO_NEW_KINDS);
    const btf = btfLoad(p, bytes, "sanitized BTF of kinds.bpf.o");
    try {
      assert.ok(btf.info().id > 0);
    } finally {
      btf.close();
    }
    // And the unsanitized one too, on this kernel: the loader keeps it when it can.
    const coll = loadCollection(p, spec, { programs: ["to_perf"] });
    assert.deepEqual(coll.warnings, []);
    assert.ok(coll.btf);
    coll.close();
  },
);

test(
  "ringbuf reader follows the kernel's ring around its end many times (double mapping)",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const spec = loadObjectSpec(fixture("kinds.bpf.o"), "kinds.bpf.o");
    const coll = loadCollection(p, spec, {
      programs: ["to_ringbuf_discarding"],
      constants: { target_tid: currentTid() },
    });
    try {
      coll.attach("to_ringbuf_discarding");
      const ring = coll.map("rb");
      assert.equal(ring.maxEntries, 4096); // one page: 24-byte records wrap every ~170
      const reader = new RingBufReader(p, ring);
      const decoder = structDecoder(spec.btf, "rb_sample");
      try {
        const seqs: number[] = [];
        const onSample = (v: DataView, off: number, len: number) => {
          seqs.push(decoder.decode(v, off, len).seq as number);
        };
        for (let i = 0; i < 2000; i++) {
          p.pid();
          if (i % 50 === 49) reader.drain(onSample);
        }
        reader.drain(onSample);
        assert.equal(seqs.length, 1000);
        assert.ok(seqs.every((s, i) => s === 2 * i + 1), "odd sequence numbers, in order");
        assert.equal(reader.consumer.discarded, 1000);
      } finally {
        reader.close();
      }
    } finally {
      coll.close();
    }
  },
);
