// Test helper (not a test): the container workload (test/fixtures/container/workload.c), built
// statically, and its report. It runs in a Podman container (test/containers.ts) and in
// synthetic cgroups (test/cgroups.ts): one open of a path, one TCP connect to 127.0.0.1:PORT,
// then an exec of /bin/busybox as `cat /proc/self/cgroup`.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile, ROOT } from "./tracer-cli.ts";

export const WORKLOAD_SOURCE = join(ROOT, "test/fixtures/container/workload.c");
/** What the workload execs last (busybox-static's, in the image and on the host). */
export const EXEC_TARGET = "/bin/busybox";

let built: string | undefined;
/** The static workload binary, compiled once per test process. */
export function workloadBinary(): string {
  built ??= compile(
    WORKLOAD_SOURCE,
    join(mkdtempSync(join(tmpdir(), "ctr-workload-")), "ctr-workload"),
    ["-O1", "-static"],
  );
  return built;
}

/** argv for the workload at `bin`; `wait`: it waits for a byte on stdin before its steps. */
export function workloadArgv(bin: string, openPath: string, port: number, wait = false): string[] {
  return [bin, ...(wait ? ["--wait"] : []), openPath, String(port)];
}

export interface WorkloadReport {
  /** Its pid as its own pid namespace numbers it (1 in a container). */
  nsPid: number;
  open: { path: string; ret: number };
  connect: { sport: number; dport: number; ret: number };
  /** What the exec'd busybox cat printed: /proc/self/cgroup seen from inside. */
  cgroupInside: string;
}

/** Parses the workload's stdout; throws naming the step that is missing. */
export function parseReport(stdout: string): WorkloadReport {
  const lines = stdout.split("\n");
  const take = (tag: string) => {
    const i = lines.findIndex((l) => l.startsWith(tag + " "));
    if (i < 0) throw new Error(`workload report has no "${tag}" line: ${JSON.stringify(stdout)}`);
    return { fields: lines[i].split(" ").slice(1), at: i };
  };
  const ready = take("ready");
  const open = take("open");
  const connect = take("connect");
  const [sport, dport, ret] = connect.fields.map(Number);
  return {
    nsPid: Number(ready.fields[0]),
    // The path may hold spaces: everything between "open " and the last field.
    open: { path: open.fields.slice(0, -1).join(" "), ret: Number(open.fields.at(-1)) },
    connect: { sport, dport, ret },
    cgroupInside: lines.slice(connect.at + 1).join("\n"),
  };
}
