// The Podman helper (test/containers.ts): the locally built image, a container running the
// workload, its processes' cgroups carrying its id (from outside and from inside), and cleanup.
// Cost: about 3 s (two containers created, one run), plus ~1 s the first time the image is
// built.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import process from "node:process";
import {
  ensureTestImage,
  IMAGE_REPO,
  OWNER_LABEL,
  podman,
  podmanTest,
  TestContainer,
} from "./containers.ts";
import { cgroupId as ownCgroupId } from "./tracer-cli.ts";
import { hierarchies, hierarchyPath, parseProcCgroup, tracerHierarchy } from "./cgroups.ts";

test(
  "ensureTestImage() is idempotent, removes older tags and containers of dead test processes",
  podmanTest(),
  () => {
    const ref = ensureTestImage();
    assert.match(ref, new RegExp(`^${IMAGE_REPO}:[0-9a-f]{16}$`));
    const old = `${IMAGE_REPO}:0000000000000000`;
    podman(["tag", ref, old]);
    const dead = spawnSync("/bin/true").pid!;
    const stale = podman(["create", "--label", `${OWNER_LABEL}=${dead}`, ref, "/workload"]).trim();
    assert.equal(ensureTestImage(), ref);
    const tags = podman([
      "images",
      "--format",
      "{{.Repository}}:{{.Tag}}",
      "--filter",
      `reference=${IMAGE_REPO}`,
    ]);
    assert.deepEqual(tags.trim().split("\n"), [ref]);
    assert.notEqual(
      spawnSync("podman", ["container", "exists", stale]).status,
      0,
      "stale container",
    );
  },
);

test(
  "a container runs the workload: its cgroup carries its id, its steps happen, it is removed",
  podmanTest(),
  async () => {
    const image = ensureTestImage();
    const accepted: Socket[] = [];
    const peers: (number | undefined)[] = [];
    const server = createServer((s) => {
      accepted.push(s);
      peers.push(s.remotePort);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const openPath = `/nonexistent/tracer-ctr-${process.pid}`;
    const c = TestContainer.create(image, { openPath, port });
    let cgroupDir = "";
    try {
      assert.match(c.id, /^[0-9a-f]{64}$/);
      assert.equal(podman(["inspect", "--format", "{{.Id}}", c.id]).trim(), c.id);

      const { hostPid, cgroupOutside, cgroupId } = await c.start();
      if (hierarchies().some((h) => h.version === 2)) {
        assert.ok(cgroupId !== null && cgroupId !== ownCgroupId(), `cgroup id ${cgroupId}`);
      }
      // From outside: every hierarchy's line names the container, in the manager's form.
      const manager = podman(["info", "--format", "{{.Host.CgroupManager}}"]).trim();
      const expected = manager === "systemd"
        ? `/machine.slice/libpod-${c.id}.scope`
        : `/libpod_parent/libpod-${c.id}`;
      for (const h of hierarchies()) {
        assert.equal(hierarchyPath(cgroupOutside, h), expected, `${h.mount}: ${cgroupOutside}`);
      }
      const path = hierarchyPath(cgroupOutside, tracerHierarchy())!;
      cgroupDir = join(tracerHierarchy().mount, path);
      assert.ok(existsSync(join(cgroupDir, "cgroup.procs")));

      const run = await c.finish();
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.hostPid, hostPid);
      assert.equal(run.report.nsPid, 1); // its own pid namespace
      assert.notEqual(hostPid, 1);
      assert.deepEqual(run.report.open, { path: openPath, ret: -2 });
      assert.deepEqual([run.report.connect.dport, run.report.connect.ret], [port, 0]);
      // The host's listener saw that connection, from that port (--network=host).
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(peers, [run.report.connect.sport]);
      // From inside (busybox cat after the exec): the same paths, unless it has its own cgroupns.
      const ns = podman(["inspect", "--format", "{{.HostConfig.CgroupMode}}", c.id]).trim();
      if (ns === "host") {
        assert.deepEqual(parseProcCgroup(run.report.cgroupInside), parseProcCgroup(cgroupOutside));
      } else {
        assert.equal(hierarchyPath(run.report.cgroupInside, tracerHierarchy()), "/");
      }
    } finally {
      for (const s of accepted) s.destroy();
      server.close();
      c.remove();
    }
    assert.notEqual(
      spawnSync("podman", ["container", "exists", c.id]).status,
      0,
      "container remains",
    );
    assert.ok(!existsSync(cgroupDir), `${cgroupDir} remains`);
  },
);
