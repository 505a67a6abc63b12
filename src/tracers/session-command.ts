// `-- CMD` of every tracer session: who CMD runs as (under sudo, the user who ran sudo, with
// that user's groups), its environment, and running it with its exit status recorded.
// CLI-level: uses node:child_process (loaded when a command runs).

import { readTextOrNull } from "../platform/files.ts";
import type { Platform } from "../platform/types.ts";

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

/** node:child_process, loaded only when a command is run: importing it costs every start ~2 ms. */
function spawn(...args: Parameters<typeof import("node:child_process").spawn>) {
  return process.getBuiltinModule("node:child_process").spawn(...args);
}

/**
 * Ctrl-C and SIGTERM for a run that may start `-- CMD` (every tracer session, tracer run): they
 * stop it, unless CMD runs (CMD gets the signal too, and the run stops when CMD exits).
 * Installed before anything is loaded: a signal during start-up lets start-up finish.
 */
export class StopOnSignal {
  stopped = false;
  /** The running `-- CMD`, once started. */
  child: ChildState | null = null;
  readonly #removers: (() => void)[];

  constructor(p: Platform) {
    this.#removers = (["SIGINT", "SIGTERM"] as const).map((sig) =>
      p.onSignal(sig, () => {
        if (!this.child) this.stopped = true;
      })
    );
  }

  remove(): void {
    for (const remove of this.#removers) remove();
  }
}

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

/**
 * The groups of user `name` as a login gives them (initgroups): the primary group `gid` and
 * every group of /etc/group (`groupText`) that lists the user as a member.
 */
export function userGroups(name: string | null, gid: number, groupText: string): number[] {
  const out = [gid];
  if (name === null) return out;
  for (const line of groupText.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || !f[3].split(",").includes(name)) continue;
    const g = Number(f[2]);
    if (Number.isInteger(g) && !out.includes(g)) out.push(g);
  }
  return out;
}

/** `-- CMD` under sudo, started before the tracer loads: see src/cli/exec-as.ts. */
export interface Launcher {
  /** Its pid, CMD's once it runs. */
  pid: number;
  /** Resolves when it is the user and waits; rejects if it exits first. */
  ready: Promise<void>;
  /** Lets it exec CMD (call once the tracer follows `pid`); its state from then on. */
  go(): ChildState;
  /** Stops it without running CMD. */
  abort(): void;
}

/**
 * Starts `-- CMD` as `user` through the tracer's own launcher (`tracer __exec-as`), which sets
 * the user's uid, gid and groups (which no runtime's spawn can) and waits for go().
 */
export function startLauncher(
  self: string[],
  cmd: string[],
  user: { uid: number; gid: number },
): Launcher {
  const passwd = readTextOrNull("/etc/passwd") ?? "";
  const name = passwd.split("\n").map((l) => l.split(":"))
    .find((f) => f.length >= 7 && f[2] === String(user.uid))?.[0] ?? null;
  const groups = userGroups(name, user.gid, readTextOrNull("/etc/group") ?? "");
  const proc = spawn(self[0], [
    ...self.slice(1),
    "__exec-as",
    String(user.uid),
    String(user.gid),
    groups.join(","),
    "--",
    ...cmd,
  ], {
    stdio: ["inherit", "inherit", "inherit", "pipe", "pipe"],
    env: userEnvironment(user.uid, passwd, process.env),
  });
  const state: ChildState = { done: false, status: 0 };
  const exited = new Promise<void>((res) => {
    proc.on("exit", (code, signal) => {
      state.status = code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0);
      state.done = true;
      res();
    });
  });
  const readyPipe = proc.stdio[4]!;
  const ready = new Promise<void>((res, rej) => {
    readyPipe.once("data", () => res());
    exited.then(() =>
      rej(new Error(`the launcher of ${cmd[0]} exited (status ${state.status}) before it ran it`))
    );
  });
  return {
    pid: proc.pid!,
    ready,
    go() {
      const go = proc.stdio[3] as NodeJS.WritableStream;
      go.end("g");
      return state;
    },
    abort() {
      if (!state.done) proc.kill("SIGKILL");
    },
  };
}

/** Runs `-- CMD`; the returned state says when it is done and its exit status. */
export function runCommand(
  name: string,
  cmd: string[],
  user: { uid: number; gid: number } | null,
): ChildState {
  const state: ChildState = { done: false, status: 0 };
  // As another user (startLauncher does it with the user's groups too): its uid and gid (the
  // runtimes' spawn drops every supplementary group then, root's included) and its HOME.
  const as = user
    ? { ...user, env: userEnvironment(user.uid, readTextOrNull("/etc/passwd") ?? "", process.env) }
    : {};
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
