// Privilege, for exec, open and connect on the real kernel: without root or capabilities (one
// line naming what is missing, exit 1, no bpf() call), with only CAP_BPF + CAP_PERFMON (+
// CAP_DAC_READ_SEARCH for tracefs) and no root, `-- CMD` under sudo (the invoking user's ids
// and HOME, root only with --as-root), and what the tracer itself opens, executes and writes
// while it traces hostile names (strace).
// Cost: about 25 s under Deno, 15 s under Bun (some 15 tracer start-ups, 2 under strace).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { kernelTest } from "./env.ts";
import { jsonLines, ROOT, runTracer, tracerCommandLine, tracerEnv } from "./tracer-cli.ts";

const DIR = mkdtempSync(join(tmpdir(), "tracer-privilege-"));
chmodSync(DIR, 0o755); // the unprivileged runs read FILE
const FILE = join(DIR, "opened");
writeFileSync(FILE, "x");
const PORT = 40000 + ((process.pid + 7) % 20000);
const MARK = `priv-mark-${process.pid}`;
const NOBODY = 65534;

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
    { encoding: "utf8", cwd: ROOT, env: tracerEnv(), timeout: 60_000 },
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
          env: tracerEnv(),
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
  "-- CMD under sudo runs as the invoking user (ids, no groups of root, HOME), as root only with --as-root",
  kernelTest(),
  () => {
    const sudo = tracerEnv({ SUDO_UID: `${NOBODY}`, SUDO_GID: `${NOBODY}`, SUDO_USER: "nobody" });
    const home = readFileSync("/etc/passwd", "utf8").split("\n").map((l) => l.split(":"))
      .find((f) => f[2] === `${NOBODY}`)!;
    const run = (extra: string[]) =>
      runTracer("exec", [...extra, "--json", "--", "/bin/sh", "-c", SHOW_IDS], 60_000, sudo);
    const user = run([]);
    assert.equal(user.status, 0, user.stderr);
    const lines = user.stdout.split("\n");
    assert.ok(lines.includes(`Uid:\t${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`), user.stdout);
    assert.ok(lines.includes(`Gid:\t${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`), user.stdout);
    assert.match(user.stdout, /^Groups:\s*$/m, "none of root's groups");
    assert.ok(lines.includes(`HOME=${home[5]} USER=${home[0]}`), user.stdout);
    const sh = records(user.stdout).filter((r) => r.filename === "/bin/sh");
    assert.deepEqual(sh.map((r) => [r.uid, r.gid]), [[NOBODY, NOBODY]]);

    const root = run(["--as-root"]);
    assert.equal(root.status, 0, root.stderr);
    assert.ok(root.stdout.split("\n").includes("Uid:\t0\t0\t0\t0"), root.stdout);
    assert.ok(
      root.stdout.split("\n").includes(`HOME=${process.env.HOME} USER=${process.env.USER ?? ""}`),
      root.stdout,
    );
  },
);

/**
 * Runs `tracer COMMAND ARGS` under strace (every file, exec and write syscall, fds shown as
 * paths); `workload` runs once it is ready. Resolves to the exit status and the log lines
 * after the tracer wrote its ready line.
 */
async function straced(command: string, args: string[], workload: () => void) {
  const log = join(DIR, `strace-${command}.log`);
  const [cmd, argv] = tracerCommandLine(command, args);
  const syscalls =
    "%file,execve,execveat,write,writev,pwrite64,pwritev,pwritev2,sendfile,splice,sendto,sendmsg,sendmmsg";
  const child = spawn("strace", [
    "-f",
    "-qq",
    "-y",
    "-s",
    "64",
    "-e",
    `trace=${syscalls}`,
    "-o",
    log,
    cmd,
    ...argv,
  ], {
    cwd: ROOT,
    env: tracerEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  const exited = new Promise<number | null>((res) => child.on("exit", (c) => res(c)));
  await new Promise<void>((res, rej) => {
    child.stderr!.on("data", (d) => {
      stderr += d;
      if (stderr.includes(`tracer: tracing ${command}`)) res();
    });
    child.on("exit", () => rej(new Error(stderr)));
  });
  workload();
  const status = await exited;
  const lines = readFileSync(log, "utf8").split("\n");
  const ready = lines.findIndex((l) => l.includes(`"tracer: tracing ${command}`));
  assert.ok(
    ready > 0,
    `the ready line is in the log: ${
      lines.filter((l) => /send|pipe|UNIX/.test(l)).slice(-5).join("\n")
    }`,
  );
  return { status, stderr, all: lines, after: lines.slice(ready + 1).filter((l) => l.trim()) };
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
        "-d",
        "1.5",
        ...(command === "open" ? ["-F"] : []),
      ], workload);
      assert.equal(r.status, 0, r.stderr);
      // The hostile names were traced ...
      assert.match(readFileSync(out, "utf8"), new RegExp(MARK), `${command}: traced`);
      // ... and never used: no syscall of the tracer names them, before or after ready.
      assert.deepEqual(r.all.filter((l) => l.includes(MARK) || l.includes("PWNED")), [], command);
      // After the ready line: no exec, no open, and writes only to stdout/stderr (pipes here),
      // -o FILE and the runtime's own eventfds.
      for (const line of r.after) {
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
