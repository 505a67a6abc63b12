// The container test material against the tracer: `tracer exec`, `open` and `connect --json`
// (this runtime on src/main.ts, or TRACER_BIN), started before a Podman container and before a
// workload moved into a synthetic Docker cgroup, report exactly the workload's records
// (test/ctr-workload.ts expectedRecords()), each once, with the cgroup_id of the container's or
// the synthetic cgroup's v2 cgroup. Where issue 12's fields (cgroup, container_id, pod_uid) are
// to be asserted: add them to the expected records here.
// Cost: about 3 s (three tracers started at once, one container, one workload).

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import process from "node:process";
import { kernelTest } from "./env.ts";
import { backgroundTracer, jsonLines } from "./tracer-cli.ts";
import { ensureTestImage, podmanTest, TestContainer } from "./containers.ts";
import { CgroupSandbox } from "./cgroups.ts";
import { cgroupNames } from "./cgroup-names.ts";
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
    assert.equal(found.length, 1, `${label}: ${JSON.stringify(e)} matched ${found.length} records`);
  }
}

/** With cgroup_id, where the host has cgroup v2 (without, no v2 id to expect). */
const withCgroupId = (r: PartialRecord, id: number | null) =>
  id === null ? r : { ...r, cgroup_id: id };

const gate = (() => {
  const k = kernelTest();
  return k.skip ? k : podmanTest();
})();

test(
  "exec, open and connect records of a Podman container's workload and of one in a synthetic Docker cgroup",
  gate,
  async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const openPath = `/nonexistent/tracer-records-${process.pid}`;
    const container = TestContainer.create(ensureTestImage(), { openPath, port });
    const sandbox = new CgroupSandbox();
    const tracers = ["exec", "open", "connect"].map((cmd) => backgroundTracer(cmd, ["--json"]));
    try {
      await Promise.all(tracers.map((t) => t.ready));
      const run = await container.run();
      assert.equal(run.status, 0, run.stderr);

      const docker = cgroupNames().find((n) =>
        n.runtime === "docker" && n.layout === "systemd driver"
      )!;
      const cg = sandbox.create(docker.path);
      const argv = workloadArgv(workloadBinary(), `${openPath}-cgroup`, port);
      const child = sandbox.spawn(cg, argv);
      let out = "";
      child.stdout!.on("data", (d) => out += d);
      assert.equal(await new Promise((r) => child.on("exit", r)), 0);

      await new Promise((r) => setTimeout(r, 300)); // the tracers' last drain
      for (const t of tracers) t.child.kill("SIGINT");
      await Promise.all(tracers.map((t) => t.exited));
      const records = tracers.flatMap((t) => jsonLines(t.out()));

      assertRecords(
        "container",
        records,
        expectedRecords(run.report, run.hostPid, container.argv)
          .map((r) => withCgroupId(r, run.cgroupId)),
      );
      assertRecords(
        "synthetic cgroup",
        records,
        expectedRecords(parseReport(out), child.pid!, argv).map((r) => withCgroupId(r, cg.v2Id)),
      );
    } finally {
      for (const t of tracers) if (t.child.exitCode === null) t.child.kill("SIGKILL");
      container.remove();
      await sandbox.remove();
      server.close();
    }
  },
);
