// The container context of a session: this host's cgroup hierarchy, the paths of its cgroups,
// and the --cgroup/--container filters checked against it before anything is loaded.

import { UsageError } from "../errors.ts";
import { CgroupPaths, hostHierarchy } from "../kernel/cgroupfs.ts";
import { containerOfBytes } from "./container.ts";
import { ContextResolver } from "./context.ts";

export { ContextResolver };

const encoder = new TextEncoder();

/**
 * A --cgroup argument as a path in the hierarchy: as the `cgroup` field prints it
 * ("/docker/<id>"), or the directory's full path under the mount point.
 */
export function cgroupArgument(arg: string, mount: string): string {
  let path = arg.startsWith(mount + "/") ? arg.slice(mount.length) : arg;
  if (path === mount) path = "/";
  if (!path.startsWith("/")) path = "/" + path;
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

/** The resolver for these options (throws a usage error for a --cgroup that does not exist). */
export function sessionContext(
  command: string,
  o: { cgroup?: string; container?: string },
): ContextResolver {
  const hierarchy = hostHierarchy();
  const paths = hierarchy ? new CgroupPaths(hierarchy) : null;
  if ((o.cgroup !== undefined || o.container !== undefined) && !paths) {
    throw new UsageError(
      `${command}: --cgroup and --container need a mounted cgroup file system ` +
        "(none in /proc/self/mounts)",
    );
  }
  let cgroup: Uint8Array | undefined;
  if (o.cgroup !== undefined && paths) {
    cgroup = encoder.encode(cgroupArgument(o.cgroup, hierarchy!.mount));
    if (paths.idOf(cgroup) === null) {
      throw new UsageError(
        `${command}: --cgroup: no cgroup ${o.cgroup} in ${
          hierarchy!.mount
        } (the hierarchy of the ` +
          `"cgroup" field${
            hierarchy!.controller ? `, the v1 ${hierarchy!.controller} controller's` : ""
          })`,
      );
    }
  }
  if (o.container !== undefined) {
    const want = encoder.encode(o.container);
    const running = paths!.all().some(([, p]) => {
      const id = containerOfBytes(p).containerId;
      return id !== null && id.length >= want.length && want.every((b, i) => id[i] === b);
    });
    if (!running) {
      process.stderr.write(
        `tracer: no container ${o.container} yet: its events are shown once it starts\n`,
      );
    }
  }
  return new ContextResolver(paths, hierarchy ?? undefined, { cgroup, container: o.container });
}
