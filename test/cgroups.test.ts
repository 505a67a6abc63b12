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
import { cgroupNames, randomIds } from "./cgroup-names.ts";
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

/** mountinfo lines of cgroup mounts: [mount point, fstype, super options]. */
const mountinfo = (mounts: [string, string, string][]) =>
  mounts.map(([at, fs, opts], i) =>
    `${30 + i} 24 0:${
      26 + i
    } / ${at} rw,nosuid,nodev,noexec,relatime shared:${i} - ${fs} cgroup ${opts}`
  ).join("\n");

test("the tracer's hierarchy on each host layout: pure v2, hybrid, v1, v2 beside a named-only v1", () => {
  const pick = (m: [string, string, string][]) => {
    const h = tracerHierarchy(hierarchies(mountinfo(m)));
    return [h.version, h.mount, h.controllers.join(",")];
  };
  // Pure v2 (systemd's unified mode).
  assert.deepEqual(pick([["/sys/fs/cgroup", "cgroup2", "rw,nsdelegate,memory_recursiveprot"]]), [
    2,
    "/sys/fs/cgroup",
    "",
  ]);
  // Hybrid, as systemd mounts it and as this machine has it: v1 memory.
  const hybrid: [string, string, string][] = [
    ["/sys/fs/cgroup/unified", "cgroup2", "rw,nsdelegate"],
    ["/sys/fs/cgroup/systemd", "cgroup", "rw,xattr,name=systemd"],
    ["/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"],
    ["/sys/fs/cgroup/memory", "cgroup", "rw,memory"],
    ["/sys/fs/cgroup/pids", "cgroup", "rw,pids"],
  ];
  assert.deepEqual(pick(hybrid), [1, "/sys/fs/cgroup/memory", "memory"]);
  // v1 without a memory hierarchy: the first with a controller, not the named one.
  assert.deepEqual(pick(hybrid.filter(([at]) => !at.endsWith("memory")).slice(1)), [
    1,
    "/sys/fs/cgroup/cpu,cpuacct",
    "cpu,cpuacct",
  ]);
  // v2 beside a v1 hierarchy that carries no controller (name=systemd only): v2.
  assert.deepEqual(pick(hybrid.slice(0, 2)), [2, "/sys/fs/cgroup/unified", ""]);
  // The same hierarchy mounted twice counts once; release_agent and noprefix are not controllers.
  const twice = hierarchies(mountinfo([
    ["/sys/fs/cgroup/cpuset", "cgroup", "rw,cpuset,noprefix,release_agent=/sbin/x"],
    ["/mnt/cpuset", "cgroup", "rw,cpuset,noprefix,release_agent=/sbin/x"],
  ]));
  assert.deepEqual(twice, [{
    version: 1,
    controllers: ["cpuset"],
    mount: "/sys/fs/cgroup/cpuset",
  }]);
});

test("the naming table: paths unique and absolute; each expected id and pod uid is in its path", () => {
  const ids = randomIds();
  const names = cgroupNames(ids);
  assert.equal(new Set(names.map((n) => n.path)).size, names.length);
  for (const n of names) {
    assert.ok(n.path.startsWith("/") && !n.path.includes("//"), n.path);
    if (n.containerId) {
      const written = [n.containerId, n.containerId.replaceAll("-", "\\x2d")];
      assert.ok(written.some((w) => n.path.includes(w)), `${n.layout}: ${n.path}`);
      assert.ok([ids.id, ids.outer, ids.machine].includes(n.containerId), n.layout);
    }
    if (n.podUid) {
      assert.equal(n.podUid, ids.podUid);
      const written = n.path.includes("kubepods.slice") || n.path.includes("kubelet.slice")
        ? n.podUid.replaceAll("-", "_")
        : n.podUid;
      assert.ok(n.path.includes(`pod${written}`), `${n.layout}: ${n.path}`);
    }
  }
  // Fresh ids each time: nothing can be hard-coded.
  assert.notEqual(randomIds().id, ids.id);
});

test("parseProcCgroup / hierarchyPath: v1 lines by their controllers in any order, v2 by 0::", () => {
  const text = "4:memory:/a\n3:cpuacct,cpu:/b\n1:name=systemd:/c\n0::/d\n";
  const h = (version: 1 | 2, controllers: string[]) => ({ version, controllers, mount: "/x" });
  assert.equal(hierarchyPath(text, h(1, ["memory"])), "/a");
  assert.equal(hierarchyPath(text, h(1, ["cpu", "cpuacct"])), "/b");
  assert.equal(hierarchyPath(text, h(1, ["name=systemd"])), "/c");
  assert.equal(hierarchyPath(text, h(2, [])), "/d");
  assert.equal(hierarchyPath(text, h(1, ["pids"])), undefined);
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
