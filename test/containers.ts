// Test helper (not a test): a real container, run by Podman from a locally built image (no
// registry, no network), running the container workload (test/ctr-workload.ts).
//
// The image `localhost/tracer-test:<hash>` holds /bin/busybox (busybox-static) and /workload
// (the static workload); its tag is a hash of both, so ensureTestImage() builds it only when
// one changed (`podman import` of a tar made here, under a second) and removes older tags.
//
// What Podman needs on this machine (hybrid cgroups, PID 1 not systemd, root without
// CAP_SYS_RESOURCE), found by running it:
// - runc where crun refuses: crun (1.8) will not run on a hybrid host whose cgroup v2 root
//   offers any controller ("cgroups in hybrid mode not supported, drop all controllers from
//   cgroupv2"); here hugetlb, mounted on no v1 hierarchy, is offered there. runc runs. That
//   check is crun's only objection: with an empty file bind-mounted over
//   /sys/fs/cgroup/unified/cgroup.controllers in a private mount namespace (`unshare -m`),
//   `podman --runtime crun run` works here and puts the container in the same cgroups.
// - explicit RLIMIT_NOFILE and RLIMIT_NPROC: as root Podman asks for 1048576 of both, and
//   raising a hard limit needs CAP_SYS_RESOURCE, which this root lacks ("setrlimit
//   `RLIMIT_NOFILE`: Operation not permitted"). Podman itself lowers its RLIMIT_NPROC to 32768.
// - `--network=host`: no CNI/netavark network needed, and the host's 127.0.0.1 is reachable.
// - `--events-backend=none`: no events log growing in /run/libpod.
// Podman picks the cgroupfs manager itself (no systemd): the container's processes are in
// /libpod_parent/libpod-<id> in every hierarchy (v1 and v2), conmon in /libpod_parent/conmon
// (v1 only). With systemd as PID 1 it would be /machine.slice/libpod-<id>.scope.
//
// A tracer test starts the tracer first: create() (the id is known before anything runs in
// the container), start the tracer (with `--container <id>` if it likes), then run() or
// start() + finish(). The workload waits at its gate until finish(): its exec by the runtime
// happens at start(); its open, connect and busybox exec only after finish() is called.
// Seen by today's tracer here (tracer exec/open/connect --json started before start()): in the
// container's cgroup (the same cgroup_id) first come the runtime's own opens as comm
// "runc:[2:INIT]" (overlay paths, /proc/self/..., /etc/passwd: not a fixed list, do not assert
// them), then the exec of /workload (ppid: conmon, pcomm "conmon"), then after finish() the
// workload's open of openPath, its connect, the exec of /bin/busybox ["cat",
// "/proc/self/cgroup"] and busybox's open of /proc/self/cgroup, all with pid = hostPid.

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { IN_CI } from "./env.ts";
import { v2CgroupId } from "./cgroups.ts";
import {
  EXEC_TARGET,
  parseReport,
  WORKLOAD_SOURCE,
  workloadArgv,
  workloadBinary,
  type WorkloadReport,
} from "./ctr-workload.ts";

export const IMAGE_REPO = "localhost/tracer-test";
/** The label naming the test process that made a container (removeStaleContainers()). */
export const OWNER_LABEL = "tracer-test-owner";

const onPath = (bin: string) =>
  (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => existsSync(join(d, bin)));

/**
 * The OCI runtime Podman must use here: crun, unless crun refuses this host (hybrid cgroups
 * whose v2 root offers a controller, the check crun makes) or is missing; then runc.
 */
export function ociRuntime(): "crun" | "runc" {
  if (!onPath("crun")) return "runc";
  const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" "));
  const hybrid = mounts.some((m) => m[1] === "/sys/fs/cgroup/unified" && m[2] === "cgroup2") &&
    !mounts.some((m) => m[1] === "/sys/fs/cgroup" && m[2] === "cgroup2");
  if (!hybrid) return "crun";
  return readFileSync("/sys/fs/cgroup/unified/cgroup.controllers", "utf8").trim() ? "runc" : "crun";
}

/** Why Podman cannot run containers here, or null. */
export function podmanMissing(): string | null {
  if (process.getuid?.() !== 0) return "needs root (rootful Podman)";
  if (!onPath("podman")) return "needs podman (scripts/setup.sh installs it)";
  const rt = ociRuntime();
  if (!onPath(rt)) return `needs ${rt} (scripts/setup.sh installs it)`;
  return null;
}

/**
 * Options for node:test's `test()`, like env.ts's kernelTest(): `{ skip: reason }` outside CI
 * when Podman cannot run; in CI nothing is skipped, so the test runs and fails.
 */
export function podmanTest(): { skip?: string } {
  const missing = podmanMissing();
  if (missing && !IN_CI) return { skip: missing };
  return {};
}

/** podman's argv for `args` with this host's global options. */
const podmanArgv = (
  args: string[],
) => ["--runtime", ociRuntime(), "--events-backend=none", ...args];

/** Runs podman with this host's global options; returns stdout, throws with its stderr. */
export function podman(args: string[], input?: string | Uint8Array): string {
  const r = spawnSync("podman", podmanArgv(args), { input, encoding: "utf8", maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`podman ${args[0]}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`podman ${args.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** This process's hard limit of a resource (/proc/self/limits), or Infinity. */
function hardLimit(name: string): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) =>
    l.startsWith(name)
  );
  const hard = line?.slice(26).trim().split(/\s+/)[1];
  return !hard || hard === "unlimited" ? Infinity : Number(hard);
}

/** --ulimit options no higher than what the runtime may set without CAP_SYS_RESOURCE. */
function ulimits(): string[] {
  const nofile = Math.min(hardLimit("Max open files"), 1048576);
  const nproc = Math.min(hardLimit("Max processes"), 32768);
  return ["--ulimit", `nofile=${nofile}:${nofile}`, "--ulimit", `nproc=${nproc}:${nproc}`];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

/** Removes containers left by test processes that no longer run. Returns their ids. */
export function removeStaleContainers(): string[] {
  const out = podman([
    "ps",
    "-a",
    "--no-trunc",
    "--filter",
    `label=${OWNER_LABEL}`,
    "--format",
    `{{.ID}} {{index .Labels "${OWNER_LABEL}"}}`,
  ]);
  const stale = out.trim().split("\n").filter((l) => l).map((l) => l.split(" "))
    .filter(([, owner]) => !alive(Number(owner))).map(([id]) => id);
  if (stale.length) podman(["rm", "-f", "-t", "0", ...stale]);
  return stale;
}

/**
 * The test image's reference, built (static workload + busybox, `podman import`) only when no
 * image of this content exists; older tags of the repository are removed. Also removes
 * containers that dead test processes left.
 */
export function ensureTestImage(): string {
  removeStaleContainers();
  const hash = createHash("sha256").update("tracer-test image v1\0")
    .update(readFileSync(WORKLOAD_SOURCE)).update(readFileSync(EXEC_TARGET)).digest("hex");
  const ref = `${IMAGE_REPO}:${hash.slice(0, 16)}`;
  const exists = spawnSync("podman", ["image", "exists", ref]).status === 0;
  if (!exists) buildImage(ref);
  const old = podman([
    "images",
    "--format",
    "{{.Repository}}:{{.Tag}}",
    "--filter",
    `reference=${IMAGE_REPO}`,
  ])
    .trim().split("\n").filter((r) => r && r !== ref);
  for (const r of old) spawnSync("podman", ["rmi", r]); // in use by a live test: kept for now
  return ref;
}

function buildImage(ref: string): void {
  const root = mkdtempSync(join(tmpdir(), "tracer-image-"));
  try {
    for (const d of ["bin", "dev", "etc", "proc", "sys", "tmp"]) mkdirSync(join(root, d));
    copyFileSync(EXEC_TARGET, join(root, "bin/busybox"));
    for (const applet of ["sh", "cat"]) symlinkSync("busybox", join(root, "bin", applet));
    copyFileSync(workloadBinary(), join(root, "workload"));
    const tar = spawnSync("tar", ["--owner=0", "--group=0", "-C", root, "-c", "."], {
      maxBuffer: 64 << 20,
    });
    if (tar.status !== 0) throw new Error(`tar of the image's rootfs: ${tar.stderr}`);
    podman(["import", "--quiet", "-", ref], tar.stdout);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The workload's run in a container, seen from outside and (its report) from inside. */
export interface ContainerRun {
  /** The container's full id (64 hex). */
  id: string;
  /** The workload's pid in the host's pid namespace (what the tracer reports). */
  hostPid: number;
  /** /proc/HOSTPID/cgroup read from the host while the workload waited at its gate. */
  cgroupOutside: string;
  /** Its cgroup v2 id (records' cgroup_id), read then; null without cgroup v2. */
  cgroupId: number | null;
  report: WorkloadReport;
  status: number | null;
  stderr: string;
}

/** One container of the test image running the workload; remove() it in a finally. */
export class TestContainer {
  readonly id: string;
  /** What runs in it: the workload's argv (for expectedRecords()). */
  readonly argv: string[];
  #child?: ReturnType<typeof spawn>;
  #stdout = "";
  #stderr = "";
  #exited?: Promise<number | null>;
  #hostPid = 0;
  #cgroupOutside = "";
  #cgroupId: number | null = null;

  private constructor(id: string, argv: string[]) {
    this.id = id;
    this.argv = argv;
  }

  /** Creates (does not start) a container whose workload opens `openPath` and connects to 127.0.0.1:`port`. */
  static create(image: string, opts: { openPath: string; port: number }): TestContainer {
    const argv = workloadArgv("/workload", opts.openPath, opts.port, true);
    const out = podman([
      "create",
      "--interactive",
      "--network=host",
      ...ulimits(),
      "--label",
      `${OWNER_LABEL}=${process.pid}`,
      image,
      ...argv,
    ]);
    return new TestContainer(out.trim().split("\n").at(-1)!, argv);
  }

  /**
   * Starts it; resolves when the workload waits at its gate (its exec by the runtime done, in
   * the container's cgroup), with its host pid and the cgroup read from outside.
   */
  async start(
    timeoutMs = 30_000,
  ): Promise<{ hostPid: number; cgroupOutside: string; cgroupId: number | null }> {
    const child = spawn("podman", podmanArgv(["start", "--attach", "--interactive", this.id]), {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#child = child;
    child.stdout!.on("data", (d) => this.#stdout += d);
    child.stderr!.on("data", (d) => this.#stderr += d);
    this.#exited = new Promise((res) => child.on("exit", (code) => res(code)));
    const deadline = Date.now() + timeoutMs;
    while (!/^ready \d+$/m.test(this.#stdout)) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        throw new Error(`container ${this.id.slice(0, 12)} did not start: ${this.#stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    this.#hostPid = Number(podman(["inspect", "--format", "{{.State.Pid}}", this.id]).trim());
    this.#cgroupOutside = readFileSync(`/proc/${this.#hostPid}/cgroup`, "utf8");
    this.#cgroupId = v2CgroupId(this.#cgroupOutside);
    return { hostPid: this.#hostPid, cgroupOutside: this.#cgroupOutside, cgroupId: this.#cgroupId };
  }

  /** Lets the workload run its steps and waits for the container to exit. */
  async finish(): Promise<ContainerRun> {
    if (!this.#child) throw new Error("finish() before start()");
    this.#child.stdin!.end("g");
    const status = await this.#exited!;
    return {
      id: this.id,
      hostPid: this.#hostPid,
      cgroupOutside: this.#cgroupOutside,
      cgroupId: this.#cgroupId,
      report: parseReport(this.#stdout),
      status,
      stderr: this.#stderr,
    };
  }

  /** start() then finish(). */
  async run(): Promise<ContainerRun> {
    await this.start();
    return await this.finish();
  }

  /** Removes the container (killing it if it runs) and its storage. */
  remove(): void {
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill("SIGKILL");
    }
    podman(["rm", "--force", "--time", "0", this.id]);
  }
}

/** Creates, runs and removes one container of the test image; resolves to its run. */
export async function runInContainer(
  opts: { openPath: string; port: number },
): Promise<ContainerRun> {
  const c = TestContainer.create(ensureTestImage(), opts);
  try {
    return await c.run();
  } finally {
    c.remove();
  }
}
