// Test data (pure, imports nothing): cgroup paths as container runtimes name them, each with
// the container id and Kubernetes pod uid a record of a task in it must carry. For the parser's
// unit tests and, made real by test/cgroups.ts (under a test-unique parent), for end-to-end tests.
//
// The expected values come from the runtimes' own naming rules, by hand:
// - Docker: systemd driver `docker-<id>.scope` in system.slice, cgroupfs driver `/docker/<id>`.
// - containerd (CRI): systemd `cri-containerd-<id>.scope`; cgroupfs: the bare id below the pod.
// - CRI-O: systemd `crio-<id>.scope`, cgroupfs `crio-<id>` (its ContainerCgroupPath); its conmon
//   runs in `crio-conmon-<id>.scope`, which is not the container.
// - Podman: systemd `libpod-<id>.scope` in machine.slice (conmon: `libpod-conmon-<id>.scope`),
//   cgroupfs `/libpod_parent/libpod-<id>` (conmon: `/libpod_parent/conmon`, seen here).
// - kubelet: QoS slices kubepods[-burstable|-besteffort], pod cgroup `pod<uid>`; the systemd
//   driver writes the uid's "-" as "_" (kubepods-burstable-pod1234_abcd....slice), the pod_uid
//   is the uid as the API has it (with "-"). Guaranteed pods sit directly under kubepods.
//   kind runs kubelet with --cgroup-root=/kubelet: `kubelet.slice/kubelet-kubepods.slice/...`.
// - systemd-nspawn: `systemd-nspawn@NAME.service` (machinectl start; older systemd escaped
//   the name there too: `-` as `\x2d`), its payload below it; a machine registered with machined
//   gets `machine-<escaped NAME>.scope` (unit_name_escape: `-` is `\x2d`). The id is NAME.
// - LXC: `/lxc/NAME` (LXC 1-3), `/lxc.payload.NAME` (LXC 4+, LXD); the id is NAME.
// The container id is the one named by the DEEPEST component that names a container (Docker
// in Docker, a kind node: the inner container's); pod_uid by the deepest `pod<uid>` component.

export interface CgroupName {
  /** Who makes this path: docker, containerd, cri-o, podman, systemd-nspawn, lxc, or host. */
  runtime: string;
  /** Which driver or nesting, in words. */
  layout: string;
  /** Relative to the hierarchy's root, starting with "/". */
  path: string;
  containerId: string | null;
  podUid: string | null;
}

/** The ids the names are made of: 64-hex container ids, a pod uid, a machine name. */
export interface NameIds {
  id: string;
  /** A second container id (the outer one where containers nest). */
  outer: string;
  podUid: string;
  /** A machine name with a "-" (escaped `\x2d` by systemd where it escapes). */
  machine: string;
}

const hex64 = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0"))
    .join("");

/** Fresh random ids (so no expected value can be hard-coded in a parser). */
export function randomIds(): NameIds {
  return {
    id: hex64(),
    outer: hex64(),
    podUid: crypto.randomUUID(),
    machine: `tracer-box-${Math.floor(Math.random() * 1e6)}`,
  };
}

/** Every form, with its expected container id and pod uid. */
export function cgroupNames(ids: NameIds = randomIds()): CgroupName[] {
  const { id, outer, podUid: uid, machine } = ids;
  const u_ = uid.replaceAll("-", "_");
  const m_ = machine.replaceAll("-", "\\x2d");
  const pods = (qos: string) => qos ? `/kubepods.slice/kubepods-${qos}.slice` : `/kubepods.slice`;
  const podSlice = (qos: string) => `${pods(qos)}/kubepods${qos ? `-${qos}` : ""}-pod${u_}.slice`;
  const kindPod =
    `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${u_}.slice`;
  const row = (
    runtime: string,
    layout: string,
    path: string,
    containerId: string | null,
    podUid: string | null = null,
  ): CgroupName => ({ runtime, layout, path, containerId, podUid });
  return [
    row("docker", "systemd driver", `/system.slice/docker-${id}.scope`, id),
    row("docker", "cgroupfs driver", `/docker/${id}`, id),
    row(
      "containerd",
      "CRI, systemd driver, no kubelet",
      `/system.slice/cri-containerd-${id}.scope`,
      id,
    ),
    row(
      "containerd",
      "kubelet systemd driver, burstable",
      `${podSlice("burstable")}/cri-containerd-${id}.scope`,
      id,
      uid,
    ),
    row(
      "containerd",
      "kubelet systemd driver, besteffort",
      `${podSlice("besteffort")}/cri-containerd-${id}.scope`,
      id,
      uid,
    ),
    row(
      "containerd",
      "kubelet systemd driver, guaranteed",
      `${podSlice("")}/cri-containerd-${id}.scope`,
      id,
      uid,
    ),
    row(
      "containerd",
      "kubelet cgroupfs driver, burstable",
      `/kubepods/burstable/pod${uid}/${id}`,
      id,
      uid,
    ),
    row(
      "containerd",
      "kubelet cgroupfs driver, besteffort",
      `/kubepods/besteffort/pod${uid}/${id}`,
      id,
      uid,
    ),
    row("containerd", "kubelet cgroupfs driver, guaranteed", `/kubepods/pod${uid}/${id}`, id, uid),
    row(
      "cri-o",
      "kubelet systemd driver, burstable",
      `${podSlice("burstable")}/crio-${id}.scope`,
      id,
      uid,
    ),
    row("cri-o", "kubelet systemd driver, guaranteed", `${podSlice("")}/crio-${id}.scope`, id, uid),
    row(
      "cri-o",
      "kubelet cgroupfs driver, burstable",
      `/kubepods/burstable/pod${uid}/crio-${id}`,
      id,
      uid,
    ),
    row("cri-o", "systemd driver, no kubelet", `/system.slice/crio-${id}.scope`, id),
    row(
      "docker",
      "dockershim, kubelet systemd driver",
      `${podSlice("besteffort")}/docker-${id}.scope`,
      id,
      uid,
    ),
    row("podman", "systemd driver", `/machine.slice/libpod-${id}.scope`, id),
    row("podman", "cgroupfs driver", `/libpod_parent/libpod-${id}`, id),
    row(
      "podman",
      "systemd driver, in a pod",
      `/machine.slice/machine-libpod_pod_${outer}.slice/libpod-${id}.scope`,
      id,
    ),
    row(
      "podman",
      "rootless, systemd driver",
      `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${id}.scope`,
      id,
    ),
    row(
      "systemd-nspawn",
      "machinectl start",
      `/machine.slice/systemd-nspawn@${machine}.service`,
      machine,
    ),
    row(
      "systemd-nspawn",
      "machinectl start, escaped name",
      `/machine.slice/systemd-nspawn@${m_}.service`,
      machine,
    ),
    row(
      "systemd-nspawn",
      "payload",
      `/machine.slice/systemd-nspawn@${machine}.service/payload/system.slice/cron.service`,
      machine,
    ),
    row("systemd-nspawn", "registered scope", `/machine.slice/machine-${m_}.scope`, machine),
    row("lxc", "LXC 1-3", `/lxc/${machine}`, machine),
    row("lxc", "LXC 4+, LXD", `/lxc.payload.${machine}`, machine),
    row(
      "lxc",
      "LXD, a service inside",
      `/lxc.payload.${machine}/system.slice/cron.service`,
      machine,
    ),
    row("docker", "nested: Docker in Docker (cgroupfs)", `/docker/${outer}/docker/${id}`, id),
    row(
      "containerd",
      "nested: kind node (Docker systemd) running a pod",
      `/system.slice/docker-${outer}.scope${kindPod}/cri-containerd-${id}.scope`,
      id,
      uid,
    ),
    row(
      "containerd",
      "nested: kind node (Docker cgroupfs) running a pod",
      `/docker/${outer}${kindPod}/cri-containerd-${id}.scope`,
      id,
      uid,
    ),
    row(
      "docker",
      "nested: a kind node's own service",
      `/system.slice/docker-${outer}.scope/system.slice/containerd.service`,
      outer,
    ),
    row("host", "root", "/", null),
    row("host", "a service", "/system.slice/ssh.service", null),
    row("host", "the Docker daemon", "/system.slice/docker.service", null),
    row("host", "a login session", "/user.slice/user-0.slice/session-1.scope", null),
    row("host", "a cgroupfs parent alone", "/docker", null),
    row("host", "not an id under /docker", "/docker/tracer-not-an-id", null),
    row("podman", "conmon, systemd driver", `/machine.slice/libpod-conmon-${id}.scope`, null),
    row("podman", "conmon, cgroupfs driver", "/libpod_parent/conmon", null),
    row(
      "cri-o",
      "conmon, in the pod's slice",
      `${podSlice("burstable")}/crio-conmon-${id}.scope`,
      null,
      uid,
    ),
    row(
      "containerd",
      "a pod's own cgroup (no container)",
      `/kubepods/besteffort/pod${uid}`,
      null,
      uid,
    ),
  ];
}
