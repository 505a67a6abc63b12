// The container and pod a cgroup path names (src/tracers/container.ts), against the
// hand-derived table of test/cgroup-names.ts (every runtime's naming, nested forms, and paths
// that name no container), at the root and below a parent (pure, milliseconds); and, on the
// kernel, that a cgroup's verdict drops its records before the ring buffer (about 0.5 s).

import { test } from "node:test";
import assert from "node:assert/strict";
import { containerOf } from "../src/tracers/container.ts";
import { cgroupNames, randomIds } from "./cgroup-names.ts";
import { cgroupArgument } from "../src/tracers/session-context.ts";
import { ContextResolver, isUnder } from "../src/tracers/context.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTest, scratchDir } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import { startTracer } from "../src/tracers/run.ts";
import { openTracer } from "../src/tracers/open.ts";
import { CgroupPaths, chooseHierarchy, hostHierarchy } from "../src/kernel/cgroupfs.ts";
import { CgroupSandbox } from "./cgroups.ts";

test("containerOf: every runtime's cgroup names, nested forms, and no-container paths", () => {
  const wrong: string[] = [];
  for (let round = 0; round < 5; round++) {
    for (const n of cgroupNames()) {
      for (const parent of ["", "/tracer-test-1-2"]) {
        const path = parent + n.path;
        const got = containerOf(path);
        if (got.containerId !== n.containerId || got.podUid !== n.podUid) {
          wrong.push(`${n.runtime} (${n.layout}): ${path}: got ${JSON.stringify(got)}`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
});

test("--cgroup argument: as the field prints it, or the directory's full path", () => {
  const m = "/sys/fs/cgroup/memory";
  assert.equal(cgroupArgument("/docker/abc", m), "/docker/abc");
  assert.equal(cgroupArgument("docker/abc/", m), "/docker/abc");
  assert.equal(cgroupArgument("/sys/fs/cgroup/memory/docker/abc", m), "/docker/abc");
  assert.equal(cgroupArgument("/sys/fs/cgroup/memory", m), "/");
  assert.equal(cgroupArgument("/", m), "/");
  const e = new TextEncoder();
  assert.ok(isUnder(e.encode("/docker/abc/x"), e.encode("/docker/abc")));
  assert.ok(isUnder(e.encode("/docker/abc"), e.encode("/docker/abc")));
  assert.ok(!isUnder(e.encode("/docker/abcd"), e.encode("/docker/abc")));
  assert.ok(isUnder(e.encode("/anything"), e.encode("/")));
});

test("chooseHierarchy: pure v2, hybrid (v1 memory), v1 without memory, none", () => {
  const cgroups = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\n" +
    "cpu\t1\t1\t1\ncpuacct\t2\t1\t1\nblkio\t7\t1\t1\nmemory\t4\t9\t1\ndevices\t5\t1\t1\n" +
    "freezer\t6\t1\t1\nnet_cls\t0\t1\t1\npids\t8\t1\t1\n";
  const v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n";
  assert.deepEqual(chooseHierarchy(v2, cgroups), {
    version: 2,
    hierarchyId: 0,
    mount: "/sys/fs/cgroup",
  });
  const hybrid = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n" +
    "cgroup /sys/fs/cgroup/systemd cgroup rw,xattr,name=systemd 0 0\n" +
    "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n" +
    "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,memory 0 0\n";
  assert.deepEqual(chooseHierarchy(hybrid, cgroups), {
    version: 1,
    controller: "memory",
    subsysIndex: 4,
    hierarchyId: 4,
    mount: "/sys/fs/cgroup/memory",
  });
  const noMemory = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n" +
    "cgroup /sys/fs/cgroup/my\\040dir cgroup rw,blkio 0 0\n";
  assert.deepEqual(chooseHierarchy(noMemory, cgroups), {
    version: 1,
    controller: "cpu",
    subsysIndex: 1,
    hierarchyId: 1,
    mount: "/sys/fs/cgroup/cpu,cpuacct",
  });
  // Only a named hierarchy (no controller) on v1: not one that names containers.
  const named = "cgroup /sys/fs/cgroup/systemd cgroup rw,name=systemd 0 0\n" + v2;
  assert.equal(chooseHierarchy(named, cgroups)?.version, 2);
  assert.equal(chooseHierarchy("proc /proc proc rw 0 0\n", cgroups), null);
});

test(
  "in the kernel: --container's verdict per cgroup drops a cgroup's records before the ring buffer, once seen",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const dir = scratchDir("ctr-filter-");
    const file = join(dir, "f");
    writeFileSync(file, "x");
    const sandbox = new CgroupSandbox({ only: "tracer" });
    const a = randomIds(), b = randomIds();
    const name = (ids: typeof a) =>
      cgroupNames(ids).find((n) => n.runtime === "docker" && n.layout === "systemd driver")!;
    const hierarchy = hostHierarchy()!;
    const context = new ContextResolver(new CgroupPaths(hierarchy), hierarchy, {
      container: a.id.slice(0, 12),
    });
    // Only opens of this test's file: the other opens of the moving shell and cat never count.
    const t = startTracer(p, openTracer({ pathPrefix: new TextEncoder().encode(dir) }), {
      context,
    });
    try {
      const inA = sandbox.create(name(a).path), inB = sandbox.create(name(b).path);
      const catIn = (cg: typeof inA) =>
        assert.equal(sandbox.run(cg, ["/bin/cat", file]).status, 0, cg.path);
      const read = () => {
        const got: string[] = [];
        const samples = t.drain((r) => got.push(r.context!.containerId!));
        return { samples, got };
      };
      catIn(inB);
      // B has no verdict yet: its record comes up, is dropped here, and B's verdict is stored.
      assert.deepEqual(read(), { samples: 1, got: [] });
      catIn(inB);
      catIn(inB);
      // Now the kernel drops B's records: nothing reaches the ring.
      assert.deepEqual(read(), { samples: 0, got: [] });
      catIn(inA);
      catIn(inA);
      assert.deepEqual(read(), { samples: 2, got: [a.id, a.id] });
    } finally {
      t.close();
      await sandbox.remove();
    }
  },
);

test(
  "a cgroup removed before its records are read is still named: the kernel announced it when it was made",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const dir = scratchDir("ctr-gone-");
    const file = join(dir, "f");
    writeFileSync(file, "x");
    const sandbox = new CgroupSandbox({ only: "tracer" });
    const ids = randomIds();
    const docker = cgroupNames(ids).find((n) =>
      n.runtime === "docker" && n.layout === "cgroupfs driver"
    )!;
    const hierarchy = hostHierarchy()!;
    const paths = new CgroupPaths(hierarchy);
    const context = new ContextResolver(paths, hierarchy);
    const t = startTracer(p, openTracer({ pathPrefix: new TextEncoder().encode(dir) }), {
      context,
    });
    try {
      paths.walk(); // everything there before: the new cgroup can only come from the kernel
      const walks = paths.walks;
      const cg = sandbox.create(docker.path);
      assert.equal(sandbox.run(cg, ["/bin/cat", file]).status, 0);
      await sandbox.remove(); // the container is gone before the tracer reads its record
      const got: (string | null)[][] = [];
      t.drain((r) => got.push([r.context!.containerId, text(r.context!.cgroup)]));
      assert.deepEqual(got, [[ids.id, cg.path]]);
      assert.equal(paths.walks, walks, "named from the announcement, no walk");
    } finally {
      t.close();
      await sandbox.remove();
    }
  },
);

const text = (b: Uint8Array | null) => b && new TextDecoder().decode(b);
