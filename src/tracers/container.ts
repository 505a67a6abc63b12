// Which container and which Kubernetes pod a cgroup path names, from the names container
// runtimes give their cgroups. The innermost container wins (Docker in Docker, a pod's
// container under its pod's cgroup). Pure.
//
//   Docker          /system.slice/docker-<id>.scope        /docker/<id>
//   containerd/CRI  .../cri-containerd-<id>.scope          .../<id>
//   CRI-O           .../crio-<id>.scope                    .../crio-<id>
//   Podman          /machine.slice/libpod-<id>.scope       /libpod_parent/libpod-<id>
//   Kubernetes pods [kubelet-]kubepods[-<qos>]-pod<uid, _ for ->.slice   (systemd driver)
//                   /kubepods[/<qos>]/pod<uid>                  (cgroupfs driver)
//   systemd-nspawn  /machine.slice/systemd-nspawn@<name>.service, machine-<name>.scope
//   LXC             /lxc/<name>, /lxc.payload.<name>

export interface ContainerOf {
  /** The full container id (64 hex digits), or the machine's or LXC container's name. */
  containerId: string | null;
  /** The Kubernetes pod's uid (with dashes), when the path is a pod's. */
  podUid: string | null;
}

const ID = "([0-9a-f]{64})";
/** Leaf names that are a container's, each with the id in group 1. */
const CONTAINER_NAMES: RegExp[] = [
  new RegExp(`^${ID}$`),
  new RegExp(`^docker-${ID}\\.scope$`),
  new RegExp(`^cri-containerd-${ID}\\.scope$`),
  new RegExp(`^crio-${ID}(?:\\.scope)?$`),
  new RegExp(`^libpod-${ID}(?:\\.scope)?$`),
  /^systemd-nspawn@(.+)\.service$/s, // s: a name may hold any byte
  /^lxc\.payload\.(.+)$/s,
];

const UID = "([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})";
const POD_NAMES: RegExp[] = [
  new RegExp(`^pod${UID}$`),
  // kind's kubelet runs under --cgroup-root=/kubelet: kubelet-kubepods-<qos>-pod<uid>.slice
  new RegExp(`^(?:[a-z0-9]+-)?kubepods(?:-[a-z]+)?-pod${UID}\\.slice$`),
];

/** systemd's unit name escaping (\x2d for "-" in a machine name). */
function unescapeUnit(s: string): string {
  return s.replace(/\\x([0-9a-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

/** One char per byte (a TextDecoder's "latin1" is windows-1252: not one-to-one). */
export function byteChars(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return s;
}

/** The container and pod that a cgroup path names; a name is given back as the path's bytes. */
export function containerOfBytes(
  path: Uint8Array,
): { containerId: Uint8Array | null; podUid: string | null } {
  const { containerId, podUid } = containerOf(byteChars(path));
  return {
    containerId: containerId === null ? null : Uint8Array.from(containerId, (c) => c.charCodeAt(0)),
    podUid,
  };
}

/**
 * The container and pod that `path` (a cgroup path, "/"-separated, one char per byte: see
 * byteChars) names.
 */
export function containerOf(path: string): ContainerOf {
  const parts = path.split("/");
  let containerId: string | null = null;
  let podUid: string | null = null;
  for (let i = parts.length - 1; i >= 0; i--) {
    const name = parts[i];
    if (containerId === null) {
      containerId = matchFirst(CONTAINER_NAMES, name);
      if (containerId === null) {
        const machine = /^machine-(.+)\.scope$/s.exec(name);
        if (machine) containerId = unescapeUnit(machine[1]);
        else if (i > 0 && parts[i - 1] === "lxc" && name) containerId = name;
      } else if (name.startsWith("systemd-nspawn@")) {
        containerId = unescapeUnit(containerId);
      }
    }
    if (podUid === null) {
      const uid = matchFirst(POD_NAMES, name);
      if (uid !== null) podUid = uid.replaceAll("_", "-");
    }
  }
  return { containerId, podUid };
}

function matchFirst(patterns: RegExp[], name: string): string | null {
  for (const re of patterns) {
    const m = re.exec(name);
    if (m) return m[1];
  }
  return null;
}
