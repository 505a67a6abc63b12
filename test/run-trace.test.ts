// `tracer run OBJECT` (attach and print) on objects from Debian's libbpf-tools binaries, each
// with `-- CMD` running a workload whose every exec, open or stat is known (the shell prints
// its own pid and each child's): exactly the workload's records, every field checked (execsnoop,
// opensnoop and statsnoop through perf buffers, mountsnoop through a ring buffer; all but
// execsnoop with their 0.26 event structs from test/fixtures/run/events-0.26.bpf.o, as their own
// BTF lacks them; statsnoop's trace_failed_only set with --set); tcpstates on a refused
// loopback connect; runqlat's histogram map at exit; vfsstat's
// programs refused where the kernel refuses them (libbpf's load outcome, the kprobe PMU's
// presence) and the others run; the project's own test object (test/fixtures/run/maps.bpf.c):
// ring records, a per-CPU counter pinned to two CPUs (needs 2), a struct-keyed hash, --set of
// a char array, --interval, -o; SIGINT, SIGTERM and -c 1 end a run cleanly (records, maps,
// summary, exit 0, nothing left in the kernel); a perf buffer's losses (test/fixtures/run/
// perf.bpf.c, the reader stopped) counted in-band where the kernel says; a uprobe and a
// uretprobe (--uprobe) on a test binary's function; perf_event samples (--sample-freq) of a
// spinning task. Cost: ~13 s (Deno), ~11 s (Bun).

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTest } from "./env.ts";
import { extractTool } from "./embedded-bpf.ts";
import { runLibbpfLoad } from "./harness/libbpf-log.ts";
import { backgroundTracer, compile, mntns, processIds, ROOT, runTracer } from "./tracer-cli.ts";
import { stillLoaded } from "./loader-ids.ts";
import { getPlatform } from "../src/platform/index.ts";
import process from "node:process";
import { spawnSync } from "node:child_process";

const EVENTS_026 = join(ROOT, "test/fixtures/run/events-0.26.bpf.o");

/** A run's stdout: its JSON records, and the workload's "sh=PID" / "child=PID" lines. */
function parse(stdout: string) {
  // deno-lint-ignore no-explicit-any
  const records: any[] = [];
  let sh = 0;
  const children: number[] = [];
  for (const l of stdout.split("\n")) {
    if (l.startsWith("{")) records.push(JSON.parse(l));
    else if (l.startsWith("sh=")) sh = Number(l.slice(3));
    else if (l.startsWith("child=")) children.push(Number(l.slice(6)));
  }
  return { records, sh, children };
}

function withDir(f: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "tracer-run-trace-"));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("run execsnoop -- CMD: the workload's execs, every field", kernelTest(), () => {
  withDir((dir) => {
    const obj = extractTool(dir, "execsnoop");
    const bin = join(dir, "rt-exec-probe");
    copyFileSync("/bin/true", bin);
    chmodSync(bin, 0o755);
    const script =
      `echo sh=$$; ${bin} one two & echo child=$!; wait; ${bin} three & echo child=$!; wait`;
    const r = runTracer("run", [obj, "--", "sh", "-c", script]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /^tracer: tracing execsnoop\.bpf\.o \(2 programs attached\), running sh$/m,
    );
    const { records, sh, children } = parse(r.stdout);
    assert.equal(children.length, 2);
    const ours = records.filter((x) =>
      x.type === "event" && (x.event.pid === sh || children.includes(x.event.pid))
    );
    // execsnoop's args: the file name, then argv[1...], NUL-separated (the first NUL ends the
    // string); args_count counts them, args_size their bytes.
    const exec = (pid: number, ppid: number, comm: string, args: string[]) => ({
      type: "event",
      map: "events",
      event: {
        pid,
        ppid,
        uid: 0,
        retval: 0,
        args_count: args.length,
        // Each argument read with bpf_probe_read_user_str into at most ARGSIZE (128) bytes.
        args_size: args.reduce((n, a) => n + Math.min(a.length + 1, 128), 0),
        comm,
        args: args[0],
      },
    });
    // sh's own path is the runtime's PATH lookup: /bin/sh or /usr/bin/sh.
    const shPath = ours.find((x) => x.event.pid === sh)?.event.args;
    assert.match(shPath, /^(\/usr)?\/bin\/sh$/);
    // execsnoop sends through a perf buffer per CPU and its event has no time stamp, so the
    // records of execs on different CPUs come in CPU order: compared by pid.
    const byPid = (list: typeof ours) => list.slice().sort((a, b) => a.event.pid - b.event.pid);
    assert.deepEqual(
      byPid(ours),
      byPid([
        exec(sh, r.pid!, "sh", [shPath, "-c", script]),
        exec(children[0], sh, "rt-exec-probe", [bin, "one", "two"]),
        exec(children[1], sh, "rt-exec-probe", [bin, "three"]),
      ]),
    );
    assert.ok(records.some((x) => x.type === "map" && x.name === "execs"), r.stdout);
  });
});

test("run opensnoop --event TYPE@FILE -- CMD: the workload's opens", kernelTest(), () => {
  withDir((dir) => {
    const obj = extractTool(dir, "opensnoop");
    writeFileSync(join(dir, "empty"), "");
    const r = runTracer("run", [
      obj,
      "--event",
      `opensnoop_event@${EVENTS_026}`,
      "--",
      "sh",
      "-c",
      `echo sh=$$; cat ${dir}/missing 2>/dev/null & echo child=$!; wait; ` +
      `cat ${dir}/empty & echo child=$!; wait`,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const { records, children } = parse(r.stdout);
    const ours = records.filter((x) => x.type === "event" && x.event.fname.startsWith(dir)).map(
      (x) => {
        const { pid, uid, ret, flags, comm, fname } = x.event;
        return { map: x.map, pid, uid, ret, flags, comm, fname };
      },
    );
    // A perf buffer per CPU, no time stamp in the event: two children's records in CPU order.
    ours.sort((a, b) => a.pid - b.pid);
    assert.deepEqual(ours, [
      {
        map: "events",
        pid: children[0],
        uid: 0,
        ret: -2,
        flags: 0,
        comm: "cat",
        fname: `${dir}/missing`,
      },
      {
        map: "events",
        pid: children[1],
        uid: 0,
        ret: 3,
        flags: 0,
        comm: "cat",
        fname: `${dir}/empty`,
      },
    ]);
    assert.match(r.stderr, /^tracer: \d+ events, 0 lost$/m);
  });
});

test(
  "run statsnoop --set trace_failed_only=true -- CMD: the failed stat only",
  kernelTest(),
  () => {
    withDir((dir) => {
      const obj = extractTool(dir, "statsnoop");
      const r = runTracer("run", [
        obj,
        "--event",
        `statsnoop_event@${EVENTS_026}`,
        "--set",
        "trace_failed_only=true",
        "--",
        "sh",
        "-c",
        `echo sh=$$; stat ${dir}/nothere 2>/dev/null & echo child=$!; wait; ` +
        `stat ${dir} >/dev/null & echo child=$!; wait`,
      ]);
      assert.equal(r.status, 0, r.stderr);
      const { records, children } = parse(r.stdout);
      const ours = records.filter((x) => x.type === "event" && x.event.pathname.startsWith(dir));
      assert.equal(ours.length, 1, r.stdout);
      const { pid, ret, comm, pathname } = ours[0].event;
      assert.deepEqual({ pid, ret, comm, pathname }, {
        pid: children[0],
        ret: -2,
        comm: "stat",
        pathname: `${dir}/nothere`,
      });
      // Only failures at all: the filter was set in the kernel.
      assert.ok(records.filter((x) => x.type === "event").every((x) => x.event.ret < 0));
    });
  },
);

test("run mountsnoop (ring buffer) -- CMD: the workload's mount and umounts", kernelTest(), () => {
  withDir((dir) => {
    const obj = extractTool(dir, "mountsnoop");
    const mnt = join(dir, "mnt");
    mkdirSync(mnt);
    try {
      const r = runTracer("run", [
        obj,
        "--event",
        `mountsnoop_event@${EVENTS_026}`,
        "--",
        "sh",
        "-c",
        `echo sh=$$; mount -t tmpfs -o size=1m rt-tmpfs ${mnt} & echo child=$!; wait; ` +
        `umount ${mnt} & echo child=$!; wait; umount ${dir}/nothere 2>/dev/null & echo child=$!; wait`,
      ]);
      assert.equal(r.status, 0, r.stderr);
      const { records, children } = parse(r.stdout);
      const ours = records.filter((x) => x.type === "event" && x.event.dest.startsWith(dir));
      for (const x of ours) {
        assert.ok(Number.isInteger(x.event.delta) && x.event.delta > 0, JSON.stringify(x));
        delete x.event.delta;
      }
      const ev = (pid: number, comm: string, rest: Record<string, unknown>) => ({
        type: "event",
        map: "events",
        event: { flags: 0, pid, tid: pid, mnt_ns: mntns(), ret: 0, comm, ...rest },
      });
      assert.deepEqual(ours, [
        ev(children[0], "mount", {
          fs: "tmpfs",
          src: "rt-tmpfs",
          dest: mnt,
          data: "size=1m",
          op: "MOUNT",
        }),
        ev(children[1], "umount", { fs: "", src: "", dest: mnt, data: "", op: "UMOUNT" }),
        ev(children[2], "umount", {
          ret: -2,
          fs: "",
          src: "",
          dest: `${dir}/nothere`,
          data: "",
          op: "UMOUNT",
        }),
      ]);
      assert.match(r.stderr, /^tracer: \d+ events, 0 lost \(ring buffer events: records its/m);
    } finally {
      spawnSync("umount", ["-l", mnt]);
    }
  });
});

test("run tcpstates -- CMD: a refused loopback connect's two state changes", kernelTest(), () => {
  withDir((dir) => {
    const obj = extractTool(dir, "tcpstates");
    // Port 1 of 127.0.0.1: nothing listens (bash says so), the connect is refused.
    const r = runTracer("run", [
      obj,
      "--event",
      `tcpstates_event@${EVENTS_026}`,
      "--",
      "bash",
      "-c",
      "echo sh=$$; (exec 3<>/dev/tcp/127.0.0.1/1) 2>/dev/null & echo child=$!; wait $!; echo status=$?",
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^status=1$/m);
    const { children } = parse(r.stdout);
    // u128 addresses are past a JS number: read from the text. tcpstates 0.26 reads 16 bytes
    // from skc_rcv_saddr / skc_daddr for IPv4: the address is the low 4 (127.0.0.1).
    const lines = r.stdout.split("\n").filter((l) => l.includes(`"dport":1,`));
    const big = (l: string, f: string) => BigInt(new RegExp(`"${f}":(\\d+)`).exec(l)![1]);
    for (const l of lines) {
      assert.equal(big(l, "saddr") & 0xffffffffn, 0x0100007fn, l);
      assert.equal(big(l, "daddr") & 0xffffffffn, 0x0100007fn, l);
    }
    const recs = lines.map((l) => JSON.parse(l).event);
    const ours = recs.filter((e) => e.pid === children[0] || e.oldstate === 2);
    assert.equal(ours.length, 2, r.stdout);
    const [syn, close] = ours;
    assert.equal(
      big(lines[recs.indexOf(syn)], "skaddr"),
      big(lines[recs.indexOf(close)], "skaddr"),
    );
    const pick = (e: Record<string, unknown>) => {
      const { pid, oldstate, newstate, family, sport, dport, task, delta_us } = e;
      return { pid, oldstate, newstate, family, sport, dport, task, delta_us };
    };
    // CLOSE -> SYN_SENT by the connecting task, before a port is bound.
    assert.deepEqual(pick(syn), {
      pid: children[0],
      oldstate: 7,
      newstate: 2,
      family: 2,
      sport: 0,
      dport: 1,
      task: "bash",
      delta_us: 0,
    });
    // SYN_SENT -> CLOSE when the RST arrives (in whichever task's softirq runs it).
    assert.equal(close.oldstate, 2);
    assert.equal(close.newstate, 7);
    assert.equal(close.family, 2);
    assert.equal(close.dport, 1);
    assert.ok(Number.isInteger(close.sport) && close.sport > 0, JSON.stringify(close));
    assert.ok(Number.isInteger(close.delta_us) && close.delta_us >= 0);
  });
});

test("run runqlat: a non-empty histogram map at exit", kernelTest(), () => {
  withDir((dir) => {
    const obj = extractTool(dir, "runqlat");
    const r = runTracer("run", [
      obj,
      "--program",
      "sched_wakeup",
      "--program",
      "sched_wakeup_new",
      "--program",
      "sched_switch",
      "--",
      "sleep",
      "0.2",
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /\(3 programs attached\), running sleep/);
    const { records } = parse(r.stdout);
    const hists = records.find((x) => x.type === "map" && x.name === "hists");
    assert.ok(hists, r.stdout);
    // Not per process or thread: one histogram, under key -1 (u32).
    assert.equal(hists.entries.length, 1, r.stdout);
    const [{ key, value }] = hists.entries;
    assert.equal(key, 4294967295);
    assert.equal(value.slots.length, 26);
    assert.ok(value.slots.every((n: unknown) => Number.isInteger(n) && (n as number) >= 0));
    assert.ok(value.slots.reduce((a: number, b: number) => a + b, 0) > 0, r.stdout);
    assert.equal(typeof value.comm, "string");
    assert.deepEqual(records.filter((x) => x.type === "map").map((x) => x.name), [
      "start",
      "hists",
    ]);
    // All six programs: each hook has two (tp_btf and raw_tp), said on stderr.
    const all = runTracer("run", [obj, "-d", "0.1"]);
    assert.equal(all.status, 0, all.stderr);
    for (const hook of ["sched_wakeup", "sched_wakeup_new", "sched_switch"]) {
      assert.match(
        all.stderr,
        new RegExp(
          `^tracer: programs ${hook}, handle_${hook} all attach to ${hook} and all run; `,
          "m",
        ),
      );
    }
  });
});

test(
  "run own object: ring records, per-CPU values and sum, a struct-keyed hash, --interval, -o",
  kernelTest(),
  () => {
    withDir((dir) => {
      const probe = join(dir, "rt-maps-probe");
      copyFileSync("/bin/true", probe);
      chmodSync(probe, 0o755);
      const file = join(dir, "out.jsonl");
      // Each probe exits on the CPU it is pinned to: one count on CPU 0, one on CPU 1.
      const r = runTracer("run", [
        join(ROOT, "test/fixtures/run/maps.bpf.o"),
        "--set",
        "targ_comm=rt-maps-probe",
        "--interval",
        "0.2",
        "-o",
        file,
        "--",
        "sh",
        "-c",
        `echo sh=$$; taskset -c 0 ${probe} & echo child=$!; wait; ` +
        `taskset -c 1 ${probe} & echo child=$!; wait; sleep 0.5`,
      ]);
      assert.equal(r.status, 0, r.stderr);
      const { records: none, children } = parse(r.stdout);
      assert.deepEqual(none, []); // -o: every record in the file
      const records = parse(readFileSync(file, "utf8")).records;
      const events = records.filter((x) => x.type === "event");
      assert.deepEqual(
        events,
        children.map((pid) => ({
          type: "event",
          map: "rb",
          event: { pid, minus_pid: -pid, kind: "KIND_EXIT", comm: "rt-maps-probe" },
        })),
      );
      const counts = records.filter((x) => x.type === "map" && x.name === "counts");
      assert.ok(counts.length >= 2, `one at an interval, one at exit: ${JSON.stringify(counts)}`);
      const last = counts[counts.length - 1];
      assert.equal(last.entries.length, 1);
      const { key, values, sum } = last.entries[0];
      assert.equal(key, 0);
      assert.deepEqual(values.slice(0, 2), [1, 1]);
      assert.ok(values.slice(2).every((n: number) => n === 0));
      assert.equal(sum, 2);
      const byTask = records.filter((x) => x.type === "map" && x.name === "by_task").pop();
      assert.deepEqual(
        byTask.entries.sort((a: { key: { pid: number } }, b: { key: { pid: number } }) =>
          a.key.pid - b.key.pid
        ),
        children.map((pid) => ({
          key: { pid, comm: "rt-maps-probe" },
          value: { exits: 1, kind: "KIND_EXIT" },
        })),
      );
      assert.match(r.stderr, /^tracer: 2 events, 0 lost \(ring buffer rb: /m);
    });
  },
);

test("run vfsstat: programs the kernel refuses are named, the others run", kernelTest(), () => {
  withDir((dir) => {
    const obj = extractTool(dir, "vfsstat");
    const lib = runLibbpfLoad(obj);
    const kprobes = existsSync("/sys/bus/event_source/devices/kprobe");
    const r = runTracer("run", [obj, "-d", "0.2"]);
    let running = 0;
    for (const p of lib.programs) {
      const kprobe = p.name.startsWith("kprobe_");
      if (p.errno !== 0) {
        assert.match(
          r.stderr,
          new RegExp(`^tracer: program ${p.name} \\(\\S+\\) not loaded: .*: EPERM: `, "m"),
        );
      } else if (kprobe && !kprobes) {
        assert.match(
          r.stderr,
          new RegExp(`^tracer: program ${p.name} \\(\\S+\\) not attached: .*kprobes are not`, "m"),
        );
      } else running++;
    }
    if (running === 0) {
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^tracer run: none of the 10 programs could be loaded and attached$/m);
    } else {
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`\\(${running} programs attached, ${10 - running} refused`),
      );
    }
  });
});

test(
  "run: SIGINT, SIGTERM and -c 1 end a run cleanly, nothing left loaded",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const dir = mkdtempSync(join(tmpdir(), "tracer-run-trace-"));
    try {
      const probe = join(dir, "rt-maps-probe");
      copyFileSync("/bin/true", probe);
      chmodSync(probe, 0o755);
      const endings: [string, string[], (pid: number) => void][] = [
        ["SIGINT", [], (pid) => process.kill(pid, "SIGINT")],
        ["SIGTERM", [], (pid) => process.kill(pid, "SIGTERM")],
        ["-c 1", ["-c", "1"], () => {}],
      ];
      for (const [name, args, end] of endings) {
        const t = backgroundTracer("run", [
          join(ROOT, "test/fixtures/run/maps.bpf.o"),
          "--set",
          "targ_comm=rt-maps-probe",
          ...args,
        ]);
        await t.ready;
        const ours = processIds(t.child.pid!);
        assert.ok(
          ours.progs.length === 1 && ours.maps.length >= 4 && ours.links.length === 1,
          name,
        );
        const child = spawnSync(probe);
        // The record is read within a poll (100 ms); then the ending.
        await new Promise((res) => setTimeout(res, 300));
        end(t.child.pid!);
        assert.equal(await t.exited, 0, `${name}: ${t.err()}`);
        const { records } = parse(t.out());
        assert.deepEqual(records.filter((x) => x.type === "event").map((x) => x.event.pid), [
          child.pid,
        ], name);
        assert.deepEqual(records.filter((x) => x.type === "map").map((x) => x.name), [
          "counts",
          "by_task",
        ], name);
        assert.match(t.err(), /^tracer: 1 events, 0 lost/m, name);
        assert.deepEqual(await stillLoaded(p, ours), { progs: [], maps: [], links: [] }, name);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("run: a perf buffer's lost records counted where the kernel says", kernelTest(), async () => {
  const dir = mkdtempSync(join(tmpdir(), "tracer-run-trace-"));
  try {
    const burst = join(dir, "rt-perf-probe"), one = join(dir, "rt-perf-one");
    for (const f of [burst, one]) {
      copyFileSync("/bin/true", f);
      chmodSync(f, 0o755);
    }
    const t = backgroundTracer("run", [
      join(ROOT, "test/fixtures/run/perf.bpf.o"),
      "--event",
      "big",
      "--set",
      "targ_comm=rt-perf-probe",
      "--set",
      "one_comm=rt-perf-one",
    ]);
    await t.ready;
    // Reader stopped: of the ten 60000-byte records, four fit in CPU 0's 256 KiB buffer.
    process.kill(t.child.pid!, "SIGSTOP");
    const a = spawnSync("taskset", ["-c", "0", burst]);
    process.kill(t.child.pid!, "SIGCONT");
    const until = Date.now() + 10_000;
    while (parse(t.out()).records.length < 4 && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 50));
    }
    // The next record in that buffer comes after the kernel's count of the six lost.
    const b = spawnSync("taskset", ["-c", "0", one]);
    await new Promise((res) => setTimeout(res, 300));
    process.kill(t.child.pid!, "SIGINT");
    assert.equal(await t.exited, 0, t.err());
    const rec = (pid: number, seq: number) => ({
      type: "event",
      map: "events",
      event: { pid, seq, fill: "" },
    });
    assert.deepEqual(parse(t.out()).records.filter((x) => x.type !== "map"), [
      rec(a.pid!, 0),
      rec(a.pid!, 1),
      rec(a.pid!, 2),
      rec(a.pid!, 3),
      { type: "lost", map: "events", lost: 6, lost_total: 6 },
      rec(b.pid!, 0),
    ]);
    assert.match(t.err(), /^tracer: 5 events, 6 lost$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("run --uprobe: a uprobe and a uretprobe on a function of a test binary", kernelTest(), () => {
  withDir((dir) => {
    const bin = compile(join(ROOT, "test/fixtures/run/uprobe-target.c"), join(dir, "rt-uprobe"));
    const r = runTracer("run", [
      join(ROOT, "test/fixtures/run/uprobe.bpf.o"),
      "--uprobe",
      `on_add=${bin}:rt_add`,
      "--uprobe",
      `on_add_ret=${bin}:rt_add`,
      "--",
      bin,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const m = /^pid=(\d+) sum=38$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    const pid = Number(m[1]);
    const ev = (side: string, a: number, b: number, ret: number) => ({
      type: "event",
      map: "rb",
      event: { pid, side, a, b, ret },
    });
    // rt_add(40, 2) = 42, rt_add(-7, 3) = -4: each entry's arguments, then its return value.
    assert.deepEqual(parse(r.stdout).records.filter((x) => x.type === "event"), [
      ev("ENTRY", 40, 2, 0),
      ev("RETURN", 0, 0, 42),
      ev("ENTRY", -7, 3, 0),
      ev("RETURN", 0, 0, -4),
    ]);
    assert.match(r.stderr, /\(2 programs attached\), running /);
    // Without --uprobe a bare "uprobe" section has nowhere to attach: said per program.
    const bare = runTracer("run", [join(ROOT, "test/fixtures/run/uprobe.bpf.o"), "-d", "0.1"]);
    assert.equal(bare.status, 1);
    assert.match(
      bare.stderr,
      /^tracer: program on_add \(uprobe\) not attached: .*give them with --uprobe on_add=PATH:FUNCTION$/m,
    );
  });
});

test("run perf_event --sample-freq: cpu-clock samples of a spinning task", kernelTest(), () => {
  withDir((dir) => {
    const spin = compile(join(ROOT, "test/fixtures/run/spin.c"), join(dir, "rt-spin"));
    const r = runTracer("run", [
      join(ROOT, "test/fixtures/run/sample.bpf.o"),
      "--set",
      "targ_comm=rt-spin",
      "--sample-freq",
      "100",
      "--",
      spin,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const { records } = parse(r.stdout);
    const samples = records.find((x) => x.type === "map" && x.name === "samples");
    assert.equal(samples.entries.length, 1, r.stdout);
    const { values, sum } = samples.entries[0];
    assert.equal(sum, values.reduce((a: number, b: number) => a + b, 0));
    // 0.3 s of the spinner's CPU time at 100 samples a second: about 30 (the kernel tunes the
    // period to the frequency as it goes, so not exactly).
    assert.ok(sum >= 10 && sum <= 60, r.stdout);
  });
});
