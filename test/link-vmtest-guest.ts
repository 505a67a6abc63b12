// Runs inside a qemu guest (scripts/vmtest.sh --links: the guest's links section) on a kernel
// that has kprobes and fentry
// (Debian 6.1), as a bundle executed by the compiled tracer (BUN_BE_BUN=1): loads
// test/fixtures/loader/kinds.bpf.o (embedded by the runner as KINDS_B64), attaches
// fentry, fexit, kprobe and kretprobe programs (kprobes both through the PMU and through tracefs
// kprobe_events), triggers vfs_read, checks the .bss hit counters moved, closes, and checks
// nothing of ours stays loaded. Then the getpid tracepoint object (GETPID_B64): CO-RE
// against this kernel's task_struct (parent pid), ring buffer events with exact fields.
// Prints one line per case; exits 1 on any failure.
import { readFileSync } from "node:fs";
import process from "node:process";
import { getPlatform } from "../src/platform/index.ts";
import { loadObjectSpec } from "../src/object/load.ts";
import { loadCollection } from "../src/loader/collection.ts";
import { attachKprobe } from "../src/link/kprobe.ts";
import type { Link } from "../src/link/link.ts";
import { RingBufReader } from "../src/events/ringbuf.ts";
import { structDecoder } from "../src/events/decoder.ts";
import { currentTid, idsOf, stillLoaded } from "./loader-ids.ts";

declare const KINDS_B64: string;
declare const GETPID_B64: string;

const bytes = Uint8Array.from(atob(KINDS_B64), (c) => c.charCodeAt(0));
const spec = loadObjectSpec(bytes, "kinds.bpf.o");
const p = await getPlatform();
let failed = 0;

const cases: [string, string, "fentry" | "pmu" | "tracefs"][] = [
  ["fentry_vfs_read", "fentry_hits", "fentry"],
  ["fexit_vfs_read", "fexit_hits", "fentry"],
  ["kprobe_vfs_read", "kprobe_hits", "pmu"],
  ["kprobe_vfs_read", "kprobe_hits", "tracefs"],
  ["kretprobe_vfs_read", "kretprobe_hits", "pmu"],
  ["kretprobe_vfs_read", "kretprobe_hits", "tracefs"],
];

for (const [program, counter, via] of cases) {
  const label = `${program} via ${via}`;
  try {
    const coll = loadCollection(p, spec, { programs: [program] });
    let hits = 0n;
    let link: Link;
    try {
      const prog = coll.program(program);
      link = via === "fentry" ? coll.attach(program) : attachKprobe(
        p,
        prog.program.fd,
        program,
        "vfs_read",
        program.startsWith("kret"),
        { via },
      );
      const ids = idsOf(coll, [link]);
      for (let i = 0; i < 20; i++) readFileSync("/proc/version");
      const bss = coll.map(".bss").lookup(new Uint8Array(4))!;
      const off = spec.elf.symbols.find((s) => s.name === counter)!.value;
      hits = new DataView(bss.buffer).getBigUint64(off, true);
      if (via !== "fentry") link.close();
      coll.close();
      const live = await stillLoaded(p, ids);
      const leftover = live.progs.length + live.maps.length + live.links.length;
      const events = via === "tracefs"
        ? readFileSync("/sys/kernel/tracing/kprobe_events", "utf8").trim()
        : "";
      const ok = hits >= 20n && leftover === 0 && events === "";
      if (!ok) failed++;
      console.log(
        `${ok ? "ok  " : "FAIL"} ${label}: ${hits} hits, link ${link.method} id ${link.id}, ` +
          `${leftover} objects left${events ? `, kprobe_events left: ${events}` : ""}`,
      );
    } catch (e) {
      coll.close();
      throw e;
    }
  } catch (e) {
    failed++;
    console.log(`FAIL ${label}: ${(e as Error).message}`);
  }
}
{
  const gspec = loadObjectSpec(
    Uint8Array.from(atob(GETPID_B64), (c) => c.charCodeAt(0)),
    "getpid.bpf.o",
  );
  try {
    const coll = loadCollection(p, gspec, {
      programs: ["on_getpid"],
      constants: { magic: 77, target_tid: currentTid() },
    });
    const got: Record<string, unknown>[] = [];
    try {
      coll.attach("on_getpid");
      const reader = new RingBufReader(p, coll.map("events"));
      const decoder = structDecoder(gspec.btf, "event");
      for (let i = 0; i < 3; i++) p.pid();
      await reader.poll((v, off, len) => got.push(decoder.decode(v, off, len)), 1000);
      reader.close();
    } finally {
      coll.close();
    }
    const ok = got.length === 3 &&
      got.every((e, i) =>
        e.pid === p.pid() && e.ppid === process.ppid && e.seq === i + 1 && e.magic === 77
      );
    const core = coll.coreResults.map((r) => `${r.kind} ${r.old}->${r.new}`).join(", ");
    if (!ok) failed++;
    console.log(
      `${ok ? "ok  " : "FAIL"} getpid tracepoint + CO-RE (${core}): ${got.length} events, ` +
        `ppid ${got[0]?.ppid} (want ${process.ppid})`,
    );
  } catch (e) {
    failed++;
    console.log(`FAIL getpid tracepoint + CO-RE: ${(e as Error).message}`);
  }
}
process.exit(failed ? 1 : 0);
