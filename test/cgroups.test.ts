// The synthetic-cgroup helpers (test/cgroups.ts) and the naming table (test/cgroup-names.ts):
// each runtime's cgroup is made in every mounted hierarchy, a process moved into it sees exactly
// that path on every line of its /proc/self/cgroup, the container workload runs its steps
// there, and everything made is removed afterwards, also with a process still inside.
// Cost: about 1 s (one short process per name, ~40 names).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statfsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import {
  CgroupSandbox,
  cgroupTest,
  hierarchies,
  hierarchyPath,
  removeStaleSandboxes,
  type SyntheticCgroup,
  tracerHierarchy,
} from "./cgroups.ts";
import { cgroupNames } from "./cgroup-names.ts";
import { parseReport, workloadArgv, workloadBinary } from "./ctr-workload.ts";

const CGROUP2_MAGIC = 0x63677270;

/** The dir of `cg` in each hierarchy no longer exists, nor the sandbox's top. */
function assertGone(sandbox: CgroupSandbox, cgs: SyntheticCgroup[]): void {
  for (const cg of cgs) for (const d of cg.dirs) assert.ok(!existsSync(d), `${d} remains`);
  for (const h of sandbox.hierarchies) {
    assert.ok(!existsSync(join(h.mount, sandbox.prefix)), `${h.mount}${sandbox.prefix} remains`);
  }
}

test("the tracer's hierarchy: v2 on a pure v2 host, else v1 memory (as /sys/fs/cgroup's layout shows)", () => {
  const h = tracerHierarchy();
  if (statfsSync("/sys/fs/cgroup").type === CGROUP2_MAGIC) {
    assert.deepEqual([h.version, h.mount], [2, "/sys/fs/cgroup"]);
  } else if (existsSync("/sys/fs/cgroup/memory/cgroup.procs")) {
    assert.equal(h.version, 1);
    assert.ok(h.controllers.includes("memory"), h.controllers.join(","));
    assert.equal(h.mount, "/sys/fs/cgroup/memory");
  }
  // This process's line for it is one of /proc/self/cgroup's.
  assert.notEqual(hierarchyPath(readFileSync("/proc/self/cgroup", "utf8"), h), undefined);
});

test(
  "every runtime's cgroup name: made in every hierarchy, a process inside sees exactly it, all removed",
  cgroupTest(),
  async () => {
    const sandbox = new CgroupSandbox();
    const names = cgroupNames();
    const made: SyntheticCgroup[] = [];
    try {
      assert.equal(sandbox.hierarchies.length, hierarchies().length);
      for (const n of names) {
        const cg = sandbox.create(n.path);
        made.push(cg);
        assert.equal(cg.path, n.path === "/" ? sandbox.prefix : sandbox.prefix + n.path);
        const r = sandbox.run(cg, ["/bin/cat", "/proc/self/cgroup"]);
        assert.equal(r.status, 0, `${n.path}: ${r.stderr}`);
        for (const h of sandbox.hierarchies) {
          assert.equal(
            hierarchyPath(r.stdout, h),
            cg.path,
            `${n.runtime} ${n.layout} in ${h.mount}`,
          );
        }
      }
    } finally {
      await sandbox.remove();
    }
    assertGone(sandbox, made);
  },
);

test(
  "the container workload in a synthetic Docker cgroup: its open, connect and exec, there",
  cgroupTest(),
  async () => {
    const sandbox = new CgroupSandbox({ only: "tracer" });
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const name = cgroupNames().find((n) =>
      n.layout === "cgroupfs driver" && n.runtime === "docker"
    )!;
    const openPath = `/nonexistent/tracer-cgroups-${process.pid}`;
    try {
      const cg = sandbox.create(name.path);
      const child = sandbox.spawn(cg, workloadArgv(workloadBinary(), openPath, port));
      let out = "";
      child.stdout!.on("data", (d) => out += d);
      const status = await new Promise((r) => child.on("exit", (code) => r(code)));
      assert.equal(status, 0, out);
      const report = parseReport(out);
      assert.equal(report.nsPid, child.pid);
      assert.deepEqual(report.open, { path: openPath, ret: -2 });
      assert.equal(report.connect.ret, 0);
      assert.equal(report.connect.dport, port);
      assert.ok(report.connect.sport > 0);
      assert.equal(hierarchyPath(report.cgroupInside, tracerHierarchy()), cg.path);
      assert.ok(cg.path.endsWith(`/docker/${name.containerId}`));
    } finally {
      server.close();
      await sandbox.remove();
    }
  },
);

test(
  "remove() kills what still runs inside, then removes every directory",
  cgroupTest(),
  async () => {
    const sandbox = new CgroupSandbox();
    const cg = sandbox.create("/kubepods/besteffort/podx/sleeper");
    const child = sandbox.spawn(cg, ["/bin/sleep", "30"]);
    const exited = new Promise<string | null>((r) => child.on("exit", (_c, sig) => r(sig)));
    // Wait until it has moved itself into the last hierarchy (it moves in order, then execs).
    const procs = join(cg.dirs.at(-1)!, "cgroup.procs");
    while (!readFileSync(procs, "utf8").includes(String(child.pid))) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await sandbox.remove();
    assert.equal(await exited, "SIGKILL");
    assertGone(sandbox, [cg]);
  },
);

test(
  "removeStaleSandboxes() removes the sandbox of a test process that died",
  cgroupTest(),
  async () => {
    const dead = spawnSync("/bin/true").pid!;
    const sandbox = new CgroupSandbox({ prefix: `/tracer-test-${dead}` });
    const cg = sandbox.create("/system.slice/docker-0.scope");
    const removed = await removeStaleSandboxes();
    for (const h of sandbox.hierarchies) assert.ok(removed.includes(join(h.mount, sandbox.prefix)));
    assertGone(sandbox, [cg]);
    // Its own sandbox (this process runs) is never stale.
    const mine = new CgroupSandbox();
    mine.create("/docker");
    try {
      assert.ok(!(await removeStaleSandboxes()).some((d) => d.endsWith(mine.prefix)));
    } finally {
      await mine.remove();
    }
  },
);
