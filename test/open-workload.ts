// The open workload (test/fixtures/open/workload.c): its report of what it opened, and the
// records `tracer open --json` must print for it, on this host (test/open-e2e.test.ts) and on
// other kernels under qemu (test/vm/kernels.vmtest.ts).

import assert from "node:assert/strict";
import { b64 } from "./tracer-cli.ts";

interface Step {
  pid: number;
  ret: number;
  /** readlink(/proc/self/fd/RET), or null. */
  link: Uint8Array | null;
}

/** The workload's report: step name -> pid, result and the kernel's name of the fd. */
export function steps(stdout: string): Map<string, Step> {
  const m = new Map<string, Step>();
  for (const line of stdout.trim().split("\n")) {
    const [tag, name, pid, ret, hex] = line.split(" ");
    if (tag !== "step") continue;
    const link = hex === "-"
      ? null
      : Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
    m.set(name, { pid: Number(pid), ret: Number(ret), link });
  }
  return m;
}

const enc = new TextEncoder();
export const LONG = (() => {
  let p = "/nonexistent/";
  while (p.length + 100 <= 4000) p += "y".repeat(99) + "/";
  return p + "z".repeat(4000 - p.length);
})();
export const TOOLONG = "/" + "w".repeat(4999);
const HOSTILE = new Uint8Array([...enc.encode("new\nline\x1b[31m"), 0xff]);
export const HOSTILE_TEXT = "new\\nline\\x1b[31m\\xff";

export const ERRNO: Record<number, string> = {
  [-2]: "ENOENT",
  [-13]: "EACCES",
  [-36]: "ENAMETOOLONG",
};

/** A bytes field as JSON has it: text, plus <name>_b64 when the bytes are not UTF-8. */
function bytesField(name: string, bytes: Uint8Array): Record<string, string> {
  try {
    return { [name]: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { [name]: "", [`${name}_b64`]: b64(bytes) };
  }
}

/**
 * The records of every step, in order, without cgroup_id and mntns_id (the caller knows them):
 * `dir` is the workload's directory, `full` whether -F was given, `x86` whether the open()
 * syscall exists (its step runs only there) and the flag values are x86-64's (else arm64's,
 * whose O_DIRECTORY, and so O_TMPFILE, differ).
 */
export function expectedOpenRecords(
  s: Map<string, Step>,
  dir: string,
  full: boolean,
  x86: boolean,
): Record<string, unknown>[] {
  type Spec = [
    step: string,
    path: string | Uint8Array,
    opts?: {
      syscall?: string;
      dirfd?: number;
      flags?: string;
      raw?: number;
      mode?: number;
      failedFull?: string;
      truncated?: boolean;
    },
  ];
  const dfd = s.get("dirfd-open")!.ret;
  const O_DIRECTORY = x86 ? 0o200000 : 0o40000;
  const specs: Spec[] = [
    ["existing", `${dir}/rel.txt`],
    ...(x86
      ? [["open-syscall", `${dir}/rel.txt`, {
        syscall: "open",
        flags: "O_RDONLY|O_CLOEXEC",
        raw: 0o2000000,
      }] as Spec]
      : []),
    ["missing", "/nonexistent/file", { failedFull: "/nonexistent/file" }],
    ["eacces", `${dir}/secret`, { failedFull: `${dir}/secret` }],
    ["relative", "rel.txt"],
    ["dirfd-open", "sub", { flags: "O_RDONLY|O_DIRECTORY", raw: O_DIRECTORY }],
    ["dirfd", "target.txt", { dirfd: dfd }],
    ["dirfd-missing", "missing.txt", { dirfd: dfd, failedFull: `${dir}/sub/missing.txt` }],
    ["relative-missing", "nope/x", { failedFull: `${dir}/nope/x` }],
    ["long", LONG, { failedFull: LONG }],
    ["toolong", TOOLONG.slice(0, 4096), { failedFull: TOOLONG.slice(0, 4096), truncated: true }],
    ["hostile", HOSTILE, { flags: "O_WRONLY|O_CREAT|O_TRUNC", raw: 0o1101, mode: 0o600 }],
    ["dotdot-symlink", "link/../rel.txt"],
    ["symlink", "link/target.txt"],
    ["openat2", "created2", {
      syscall: "openat2",
      flags: "O_WRONLY|O_CREAT|O_CLOEXEC",
      raw: 0o2000101,
      mode: 0o640,
    }],
    ["tmpfile", ".", {
      flags: "O_RDWR|O_TMPFILE",
      raw: 0o20000002 | O_DIRECTORY,
      mode: 0o600,
    }],
  ];
  const expected = specs.map(([name, path, o = {}]) => {
    const st = s.get(name)!;
    assert.ok(st, `workload step ${name} missing: ${[...s.keys()]}`);
    const pathBytes = typeof path === "string" ? enc.encode(path) : path;
    const rec: Record<string, unknown> = {
      type: "open",
      pid: st.pid,
      tid: st.pid,
      uid: name === "eacces" ? 65534 : 0,
      comm: "open-workload",
      ...bytesField("path", pathBytes),
    };
    if (name === "hostile") rec.path = HOSTILE_TEXT;
    if (full) {
      const fp = st.ret >= 0 ? st.link! : enc.encode(o.failedFull!);
      Object.assign(rec, bytesField("full_path", fp));
      if (name === "hostile") rec.full_path = `${dir}/${HOSTILE_TEXT}`;
    }
    Object.assign(rec, {
      path_truncated: o.truncated ?? false,
      dirfd: o.dirfd ?? null,
      flags: o.flags ?? "O_RDONLY",
      flags_raw: o.raw ?? 0,
      mode: o.mode ?? null,
      syscall: o.syscall ?? "openat",
      fd: st.ret >= 0 ? st.ret : null,
      ret: st.ret,
      error: st.ret < 0 ? ERRNO[st.ret] : null,
    });
    return rec;
  });
  return expected;
}
