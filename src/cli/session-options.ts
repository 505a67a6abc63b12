// The options every tracer command shares (output, duration, count, buffers, BTF, `-- CMD`,
// the uid and command-name filters), parsed once for all of them, and their help text.

import { type Command, intOption, out, parse } from "./command.ts";
import { UsageError } from "../errors.ts";
import { runSession, type SessionOptions, type SessionTracer } from "../tracers/session.ts";
import type { OptionSpecs } from "./args.ts";
import type { Platform } from "../platform/types.ts";
import type { ContextRecord } from "../tracers/types.ts";

export const SESSION_OPTIONS = {
  uid: { type: "string", short: "u" },
  name: { type: "string", short: "n" },
  time: { type: "boolean", short: "T" },
  timestamp: { type: "boolean", short: "t" },
  "print-uid": { type: "boolean", short: "U" },
  json: { type: "boolean", short: "j" },
  output: { type: "string", short: "o" },
  duration: { type: "string", short: "d" },
  count: { type: "string", short: "c" },
  btf: { type: "string" },
  "no-cache": { type: "boolean" },
  "wakeup-bytes": { type: "string" },
  "ring-bytes": { type: "string" },
  buffer: { type: "string" },
  timings: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  "as-root": { type: "boolean" },
  cgroup: { type: "string" },
  container: { type: "string" },
  containers: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Help lines of the shared options (`btfNote`: what --btf implies for this tracer). */
export function sessionUsage(btfNote: string): string {
  return `  -T, --time            print a clock time column (HH:MM:SS)
  -t, --timestamp       print seconds since the tracer started
  -U, --print-uid       print a UID column
  -j, --json            JSON lines (fields: src/output/README-json.md), with lost-event records
  -o, --output FILE     write events to FILE instead of stdout
  -d, --duration SECS   stop after SECS seconds
  -c, --count N         stop after N events
                        (with -- CMD, -d and -c stop the tracing; CMD runs on and its exit
                        status is still the tracer's)
      --btf FILE        kernel BTF to relocate against (default /sys/kernel/btf/vmlinux)${btfNote}
      --no-cache        neither read nor write the per-boot cache of CO-RE results
                        (/run/tracer: what this build learned from this boot's kernel BTF)
      --buffer KIND     ring (the BPF ring buffer) or perf (a perf buffer per CPU); default
                        ring, and perf on kernels without ring buffers (before 5.8)
      --ring-bytes N    buffer size, a power of two >= 4096: the ring buffer's (default
                        4194304; exec: 1048576), or each CPU's perf buffer (default 262144)
      --wakeup-bytes N  wake the reader when N bytes wait, per CPU with the perf buffer
                        (default 65536; 0: every event);
                        events are read at least every 100 ms anyway
      --timings         after the ready line, print where start-up time went (stderr)
      --cgroup PATH     only tasks in cgroup PATH or below it (PATH as the "cgroup" field
                        prints it, or the directory under the cgroup mount point)
      --container ID    only tasks of the container whose id starts with ID (or named ID),
                        including one started while tracing
      --containers      print a CONTAINER column (the container id's first 12 digits)
  -v, --verbose         after the ready line, list every hook attached or skipped (stderr)
  -h, --help            this help
  -- CMD [ARGS...]      run CMD once the probes are attached, trace only CMD and its
                        descendants, exit with CMD's exit status; under sudo CMD runs as
                        the user who ran sudo (SUDO_UID/SUDO_GID, that user's groups
                        and HOME)
      --as-root         under sudo, run CMD as root instead
`;
}

export interface ParsedSession<V> {
  /** The command's own option values (and the shared ones, already checked). */
  values: V;
  session: SessionOptions;
  /** -u: only this user id. */
  uid?: number;
  /** -n: only command names matching. */
  name?: RegExp;
}

/**
 * Parses a tracer command's arguments: its own `options` plus SESSION_OPTIONS, and
 * `-- CMD ARGS`. Returns null for --help.
 */
export function parseSessionArgs<const O extends OptionSpecs>(
  command: string,
  args: string[],
  options: O,
) {
  const dash = args.indexOf("--");
  const own = dash < 0 ? args : args.slice(0, dash);
  const cmd = dash < 0 ? [] : args.slice(dash + 1);
  const { values, positionals } = parse(command, own, { ...SESSION_OPTIONS, ...options }, true);
  const v = values as Record<string, string | boolean | string[] | undefined>;
  if (v.help) return null;
  if (positionals.length) {
    throw new UsageError(
      `${command}: unexpected argument '${
        positionals[0]
      }' (to run a command: tracer ${command} -- CMD ARGS)`,
    );
  }
  if (dash >= 0 && cmd.length === 0) {
    throw new UsageError(`${command}: '--' needs a command after it`);
  }
  const str = (k: string) => v[k] as string | undefined;
  const name = str("name") === undefined ? undefined : regexOption(command, "name", str("name")!);
  const duration = str("duration") === undefined ? undefined : Number(str("duration"));
  if (duration !== undefined && !(duration > 0 && Number.isFinite(duration))) {
    throw new UsageError(
      `${command}: --duration expects a positive number of seconds, got '${str("duration")}'`,
    );
  }
  const ringBytes = intOption(command, "ring-bytes", str("ring-bytes"), {
    min: 4096,
    max: 1 << 30,
  });
  if (ringBytes !== undefined && (ringBytes & (ringBytes - 1)) !== 0) {
    throw new UsageError(`${command}: --ring-bytes must be a power of two, got ${ringBytes}`);
  }
  const buffer = str("buffer");
  if (buffer !== undefined && buffer !== "ring" && buffer !== "perf") {
    throw new UsageError(`${command}: --buffer is ring or perf, got '${buffer}'`);
  }
  const session: SessionOptions = {
    json: !!v.json,
    clock: !!v.time,
    elapsed: !!v.timestamp,
    uidColumn: !!v["print-uid"],
    output: str("output"),
    durationMs: duration === undefined ? undefined : duration * 1000,
    count: intOption(command, "count", str("count"), { min: 1 }),
    btf: str("btf"),
    noCache: !!v["no-cache"],
    wakeupBytes: intOption(command, "wakeup-bytes", str("wakeup-bytes")) ?? 65536,
    ringBytes,
    buffer,
    timings: !!v.timings,
    verbose: !!v.verbose,
    cmd,
    asRoot: !!v["as-root"],
    cgroup: nonEmpty(command, "cgroup", str("cgroup")),
    container: containerOption(command, str("container")),
    containersColumn: !!v.containers,
  };
  return {
    values,
    session,
    uid: intOption(command, "uid", str("uid"), { max: 0xfffffffe }),
    name,
  };
}

function nonEmpty(command: string, option: string, value: string | undefined) {
  if (value === "") throw new UsageError(`${command}: --${option} needs a value`);
  return value;
}

/** --container: a container id's first hex digits, or a machine's or LXC container's name. */
function containerOption(command: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === "" || value.includes("/")) {
    throw new UsageError(
      `${command}: --container expects a container id (or its first digits) or name, got '${value}'`,
    );
  }
  return /^[0-9A-F]+$/i.test(value) ? value.toLowerCase() : value;
}

/** A regular expression option, or a UsageError naming it. */
export function regexOption(command: string, option: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (e) {
    throw new UsageError(
      `${command}: --${option}: bad regular expression: ${(e as Error).message}`,
    );
  }
}

/** One of `choices`, or a UsageError naming the option. */
export function choiceOption<C extends string>(
  command: string,
  option: string,
  value: string | undefined,
  choices: readonly C[],
): C | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${command}: --${option} is ${choices.join(" or ")}, got '${value}'`);
  }
  return value as C;
}

/**
 * A tracer command: its arguments parsed into the tracer's own filters and the session
 * options (null for --help, which prints `usage`), then one session.
 */
export function tracerCommand<F, R extends ContextRecord, S extends string>(
  name: string,
  summary: string,
  usage: string,
  parseArgs: (args: string[]) => { filters: F; session: SessionOptions } | null,
  tracer: (filters: F, platform: Platform) => SessionTracer<R, S>,
): Command {
  return {
    name,
    summary,
    async run(args, platform) {
      const opts = parseArgs(args);
      if (!opts) {
        out(platform, usage);
        return 0;
      }
      return await runSession(
        platform,
        { tracers: [tracer(opts.filters, platform)] },
        opts.session,
      );
    },
  };
}
