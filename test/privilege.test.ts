// Privilege, for exec, open and connect on the real kernel: without root or capabilities (one
// line naming what is missing, exit 1, no bpf() call), with only CAP_BPF + CAP_PERFMON (+
// CAP_DAC_READ_SEARCH for tracefs) and no root, `-- CMD` under sudo (the invoking user's ids
// and HOME, root only with --as-root), and what the tracer itself opens, executes and writes
// while it traces hostile names (strace).
// Cost: about 20 s under Deno and under Bun, 15 s with TRACER_BIN (some 15 tracer start-ups,
// 6 of them under strace).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";

import { join } from "node:path";
import process from "node:process";
import { kernelTest, scratchDir } from "./env.ts";
import {
  backgroundTracer,
  jsonLines,
  ROOT,
  runTracer,
  tracerCommandLine,
  tracerEnv,
} from "./tracer-cli.ts";

const DIR = scratchDir("tracer-privilege-");
chmodSync(DIR, 0o755); // the unprivileged runs read FILE
const FILE = join(DIR, "opened");
writeFileSync(FILE, "x");
const PORT = 40000 + ((process.pid + 7) % 20000);
const MARK = `priv-mark-${process.pid}`;
const NOBODY = 65534;
/** Deno's module cache for the runs as nobody (root's is not theirs), shared by them. */
const NOBODY_DENO_DIR = join(DIR, "deno-dir");
mkdirSync(NOBODY_DENO_DIR);
chmodSync(NOBODY_DENO_DIR, 0o777);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Rec = Record<string, unknown>;
/** The JSON records among lines (CMD's own output is there too). */
const records = (out: string) =>
  jsonLines(out.split("\n").filter((l) => l.startsWith("{")).join("\n"))
    .filter((r) => r.type !== "lost") as Rec[];

const connectCmd = `(exec 3<>/dev/tcp/127.0.0.1/${PORT}) 2>/dev/null; true`;
/** Each tracer with a `-- CMD` making one known event, and that event's test. */
const KINDS: [string, string[], (r: Rec) => boolean][] = [
  ["exec", ["/bin/true", MARK], (r) => r.filename === "/bin/true"],
  ["open", ["/bin/sh", "-c", `: < ${FILE}`], (r) => r.path === FILE && r.error === null],
  ["connect", ["bash", "-c", connectCmd], (r) => r.dport === PORT && r.result === "ECONNREFUSED"],
];

/** setpriv arguments: user nobody, no groups, exactly `caps` (e.g. ["bpf", "perfmon"]). */
function asNobody(caps: string[]): string[] {
  const set = ["-all", ...caps.map((c) => `+${c}`)].join(",");
  const s = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", `--inh-caps=${set}`];
  return caps.length ? [...s, `--ambient-caps=${set}`, `--bounding-set=${set}`] : s;
}

/** Runs `strace -f -e trace=SYSCALLS -o LOG setpriv ... tracer ARGS`: the result and the log. */
function tracedAsNobody(caps: string[], command: string, args: string[], syscalls: string) {
  const log = join(DIR, `strace-${command}-${caps.join("-")}.log`);
  const [cmd, argv] = tracerCommandLine(command, args);
  const r = spawnSync(
    "strace",
    ["-f", "-qq", "-e", `trace=${syscalls}`, "-o", log, "setpriv", ...asNobody(caps), cmd, ...argv],
    { encoding: "utf8", cwd: ROOT, env: tracerEnv({ DENO_DIR: NOBODY_DENO_DIR }), timeout: 60_000 },
  );
  return { ...r, log: readFileSync(log, "utf8") };
}

test(
  "unprivileged: one line naming what is missing, exit 1, no bpf() or perf_event_open() call",
  kernelTest(),
  () => {
    for (const [name] of KINDS) {
      const r = tracedAsNobody([], name, ["--json", "-d", "1"], "bpf,perf_event_open");
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      assert.equal(
        r.stderr,
        `tracer ${name}: needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs; ` +
          "this process lacks CAP_BPF and CAP_PERFMON: run it with sudo\n",
      );
      assert.doesNotMatch(r.log, /bpf\(|perf_event_open\(/, `${name}: ${r.log}`);
    }
  },
);

/** Whether user nobody with `caps` can read tracefs here (the kernel's answer, via stat). */
function tracefsReadable(caps: string[]): boolean {
  return spawnSync("setpriv", [...asNobody(caps), "stat", "/sys/kernel/tracing/events"]).status ===
    0;
}

test(
  "only CAP_BPF + CAP_PERFMON, no root: exec works; open and connect name CAP_DAC_READ_SEARCH where tracefs needs it; with it, all three work",
  kernelTest(),
  () => {
    for (const caps of [["bpf", "perfmon"], ["bpf", "perfmon", "dac_read_search"]]) {
      const tracefs = tracefsReadable(caps);
      for (const [name, cmd, match] of KINDS) {
        const what = `${name} with ${caps.join("+")}`;
        const [bin, argv] = tracerCommandLine(name, ["--json", "--", ...cmd]);
        const r = spawnSync("setpriv", [...asNobody(caps), bin, ...argv], {
          encoding: "utf8",
          cwd: ROOT,
          env: tracerEnv({ DENO_DIR: NOBODY_DENO_DIR }),
          timeout: 60_000,
        });
        // exec attaches through tp_btf (no tracefs); open and connect need syscall tracepoints.
        if (name === "exec" || tracefs) {
          assert.equal(r.status, 0, `${what}: ${r.stderr}`);
          const recs = records(r.stdout).filter(match);
          assert.equal(recs.length, 1, `${what}: ${r.stdout}`);
          assert.equal(recs[0].uid, NOBODY, what);
        } else {
          assert.equal(r.status, 1, `${what}: ${r.stderr}`);
          assert.equal(
            r.stderr.trim().split("\n").at(-1),
            `tracer ${name}: /sys/kernel/tracing/events: EACCES: tracefs is readable only by root ` +
              "here; without root the tracer needs CAP_DAC_READ_SEARCH (besides CAP_BPF and CAP_PERFMON)",
            what,
          );
          assert.doesNotMatch(r.stderr, /\n\s+at /, what);
        }
      }
    }
    // On this host tracefs is root's 0700: the capability is needed, and enough.
    assert.ok(tracefsReadable(["dac_read_search"]));
  },
);

const SHOW_IDS = "grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo HOME=$HOME USER=$USER";

test(
  "-- CMD under sudo runs as the invoking user (ids, that user's groups and none of root's, HOME), as root only with --as-root",
  kernelTest(),
  () => {
    const sudo = tracerEnv({ SUDO_UID: `${NOBODY}`, SUDO_GID: `${NOBODY}`, SUDO_USER: "nobody" });
    const home = readFileSync("/etc/passwd", "utf8").split("\n").map((l) => l.split(":"))
      .find((f) => f[2] === `${NOBODY}`)!;
    const run = (extra: string[]) =>
      runTracer("exec", [...extra, "--json", "--", "/bin/sh", "-c", SHOW_IDS], 60_000, sudo);
    // A supplementary group of nobody's for the time of the test, so there is one to keep.
    const group = `tracer-grp-${process.pid}`;
    const add = spawnSync("groupadd", ["-U", "nobody", group], { encoding: "utf8" });
    assert.equal(add.status, 0, add.stderr);
    try {
      // The oracle: what the system's user database gives nobody (id -G), sorted as the
      // kernel keeps them.
      const id = spawnSync("id", ["-G", "nobody"], { encoding: "utf8" });
      const groups = id.stdout.trim().split(/\s+/).map(Number).sort((a, b) => a - b);
      assert.ok(groups.length >= 2 && !groups.includes(0), id.stdout);
      const user = run([]);
      assert.equal(user.status, 0, user.stderr);
      const lines = user.stdout.split("\n");
      assert.ok(lines.includes(`Uid:\t${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`), user.stdout);
      assert.ok(lines.includes(`Gid:\t${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`), user.stdout);
      const shown = /^Groups:\s*(.*)$/m.exec(user.stdout)![1].trim().split(/\s+/).map(Number);
      assert.deepEqual(shown, groups, "the user's groups, none of root's");
      assert.ok(lines.includes(`HOME=${home[5]} USER=${home[0]}`), user.stdout);
      // Exactly CMD's exec is traced: the launcher's own start-up is not.
      const execs = records(user.stdout);
      assert.deepEqual(execs.map((r) => [r.filename, r.uid, r.gid]), [
        ["/bin/sh", NOBODY, NOBODY],
        ["/usr/bin/grep", NOBODY, NOBODY],
      ], user.stdout);
    } finally {
      spawnSync("groupdel", [group]);
    }

    const root = run(["--as-root"]);
    assert.equal(root.status, 0, root.stderr);
    assert.ok(root.stdout.split("\n").includes("Uid:\t0\t0\t0\t0"), root.stdout);
    assert.ok(
      root.stdout.split("\n").includes(`HOME=${process.env.HOME} USER=${process.env.USER ?? ""}`),
      root.stdout,
    );
  },
);

/** Whether strace (`strace` pid) traces every thread of process `pid`. */
function tracedBy(pid: number, strace: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((tid) =>
    new RegExp(`^TracerPid:\\s+${strace}$`, "m").test(
      readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"),
    )
  );
}

/**
 * Starts `tracer COMMAND ARGS`; once it is ready, attaches strace to all its threads (every
 * file, exec and write syscall, fds shown as paths), runs `workload`, stops the tracer with
 * SIGINT. Resolves to its exit status and strace's log lines: everything the tracer did while
 * traced data arrived.
 */
async function straced(command: string, args: string[], workload: () => void) {
  const log = join(DIR, `strace-${command}.log`);
  const t = backgroundTracer(command, args);
  await t.ready;
  const pid = t.child.pid!;
  const syscalls = "%file,execve,execveat,write,writev,pwrite64,pwritev,pwritev2,sendfile," +
    "splice,sendto,sendmsg,sendmmsg";
  const strace = spawn(
    "strace",
    ["-f", "-qq", "-y", "-s", "64", "-e", `trace=${syscalls}`, "-o", log, "-p", `${pid}`],
    { stdio: "ignore" },
  );
  const straceExited = new Promise((res) => strace.on("exit", res));
  for (let i = 0; i < 250 && !tracedBy(pid, strace.pid!); i++) await sleep(20);
  assert.ok(tracedBy(pid, strace.pid!), "strace attached to every thread");
  workload();
  await sleep(300); // records are read within 100 ms
  process.kill(pid, "SIGINT");
  const status = await t.exited;
  await straceExited;
  const lines = readFileSync(log, "utf8").split("\n").filter((l) => l.trim());
  return { status, stderr: t.err(), lines };
}

test(
  "tracing hostile names, the tracer opens and executes nothing and writes only stdout, stderr and -o (strace)",
  kernelTest(),
  async () => {
    // Names that would create PWNED (in the tracer's cwd, or here) if a shell ever saw them.
    const pwned = [join(DIR, "PWNED"), join(ROOT, "PWNED")];
    const hostileDir = join(DIR, "x;touch PWNED;$(touch PWNED)");
    spawnSync("mkdir", [hostileDir]);
    const prog = join(hostileDir, `${MARK} \`touch PWNED\` \x1b[31m|touch PWNED`);
    copyFileSync("/bin/true", prog);
    chmodSync(prog, 0o755);
    const workload = () => {
      spawnSync(prog, ["$(touch PWNED)"], { cwd: DIR });
      spawnSync("/bin/sh", [
        "-c",
        `cat "$1" "$2" 2>/dev/null; true`,
        "sh",
        prog,
        join(hostileDir, `${MARK}-missing\n../../etc/shadow`),
      ]);
    };
    for (const command of ["exec", "open"]) {
      const out = join(DIR, `${command}.jsonl`);
      const r = await straced(command, [
        "--json",
        "-o",
        out,
        ...(command === "open" ? ["-F"] : []),
      ], workload);
      assert.equal(r.status, 0, r.stderr);
      // The hostile names were traced ...
      assert.match(readFileSync(out, "utf8"), new RegExp(MARK), `${command}: traced`);
      assert.ok(
        r.lines.some((l) => /^\d+ +write/.test(l) && l.includes(`<${out}>`)),
        "strace saw it",
      );
      // ... and never used: no syscall of the tracer names them.
      assert.deepEqual(r.lines.filter((l) => l.includes(MARK) || l.includes("PWNED")), [], command);
      // No exec, no open but for reading, writes only to stdout/stderr (pipes here), -o FILE
      // and the runtime's own eventfds.
      for (const line of r.lines) {
        const m = /^\d+ +(\w+)\((\d+)?(<[^>]*>)?/.exec(line);
        if (!m) continue; // "+++ exited", "--- SIG", resumed lines
        const [, call, , target] = m;
        if (
          /^(write|writev|pwrite64|pwritev2?|sendfile|splice|sendto|sendmsg|sendmmsg)$/.test(call)
        ) {
          const ok = target === `<${out}>` ||
            /^<(pipe:\[\d+\]|socket:\[\d+\]|UNIX-STREAM:\[\d+(,\d+)?\]|anon_inode:\[eventfd\])>$/
              .test(target ?? "");
          assert.ok(ok, `${command} wrote elsewhere: ${line}`);
        } else if (/^(open|openat|openat2|creat)$/.test(call)) {
          // Only the runtimes' own reading (Bun: /proc/self/statm, Deno: its CA certificates),
          // never for writing, never in the directory of the hostile names.
          assert.match(line, /, "[^"]*", O_RDONLY[|\w]*\)/, line);
          assert.ok(!line.includes(DIR), line);
        } else {
          // stat, readlink, access ... may look (the names were checked above); nothing may
          // exec, create, remove, rename, link or change a file.
          assert.doesNotMatch(
            call,
            /^(exec\w*|mkdir\w*|mknod\w*|unlink\w*|rmdir|rename\w*|(sym)?link(at)?|\w*chmod\w*|\w*chown\w*|\w*truncate|utime\w*|\w*setxattr|\w*removexattr|u?mount2?)$/,
            line,
          );
        }
      }
    }
    for (const p of pwned) assert.ok(!existsSync(p), p);
  },
);

test("privilege test cleanup", () => {
  rmSync(DIR, { recursive: true, force: true });
});
