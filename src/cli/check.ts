// `tracer check`: what this host's kernel offers the tracer, each line probed by the kernel.

import type { Command } from "./command.ts";
import { out, parse } from "./command.ts";
import { type CheckReport, runProbes } from "../kernel/readiness.ts";
import { probeConnectStrategy } from "../tracers/connect-probe.ts";

const HELP = `usage: tracer check [--json]

Probes the running kernel by loading (and where cheap, attaching) tiny BPF programs, and
reports each feature the tracer can use. Exit status 0 when the host has what the tracers
need (privileges, BTF, bpf(), a ring or perf buffer, tracepoints), 1 otherwise (the missing
pieces are listed with what to do).

  --json     one JSON object: {ok, kernel, runtime, features: [{feature, available, detail, errno?}], missing}
  -h, --help this text
`;

/** The report as an aligned table: one line per feature, then the verdict. */
export function formatCheckTable(r: CheckReport): string {
  const w = Math.max(...r.features.map((f) => f.feature.length));
  const lines = [`kernel ${r.kernel} (${r.runtime})`];
  for (const f of r.features) {
    lines.push(`${f.feature.padEnd(w)}  ${f.available ? "yes" : "no "}  ${f.detail}`);
  }
  lines.push("");
  if (r.ok) {
    lines.push(
      "ok: this host can run the tracers (privileges, BTF, bpf(), event buffers, tracepoints)",
    );
  } else {
    lines.push("not ready: the tracers need:");
    for (const m of r.missing) lines.push(`  - ${m}`);
  }
  return lines.join("\n") + "\n";
}

export const checkCommand: Command = {
  name: "check",
  summary: "report what this host's kernel offers the tracer (probed, not guessed)",
  run(args, platform) {
    const { values } = parse("check", args, {
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      out(platform, HELP);
      return Promise.resolve(0);
    }
    const report = runProbes(platform);
    // Which attach strategy `tracer connect` would use (it loads and attaches it).
    if (report.ok) report.features.push(probeConnectStrategy(platform));
    out(platform, values.json ? JSON.stringify(report) + "\n" : formatCheckTable(report));
    return Promise.resolve(report.ok ? 0 : 1);
  },
};
