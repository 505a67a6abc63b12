// Container context end to end (this runtime on src/main.ts, or TRACER_BIN): `tracer exec`,
// `open` and `connect --json`, started before the workloads, give every record of a workload the
// `cgroup` (its path in the tracer's hierarchy, test/cgroups.ts), `container_id`, `pod_uid` and
// `cgroup_id` (that directory's inode) of where it ran:
//   - a real Podman container (test/containers.ts), and a synthetic Docker cgroup;
//   - every runtime's naming of test/cgroup-names.ts, made real under a test-unique parent;
// and the filters select exactly: --container ID (a prefix, the containers created after the
// tracer started), --cgroup PATH (a subtree), --container on the Podman container.
// Cost: about 6 s (three tracers per test, ~45 workload runs, one container).

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { statSync } from "node:fs";
import process from "node:process";
import { kernelTest } from "./env.ts";
import { backgroundTracer, jsonLines } from "./tracer-cli.ts";
import { ensureTestImage, podmanTest, TestContainer } from "./containers.ts";
import { CgroupSandbox, hierarchyPath, type SyntheticCgroup, tracerHierarchy } from "./cgroups.ts";
import { cgroupNames, randomIds } from "./cgroup-names.ts";
import {
  expectedRecords,
  parseReport,
  type PartialRecord,
  workloadArgv,
  workloadBinary,
} from "./ctr-workload.ts";

/** Each expected record matches exactly one record (on every field it names). */
function assertRecords(label: string, records: PartialRecord[], expected: PartialRecord[]): void {
  for (const e of expected) {
    const found = records.filter((r) =>
      Object.entries(e).every(([k, v]) => JSON.stringify(r[k]) === JSON.stringify(v))
    );
    assert.equal(
      found.length,
      1,
      `${label}: ${JSON.stringify(e)} matched ${found.length} records; those of its pid:\n` +
        records.filter((r) => r.pid === e.pid && r.type === e.type).map((r) => JSON.stringify(r))
          .join("\n"),
    );
  }
}

/** The context fields every record of a task in cgroup `path` (tracer's hierarchy) carries. */
function context(path: string, containerId: string | null, podUid: string | null = null) {
  return {
    cgroup: path,
    container_id: containerId,
    pod_uid: podUid,
    cgroup_id: statSync(tracerHierarchy().mount + path).ino,
  };
}

const gate = (() => {
  const k = kernelTest();
  return k.skip ? k : podmanTest();
})();

/** A loopback listener for the workloads' connects. */
async function listener() {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port };
}

/** Starts exec, open and connect with `args`; stop() ends them and returns all their records. */
async function threeTracers(args: string[]) {
  const tracers = ["exec", "open", "connect"].map((cmd) => backgroundTracer(cmd, args));
  await Promise.all(tracers.map((t) => t.ready));
  return {
    async stop(): Promise<PartialRecord[]> {
      await new Promise((r) => setTimeout(r, 300)); // the tracers' last drain
      for (const t of tracers) t.child.kill("SIGINT");
      await Promise.all(tracers.map((t) => t.exited));
      return tracers.flatMap((t) => jsonLines(t.out()));
    },
    kill() {
      for (const t of tracers) if (t.child.exitCode === null) t.child.kill("SIGKILL");
    },
  };
}

/** Runs the workload in `cg`; its expected records (pid known once it ran). */
async function runIn(sandbox: CgroupSandbox, cg: SyntheticCgroup, openPath: string, port: number) {
  const argv = workloadArgv(workloadBinary(), openPath, port);
  const child = sandbox.spawn(cg, argv);
  let out = "";
  child.stdout!.on("data", (d) => out += d);
  assert.equal(await new Promise((r) => child.on("exit", r)), 0, `workload in ${cg.path}`);
  return { pid: child.pid!, expected: expectedRecords(parseReport(out), child.pid!, argv) };
}

test(
  "a Podman container's and a synthetic Docker cgroup's records: cgroup, container_id, pod_uid; --container on the container",
  gate,
  async () => {
    const { server, port } = await listener();
    const openPath = `/nonexistent/tracer-records-${process.pid}`;
    const container = TestContainer.create(ensureTestImage(), { openPath, port });
    const sandbox = new CgroupSandbox();
    const all = await threeTracers(["--json"]);
    // Started before the container: --container follows it from its first exec.
    const only = backgroundTracer("exec", ["--json", "--container", container.id.slice(0, 12)]);
    try {
      await only.ready;
      const started = await container.start();
      // Read while it runs: the runtime removes the cgroup when the container exits.
      const where = hierarchyPath(started.cgroupOutside, tracerHierarchy())!;
      assert.match(where, new RegExp(`libpod-${container.id}`));
      const inContainer = context(where, container.id);
      const run = await container.finish();
      assert.equal(run.status, 0, run.stderr);
      const docker = cgroupNames().find((n) =>
        n.runtime === "docker" && n.layout === "systemd driver"
      )!;
      const cg = sandbox.create(docker.path);
      const synthetic = await runIn(sandbox, cg, `${openPath}-cgroup`, port);
      const records = await all.stop();
      await new Promise((r) => setTimeout(r, 300));
      only.child.kill("SIGINT");
      await only.exited;

      assertRecords(
        "container",
        records,
        expectedRecords(run.report, run.hostPid, container.argv)
          .map((r) => ({ ...r, ...inContainer })),
      );
      assertRecords(
        "synthetic cgroup",
        records,
        synthetic.expected.map((r) => ({ ...r, ...context(cg.path, docker.containerId) })),
      );
      // --container: the container's execs (its runtime's init exec'ing the workload, the
      // workload's busybox), none of anything else.
      const mine = jsonLines(only.out());
      assertRecords(
        "--container",
        mine,
        expectedRecords(run.report, run.hostPid, container.argv)
          .filter((r) => r.type === "exec").map((r) => ({ ...r, ...inContainer })),
      );
      for (const r of mine) assert.equal(r.container_id, container.id, JSON.stringify(r));
    } finally {
      all.kill();
      if (only.child.exitCode === null) only.child.kill("SIGKILL");
      container.remove();
      await sandbox.remove();
      server.close();
    }
  },
);

test(
  "every runtime's cgroup naming (test/cgroup-names.ts): exact cgroup, container_id and pod_uid on exec, open and connect",
  kernelTest(),
  async () => {
    const { server, port } = await listener();
    const sandbox = new CgroupSandbox({ only: "tracer" });
    const tracers = await threeTracers(["--json"]);
    try {
      const expected: PartialRecord[] = [];
      for (const [i, n] of cgroupNames().entries()) {
        const cg = sandbox.create(n.path);
        const run = await runIn(sandbox, cg, `/nonexistent/tracer-names-${process.pid}-${i}`, port);
        const ctx = context(cg.path, n.containerId, n.podUid);
        expected.push(...run.expected.map((r) => ({ ...r, ...ctx })));
      }
      assertRecords("naming", await tracers.stop(), expected);
    } finally {
      tracers.kill();
      await sandbox.remove();
      server.close();
    }
  },
);

test(
  "--container ID and --cgroup PATH: exactly the records of the cgroups they name, created after the start",
  kernelTest(),
  async () => {
    const { server, port } = await listener();
    const sandbox = new CgroupSandbox({ only: "tracer" });
    const a = randomIds(), b = randomIds();
    const pick = (ids: typeof a, runtime: string, layout: RegExp) =>
      cgroupNames(ids).find((n) => n.runtime === runtime && layout.test(n.layout))!;
    const dockerA = pick(a, "docker", /^systemd driver$/);
    const dockerB = pick(b, "docker", /^cgroupfs driver$/);
    const pod = pick(b, "containerd", /burstable/);
    assert.ok(pod.podUid && pod.containerId, pod.layout);
    // The --cgroup subtree: the pod's cgroup (it must exist at the start), its container's
    // cgroup made after.
    const podDir = sandbox.create(pod.path.slice(0, pod.path.lastIndexOf("/"))).path;
    const byId = await threeTracers(["--json", "--container", a.id.slice(0, 12)]);
    const byCgroup = await threeTracers(["--json", "--cgroup", podDir]);
    // All three in one stream: everything container A does, in time order.
    const watch = backgroundTracer("watch", ["--json", "--container", a.id.slice(0, 12)]);
    try {
      await watch.ready;
      const runs = new Map<string, Awaited<ReturnType<typeof runIn>>>();
      for (const [k, n] of [["a", dockerA], ["b", dockerB], ["pod", pod]] as const) {
        runs.set(k, await runIn(sandbox, sandbox.create(n.path), `/nonexistent/f-${k}`, port));
      }
      // A cgroup of no container: in neither.
      await runIn(sandbox, sandbox.create("/plain"), "/nonexistent/f-plain", port);

      const got = await byId.stop();
      assertRecords("--container", got, runs.get("a")!.expected);
      for (const r of got) assert.equal(r.container_id, a.id, JSON.stringify(r));
      watch.child.kill("SIGINT");
      await watch.exited;
      const stream = jsonLines(watch.out());
      assertRecords("watch --container", stream, runs.get("a")!.expected);
      for (const r of stream) assert.equal(r.container_id, a.id, JSON.stringify(r));
      const times = stream.map((r) => Number(r.time_ns));
      assert.deepEqual(times, [...times].sort((x, y) => x - y), "watch: in time order");

      const sub = await byCgroup.stop();
      assertRecords(
        "--cgroup",
        sub,
        runs.get("pod")!.expected.map((r) => ({ ...r, pod_uid: pod.podUid })),
      );
      for (const r of sub) {
        assert.ok(String(r.cgroup).startsWith(podDir + "/"), JSON.stringify(r));
      }
    } finally {
      if (watch.child.exitCode === null) watch.child.kill("SIGKILL");
      byId.kill();
      byCgroup.kill();
      await sandbox.remove();
      server.close();
    }
  },
);
