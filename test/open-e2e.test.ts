// End to end: `tracer open` (this runtime running src/main.ts) traces a workload whose every
// open is known (test/fixtures/open/workload.c, statically linked: no loader opens), and must
// report exactly those, every field; -F's full paths must equal readlink(/proc/self/fd/N).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";

import { join } from "node:path";
import process from "node:process";
import { kernelTest, scratchDir } from "./env.ts";
import { ERRNO, expectedOpenRecords, HOSTILE_TEXT, LONG, steps, TOOLONG } from "./open-workload.ts";
import { currentTid } from "./loader-ids.ts";
import { getPlatform } from "../src/platform/index.ts";
import {
  assertNoLeftovers,
  backgroundTracer,
  cgroupId,
  compile,
  jsonLines,
  kernelHasBpfLoop,
  mntns,
  ownContext,
  ROOT,
  runTracer,
  tracerEnv,
} from "./tracer-cli.ts";

const tracer = (args: string[], timeout?: number, env?: Record<string, string>) =>
  runTracer("open", args, timeout, env);

const tmp = scratchDir("open-e2e-");
const WORKLOAD = join(tmp, "open-workload");
/** The workload's directory: rel.txt, sub/target.txt, link -> sub, secret (0600). */
const DIR = join(realpathSync(tmp), "d");

let built = false;
function build(): void {
  if (built) return;
  compile(join(ROOT, "test/fixtures/open/workload.c"), WORKLOAD, ["-static", "-O1"]);
  mkdirSync(join(DIR, "sub"), { recursive: true });
  chmodSync(tmp, 0o755);
  chmodSync(DIR, 0o755);
  writeFileSync(join(DIR, "rel.txt"), "a\n");
  writeFileSync(join(DIR, "sub/target.txt"), "b\n");
  symlinkSync("sub", join(DIR, "link"));
  writeFileSync(join(DIR, "secret"), "s\n", { mode: 0o600 });
  built = true;
}

/**
 * Runs the workload under `tracer open --json ...extra` and checks every record exactly;
 * `full`: with -F, whose full_path must equal the kernel's readlink (or dir + path).
 */
function exactOpenEvents(extra: string[], full: boolean, env?: Record<string, string>): void {
  build();
  const out = join(tmp, "out.jsonl");
  const r = tracer(["--json", "-v", "-o", out, ...extra, "--", WORKLOAD, DIR], undefined, env);
  assert.equal(r.status, 7, `exit status is the workload's (stderr: ${r.stderr})`);
  const s = steps(r.stdout);
  const events = jsonLines(readFileSync(out, "utf8"));
  const expected = expectedOpenRecords(s, DIR, full, process.arch === "x64")
    .map((rec) => ({ ...rec, cgroup_id: cgroupId(), mntns_id: mntns(), ...ownContext() }));
  const strip = events.map(({ time: _t, time_ns: _n, ...rest }) => rest);
  assert.deepEqual(strip, expected);
  // The O_TMPFILE file has no name: the kernel says "#INODE (deleted)", and so must -F.
  assert.match(new TextDecoder().decode(s.get("tmpfile")!.link!), /^.*\/#\d+ \(deleted\)$/);
  // Times: boot clock increasing.
  for (let i = 1; i < events.length; i++) assert.ok(events[i].time_ns > events[i - 1].time_ns);
  assert.match(
    r.stderr,
    new RegExp(`^tracer: ${expected.length} events, 0 lost, 1 path_truncated$`, "m"),
  );
  // -F walks the path with bpf_loop where the kernel has it (asked directly), else (or when
  // told to by the test switch) with a bounded loop, and says so with -v.
  const bounded = full && (env?.TRACER_NO_BPF_LOOP === "1" || !kernelHasBpfLoop());
  assert.equal(/^tracer: fallback: -F walks the path in a bounded loop/m.test(r.stderr), bounded);
}

test("open --json -- WORKLOAD: exactly the workload's opens, every field", kernelTest(), () => {
  exactOpenEvents([], false);
});

test(
  "open -F --json -- WORKLOAD: full paths equal the kernel's readlink of each fd",
  kernelTest(),
  () => {
    exactOpenEvents(["-F"], true);
  },
);

test(
  "open -F without bpf_loop (TRACER_NO_BPF_LOOP=1): the bounded-loop walk, the same full paths",
  kernelTest(),
  () => {
    exactOpenEvents(["-F"], true, tracerEnv({ TRACER_NO_BPF_LOOP: "1" }));
  },
);

test("open --buffer perf -F: the same exact records, in time order", kernelTest(), () => {
  exactOpenEvents(["--buffer", "perf", "-F"], true);
});

test("open --hooks tracepoint (raw_tp fork following): the same records", kernelTest(), () => {
  exactOpenEvents(["--hooks", "tracepoint"], false);
});

test("open (table) -- WORKLOAD: opensnoop columns, errno names, escapes", kernelTest(), () => {
  build();
  const r = tracer(["-e", "--", WORKLOAD, DIR]);
  assert.equal(r.status, 7, r.stderr);
  const s = steps(r.stdout.split("\n").filter((l) => l.startsWith("step ")).join("\n"));
  const lines = r.stdout.split("\n").filter((l) => !l.startsWith("step ") && l);
  assert.equal(
    lines[0],
    "    PID COMM              FD ERR          FLAGS                MODE PATH",
  );
  const row = (step: string, flags: string, mode: string, path: string) => {
    const st = s.get(step)!;
    const err = st.ret < 0 ? ERRNO[st.ret] : "0";
    return `${String(st.pid).padStart(7)} ${"open-workload".padEnd(16)} ${
      String(st.ret < 0 ? -1 : st.ret).padStart(3)
    } ${err.padEnd(12)} ${flags.padEnd(20)} ${mode.padEnd(4)} ${path}`;
  };
  // The EACCES step runs in its own process.
  const eacces = lines.filter((l) => l.startsWith(String(s.get("eacces")!.pid).padStart(7)));
  assert.deepEqual(eacces, [row("eacces", "O_RDONLY", "-", `${DIR}/secret`)]);
  const hostile = lines.find((l) => l.endsWith(HOSTILE_TEXT));
  assert.equal(hostile, row("hostile", "O_WRONLY|O_CREAT|O_TRUNC", "0600", HOSTILE_TEXT));
  assert.ok(
    lines.includes(row("toolong", "O_RDONLY", "-", `${TOOLONG.slice(0, 4096)} [truncated]`)),
  );
  assert.ok(lines.includes(row("openat2", "O_WRONLY|O_CREAT|O_CLOEXEC", "0640", "created2")));
  // One row per step, nothing else.
  assert.equal(lines.length - 1, s.size);
});

test("open filters: -x, -f, --path, -u, -n, -c", kernelTest(), () => {
  build();
  const paths = (args: string[]) => {
    const r = tracer(["--json", ...args, "--", WORKLOAD, DIR]);
    assert.equal(r.status, 7, r.stderr);
    return r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
      .map((e) => e.full_path ?? e.path);
  };
  assert.deepEqual(paths(["-x"]), [
    "/nonexistent/file",
    `${DIR}/secret`,
    "missing.txt",
    "nope/x",
    LONG,
    TOOLONG.slice(0, 4096),
  ]);
  assert.deepEqual(paths(["-f", "O_CREAT"]), [HOSTILE_TEXT, "created2"]);
  // Several -f: any of them (an access mode, or a flag bit; "tmpfile" without its O_).
  assert.deepEqual(paths(["-f", "O_WRONLY", "-f", "tmpfile"]), [HOSTILE_TEXT, "created2", "."]);
  assert.deepEqual(paths(["-F", "--path", `${DIR}/sub`]), [
    `${DIR}/sub`,
    `${DIR}/sub/target.txt`,
    `${DIR}/sub/missing.txt`,
    `${DIR}/sub/target.txt`,
  ]);
  assert.deepEqual(paths(["--path", "/nonexistent"]), ["/nonexistent/file", LONG]);
  assert.deepEqual(paths(["-u", "65534"]), [`${DIR}/secret`]);
  assert.equal(paths(["-n", "^open-w"]).length, process.arch === "x64" ? 16 : 15);
  assert.deepEqual(paths(["-n", "^nomatch$"]), []);
  assert.deepEqual(
    paths(["-c", "2"]),
    [`${DIR}/rel.txt`, process.arch === "x64" ? `${DIR}/rel.txt` : "/nonexistent/file"],
  );
});

test("open -p PID --tid TID: exactly this thread's open of a file", kernelTest(), async () => {
  const tid = currentTid();
  const t = backgroundTracer("open", ["-p", String(process.pid), "--tid", String(tid), "--json"]);
  await t.ready;
  const file = join(tmp, `pid-filter-${tid}`);
  closeSync(openSync(file, "w"));
  // Give the 100 ms drain timer a turn before stopping.
  await new Promise((res) => setTimeout(res, 300));
  process.kill(t.child.pid!, "SIGINT");
  assert.equal(await t.exited, 0, t.err());
  const mine = jsonLines(t.out()).filter((e) => e.path === file);
  assert.equal(mine.length, 1, t.out());
  assert.deepEqual([mine[0].pid, mine[0].tid], [process.pid, tid]);
  // openSync's flags; the runtime may add O_LARGEFILE and O_CLOEXEC.
  for (const f of ["O_WRONLY", "O_CREAT", "O_TRUNC"]) assert.ok(mine[0].flags.includes(f));
  assert.ok(jsonLines(t.out()).every((e) => e.tid === tid), "only this thread");
});

test(
  "open: hooks a kernel lacks are skipped with a note; --verbose lists them",
  kernelTest(),
  () => {
    const r = tracer(["-v", "--", "/bin/true"]);
    assert.equal(r.status, 0, r.stderr);
    const attached = [...r.stderr.matchAll(/^tracer: attached tracepoint (\S+)$/gm)].map((m) =>
      m[1]
    );
    const skipped = [
      ...r.stderr.matchAll(/^tracer: skipped tracepoint (\S+) \(not on this kernel\)$/gm),
    ].map((m) => m[1]);
    // Every open syscall hook is either attached or skipped, as tracefs says.
    for (const sys of ["open", "openat", "openat2"]) {
      for (const dir of ["enter", "exit"]) {
        const tp = `syscalls/sys_${dir}_${sys}`;
        let exists = true;
        try {
          readFileSync(`/sys/kernel/tracing/events/${tp}/id`);
        } catch {
          exists = false;
        }
        assert.equal(attached.includes(tp), exists, `${tp}: ${r.stderr}`);
        assert.equal(skipped.includes(tp), !exists, `${tp}: ${r.stderr}`);
      }
    }
    assert.match(
      r.stderr,
      /^tracer: tracing open \(\d+ programs attached\), running \/bin\/true$/m,
    );
  },
);

test(
  "open leaves nothing in the kernel after SIGINT, SIGTERM, -c, -d, a closed pipe, perf buffer",
  kernelTest(),
  async () => {
    const trigger = () => closeSync(openSync("/etc/hostname", "r"));
    await assertNoLeftovers(await getPlatform(), "open", trigger, ["-F"]);
  },
);

test("open usage errors exit 2 with one line", () => {
  for (
    const [args, msg] of [
      [["-f", "O_BOGUS"], /--flag: unknown open flag 'O_BOGUS'/],
      [["-p", "x"], /--pid expects a number/],
      [["--hooks", "kprobe"], /--hooks is tp_btf or tracepoint/],
      [["-n", "("], /--name: bad regular expression/],
      [["stray"], /unexpected argument 'stray'/],
      [["--path", ""], /--path is empty/],
    ] as const
  ) {
    const r = tracer([...args]);
    assert.equal(r.status, 2, `${args}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
});

test(
  "open -o FILE on a full file system: one line naming the file and ENOSPC, exit 1",
  kernelTest(),
  () => {
    build();
    const mnt = scratchDir("open-full-");
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=8k", "none", mnt], {
      encoding: "utf8",
    });
    assert.equal(m.status, 0, m.stderr);
    try {
      // The workload's records (two of about 4 KiB) do not fit in 8 KiB.
      const r = tracer(["--json", "-o", join(mnt, "out.jsonl"), "--", WORKLOAD, DIR]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`^tracer open: writing events to ${mnt}/out\\.jsonl: ENOSPC$`, "m"),
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    } finally {
      spawnSync("umount", [mnt]);
    }
  },
);
