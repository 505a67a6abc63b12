// Fuzz target of the CLI's argument parser: argument vectors of option names, values and
// hostile strings (tokens recombined from a pool and mutated), parsed by the exec, open and
// connect parsers. Any input ends in options or a UsageError.

import { UsageError } from "../../src/errors.ts";
import { parseExecArgs } from "../../src/cli/exec.ts";
import { parseOpenArgs } from "../../src/cli/open.ts";
import { parseConnectArgs } from "../../src/cli/connect.ts";
import { hostileBytes } from "./events.ts";
import type { Rand } from "./rng.ts";
import type { FuzzTarget } from "./target.ts";

const PARSERS = [
  (a: string[]) => parseExecArgs(a),
  (a: string[]) => parseOpenArgs(a, "x64"),
  (a: string[]) => parseOpenArgs(a, "arm64"),
  (a: string[]) => parseConnectArgs(a),
];

const OPTIONS = [
  "-x",
  "--failed",
  "--failed-only",
  "-u",
  "--uid",
  "--ppid",
  "-n",
  "--name",
  "-T",
  "--time",
  "-t",
  "--timestamp",
  "-U",
  "--print-uid",
  "--max-args",
  "-j",
  "--json",
  "-o",
  "--output",
  "-d",
  "--duration",
  "-c",
  "--count",
  "--btf",
  "--hooks",
  "--buffer",
  "--ring-bytes",
  "--wakeup-bytes",
  "--timings",
  "-v",
  "--verbose",
  "-h",
  "--help",
  "--",
  "-p",
  "--pid",
  "--tid",
  "-f",
  "--flag",
  "-F",
  "--full-path",
  "--path",
  "-e",
  "--extended",
  "-P",
  "--port",
  "-L",
  "--lport",
  "-4",
  "--ipv4",
  "-6",
  "--ipv6",
  "--min-latency",
  "--attach",
  "-xF",
  "-jTU",
  "--uid=0",
  "--name=",
  "--flag=O_CREAT",
  "-",
  "---",
  "--no-json",
];
const VALUES = [
  "0",
  "1",
  "-1",
  "4096",
  "65536",
  "4294967295",
  "4294967296",
  "1e3",
  "0x10",
  "1.5",
  "NaN",
  "Infinity",
  "-0",
  "99999999999999999999",
  "",
  " ",
  "tp_btf",
  "tracepoint",
  "ring",
  "perf",
  "fentry",
  "kprobe",
  "O_WRONLY",
  "O_CREAT|O_TRUNC",
  "tmpfile",
  "o_rdwr",
  "0x40",
  "80,443",
  "1,2,3,4,5,6,7,8,9",
  "65536",
  ",",
  "(",
  "[a-",
  "a{2,1}",
  "(?<n>x)\\k<n>",
  "(a+)+$",
  "/tmp",
  "/dev/null",
  "--",
  "true",
  "/bin/true",
];

function token(rand: Rand): string {
  switch (rand(6)) {
    case 0:
    case 1:
      return OPTIONS[rand(OPTIONS.length)];
    case 2:
    case 3:
      return VALUES[rand(VALUES.length)];
    case 4: {
      const o = OPTIONS[rand(OPTIONS.length)];
      return o.startsWith("--")
        ? `${o}=${VALUES[rand(VALUES.length)]}`
        : o + VALUES[rand(VALUES.length)];
    }
    default:
      return new TextDecoder().decode(hostileBytes(rand, 12));
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export const cliTarget: FuzzTarget = {
  name: "cli",
  about: "argument parsers of exec, open (x64 and arm64 flag names) and connect: " +
    "vectors of option names, values and hostile strings",
  prepare() {
    return {
      generate(rand) {
        const argv: string[] = [];
        for (let i = 0, n = rand(8); i < n; i++) argv.push(token(rand));
        // Arguments are NUL-separated in the saved input (a C argv cannot hold a NUL).
        return enc.encode(argv.map((a) => a.replaceAll("\0", "")).join("\0"));
      },
      run(input) {
        const text = dec.decode(input);
        const argv = text === "" ? [] : text.split("\0");
        for (const parse of PARSERS) {
          try {
            parse(argv);
          } catch (e) {
            if (!(e instanceof UsageError)) throw e;
          }
        }
      },
      allowed: (e) => e instanceof UsageError,
    };
  },
};
