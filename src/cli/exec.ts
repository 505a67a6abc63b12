// `tracer exec`: trace process execution, like execsnoop.

import type { Command } from "./command.ts";
import { intOption, out, parse } from "./command.ts";
import { UsageError } from "../errors.ts";
import { EXEC_ARGS_LIMIT } from "../tracers/exec.ts";
import { type ExecSessionOptions, runExecSession } from "../tracers/exec-session.ts";

export const EXEC_USAGE = `usage: tracer exec [options] [-- CMD [ARGS...]]

Trace exec() of new programs: one line (or JSON object) per exec.

options:
  -x, --failed          include failed execs (RET < 0)
      --failed-only     only failed execs
  -u, --uid UID         only execs by this user id
      --ppid PID        only children of this process
  -n, --name REGEX      only execs whose command name matches REGEX
  -T, --time            print a clock time column (HH:MM:SS)
  -t, --timestamp       print seconds since the tracer started
  -U, --print-uid       print a UID column
      --max-args N      print at most N arguments (default 64, at most ${EXEC_ARGS_LIMIT})
  -j, --json            JSON lines (fields: src/output/README-json.md), with lost-event records
  -o, --output FILE     write events to FILE instead of stdout
  -d, --duration SECS   stop after SECS seconds
  -c, --count N         stop after N events
                        (with -- CMD, -d and -c stop the tracing; CMD runs on and its exit
                        status is still the tracer's)
      --btf FILE        kernel BTF to relocate against (default /sys/kernel/btf/vmlinux);
                        implies --hooks tracepoint
      --hooks KIND      tp_btf or tracepoint (tracepoint + raw_tp); default tp_btf, and
                        tracepoint with a warning when the kernel refuses tp_btf
      --buffer KIND     ring (the BPF ring buffer) or perf (a perf buffer per CPU); default
                        ring, and perf on kernels without ring buffers (before 5.8)
      --ring-bytes N    buffer size, a power of two >= 4096: the ring buffer's (default
                        4194304), or each CPU's perf buffer (default 262144)
      --wakeup-bytes N  wake the reader when N bytes wait, per CPU with the perf buffer
                        (default 65536; 0: every event);
                        events are read at least every 100 ms anyway
      --timings         after the ready line, print where start-up time went (stderr)
  -h, --help            this help
  -- CMD [ARGS...]      run CMD once the probes are attached, trace only CMD and its
                        descendants, exit with CMD's exit status
`;

const OPTIONS = {
  failed: { type: "boolean", short: "x" },
  "failed-only": { type: "boolean" },
  uid: { type: "string", short: "u" },
  ppid: { type: "string" },
  name: { type: "string", short: "n" },
  time: { type: "boolean", short: "T" },
  timestamp: { type: "boolean", short: "t" },
  "print-uid": { type: "boolean", short: "U" },
  "max-args": { type: "string" },
  json: { type: "boolean", short: "j" },
  output: { type: "string", short: "o" },
  duration: { type: "string", short: "d" },
  count: { type: "string", short: "c" },
  btf: { type: "string" },
  hooks: { type: "string" },
  "wakeup-bytes": { type: "string" },
  "ring-bytes": { type: "string" },
  buffer: { type: "string" },
  timings: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Parses `tracer exec` arguments. Returns null for --help. */
export function parseExecArgs(args: string[]): ExecSessionOptions | null {
  const dash = args.indexOf("--");
  const own = dash < 0 ? args : args.slice(0, dash);
  const cmd = dash < 0 ? [] : args.slice(dash + 1);
  const { values: v, positionals } = parse("exec", own, OPTIONS, true);
  if (v.help) return null;
  if (positionals.length) {
    throw new UsageError(
      `exec: unexpected argument '${positionals[0]}' (to run a command: tracer exec -- CMD ARGS)`,
    );
  }
  if (dash >= 0 && cmd.length === 0) throw new UsageError("exec: '--' needs a command after it");
  let name: RegExp | undefined;
  if (v.name !== undefined) {
    try {
      name = new RegExp(v.name);
    } catch (e) {
      throw new UsageError(`exec: --name: bad regular expression: ${(e as Error).message}`);
    }
  }
  const duration = v.duration === undefined ? undefined : Number(v.duration);
  if (duration !== undefined && !(duration > 0 && Number.isFinite(duration))) {
    throw new UsageError(
      `exec: --duration expects a positive number of seconds, got '${v.duration}'`,
    );
  }
  const ringBytes = intOption("exec", "ring-bytes", v["ring-bytes"], {
    min: 4096,
    max: 1 << 30,
  });
  if (ringBytes !== undefined && (ringBytes & (ringBytes - 1)) !== 0) {
    throw new UsageError(`exec: --ring-bytes must be a power of two, got ${ringBytes}`);
  }
  if (v.hooks !== undefined && v.hooks !== "tp_btf" && v.hooks !== "tracepoint") {
    throw new UsageError(`exec: --hooks is tp_btf or tracepoint, got '${v.hooks}'`);
  }
  if (v.buffer !== undefined && v.buffer !== "ring" && v.buffer !== "perf") {
    throw new UsageError(`exec: --buffer is ring or perf, got '${v.buffer}'`);
  }
  if (v.failed && v["failed-only"]) {
    throw new UsageError("exec: --failed and --failed-only: choose one");
  }
  return {
    failed: !!v.failed,
    failedOnly: !!v["failed-only"],
    uid: intOption("exec", "uid", v.uid, { max: 0xfffffffe }),
    ppid: intOption("exec", "ppid", v.ppid, { min: 1, max: 0x3fffffff }),
    name,
    clock: !!v.time,
    elapsed: !!v.timestamp,
    uidColumn: !!v["print-uid"],
    maxArgs: intOption("exec", "max-args", v["max-args"], { min: 1, max: EXEC_ARGS_LIMIT }),
    json: !!v.json,
    output: v.output,
    durationMs: duration === undefined ? undefined : duration * 1000,
    count: intOption("exec", "count", v.count, { min: 1 }),
    btf: v.btf,
    hooks: v.hooks as "tp_btf" | "tracepoint" | undefined,
    wakeupBytes: intOption("exec", "wakeup-bytes", v["wakeup-bytes"]) ?? 65536,
    ringBytes,
    buffer: v.buffer as "ring" | "perf" | undefined,
    timings: v.timings ?? false,
    cmd,
  };
}

export const execCommand: Command = {
  name: "exec",
  summary: "trace process execution (like execsnoop)",
  async run(args, platform) {
    const opts = parseExecArgs(args);
    if (!opts) {
      out(platform, EXEC_USAGE);
      return 0;
    }
    return await runExecSession(platform, opts);
  },
};
