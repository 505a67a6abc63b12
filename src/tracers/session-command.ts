// `-- CMD` of every tracer session: who CMD runs as (under sudo, the user who ran sudo), its
// environment, and running it with its exit status recorded. CLI-level: uses
// node:child_process and node:fs.

import { spawn } from "node:child_process";
import process from "node:process";
import { readFileSync } from "node:fs";

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

/** A running `-- CMD`: whether it has exited, and its exit status then. */
export interface ChildState {
  done: boolean;
  status: number;
}

/**
 * Who `-- CMD` runs as: under sudo, the user who ran sudo (SUDO_UID/SUDO_GID), not root, as
 * that user would have run it; otherwise this process's own user. (`-- sudo CMD` runs CMD as
 * root again.)
 */
export function commandUser(
  euid: number,
  env: Record<string, string | undefined>,
): { uid: number; gid: number } | null {
  if (euid !== 0) return null;
  const uid = Number(env.SUDO_UID), gid = Number(env.SUDO_GID);
  if (!env.SUDO_UID || !env.SUDO_GID || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    return null;
  }
  return uid === 0 ? null : { uid, gid };
}

/**
 * The environment `-- CMD` runs in as user `uid` (under sudo): this one with HOME, USER and
 * LOGNAME of that user's /etc/passwd entry (`passwd` is its text), as `sudo -u USER` would set
 * them; root's HOME never stays. A uid without an entry gets HOME=/ and no USER/LOGNAME.
 */
export function userEnvironment(
  uid: number,
  passwd: string,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && k !== "HOME" && k !== "USER" && k !== "LOGNAME") out[k] = v;
  }
  const entry = passwd.split("\n").map((l) => l.split(":"))
    .find((f) => f.length >= 7 && f[2] === String(uid));
  if (!entry) return { ...out, HOME: "/" };
  return { ...out, HOME: entry[5], USER: entry[0], LOGNAME: entry[0] };
}

function readPasswd(): string {
  try {
    return readFileSync("/etc/passwd", "utf8");
  } catch {
    return "";
  }
}

/** Runs `-- CMD`; the returned state says when it is done and its exit status. */
export function runCommand(
  name: string,
  cmd: string[],
  user: { uid: number; gid: number } | null,
): ChildState {
  const state: ChildState = { done: false, status: 0 };
  // As another user: its uid and gid (the runtimes' spawn drops every supplementary group
  // then, root's included) and its HOME.
  const as = user ? { ...user, env: userEnvironment(user.uid, readPasswd(), process.env) } : {};
  const proc = spawn(cmd[0], cmd.slice(1), { stdio: "inherit", ...as });
  proc.on("error", (e: NodeJS.ErrnoException) => {
    process.stderr.write(`tracer ${name}: cannot run ${cmd[0]}: ${e.code ?? e.message}\n`);
    state.status = e.code === "ENOENT" ? 127 : 126;
    state.done = true;
  });
  proc.on("exit", (code, signal) => {
    state.status = code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0);
    state.done = true;
  });
  return state;
}
