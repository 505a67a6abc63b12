// Test helper (not a test): the container workload (test/fixtures/container/workload.c), built
// statically, and its report. It runs in a Podman container (test/containers.ts) and in
// synthetic cgroups (test/cgroups.ts): one open of a path, one TCP connect to 127.0.0.1:PORT,
// then an exec of /bin/busybox as `cat /proc/self/cgroup`.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { compile, ROOT } from "./tracer-cli.ts";

export const WORKLOAD_SOURCE = join(ROOT, "test/fixtures/container/workload.c");
/** What the workload execs last (busybox-static's, in the image and on the host). */
export const EXEC_TARGET = "/bin/busybox";

/**
 * The static workload binary: compiled once per source (kept in the temp dir under a name
 * holding the source's hash, so runs reuse it and nothing accumulates; written under a
 * temporary name and renamed, so concurrent test processes never see half a file).
 */
export function workloadBinary(): string {
  const hash = createHash("sha256").update(readFileSync(WORKLOAD_SOURCE)).digest("hex");
  const bin = join(tmpdir(), `tracer-ctr-workload-${hash.slice(0, 16)}`);
  if (!existsSync(bin)) {
    const partial = `${bin}.${process.pid}.tmp`;
    compile(WORKLOAD_SOURCE, partial, ["-O1", "-static"]);
    renameSync(partial, bin);
  }
  return bin;
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

/** A record's fields as `tracer exec|open|connect --json` prints them (a subset to match). */
export type PartialRecord = Record<string, unknown>;

/**
 * The records the workload's run must produce, in order, each as the subset of JSON fields
 * this run fixes (add `cgroup`, `container_id`, `pod_uid`, `cgroup_id` to each as the test
 * knows them): its exec (`argv` as run: the container's or workloadArgv()'s), its open, its
 * connect, the exec of busybox and busybox's open of /proc/self/cgroup. `pid` is the
 * workload's pid in the host's pid namespace. A tracer also sees what ran before the exec in
 * the same cgroup (a container runtime's init, the /bin/sh that moved into a synthetic cgroup):
 * select by pid and these fields, never by count alone.
 */
export function expectedRecords(
  report: WorkloadReport,
  pid: number,
  argv: string[],
): PartialRecord[] {
  const comm = argv[0].slice(argv[0].lastIndexOf("/") + 1).slice(0, 15);
  return [
    { type: "exec", pid, tid: pid, comm, filename: argv[0], args: argv, ret: 0 },
    {
      type: "open",
      pid,
      tid: pid,
      comm,
      path: report.open.path,
      syscall: "openat",
      flags: "O_RDONLY",
      ret: report.open.ret,
    },
    {
      type: "connect",
      pid,
      tid: pid,
      comm,
      family: 4,
      saddr: "127.0.0.1",
      sport: report.connect.sport,
      daddr: "127.0.0.1",
      dport: report.connect.dport,
      // Its outcome when it connected (else the caller knows the errno's name).
      ...(report.connect.ret === 0 ? { result: "ok", error: null } : {}),
    },
    {
      type: "exec",
      pid,
      tid: pid,
      comm: "busybox",
      filename: EXEC_TARGET,
      args: ["cat", "/proc/self/cgroup"],
      ret: 0,
    },
    { type: "open", pid, tid: pid, comm: "busybox", path: "/proc/self/cgroup", flags: "O_RDONLY" },
  ];
}
