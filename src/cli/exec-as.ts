// `tracer __exec-as UID GID GROUPS -- CMD ARGS...`: the tracer's own launcher of `-- CMD` under
// sudo (src/tracers/session-command.ts starts it). A runtime's spawn can set a uid and a gid
// but drops every supplementary group, so CMD would not run as the invoking user would. This
// process becomes that user (uid, gid and groups, for good), says it is ready on fd 4, waits on
// fd 3 until the tracer has attached and follows it, then execs CMD as execvp would (each PATH
// directory in turn): its own start-up is never traced, CMD's exec and everything after is.
// Not listed in `tracer --help`.

import { errnoName } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { say } from "../tracers/say.ts";

const READY_FD = 4, GO_FD = 3;
const ENOENT = 2, ENOTDIR = 20, EACCES = 13;

/** The files execvp tries for `name` with `path` (PATH): the name itself when it has a "/". */
export function execCandidates(name: string, path: string | undefined): string[] {
  if (name.includes("/")) return [name];
  return (path ?? "/usr/local/bin:/usr/bin:/bin").split(":")
    .map((dir) => `${dir || "."}/${name}`);
}

/** Runs the launcher; returns an exit status only when CMD could not be started. */
export function execAs(args: string[], p: Platform): number {
  const dash = args.indexOf("--");
  const [uid, gid, groups] = args.slice(0, dash);
  const cmd = args.slice(dash + 1);
  if (dash !== 3 || !cmd.length) {
    say(p, "tracer __exec-as: usage: UID GID GROUPS -- CMD ARGS...\n");
    return 2;
  }
  try {
    p.setIds(Number(uid), Number(gid), groups === "-" ? [] : groups.split(",").map(Number));
  } catch (e) {
    say(p, `tracer: cannot run ${cmd[0]} as uid ${uid}: ${(e as Error).message}\n`);
    return 126;
  }
  p.writeAll(READY_FD, Uint8Array.of(0x72));
  p.close(READY_FD);
  // The tracer writes one byte when it follows this process; nothing (its end closed) when it
  // stopped before: then CMD does not run.
  const go = new Uint8Array(1);
  if (p.read(GO_FD, go, "reading the tracer's go") !== 1) return 125;
  p.close(GO_FD);
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  let failure = ENOENT;
  for (const file of execCandidates(cmd[0], process.env.PATH)) {
    const errno = p.execve(file, cmd, env);
    if (errno === EACCES) failure = EACCES;
    else if (errno !== ENOENT && errno !== ENOTDIR) {
      failure = errno;
      break;
    }
  }
  say(p, `tracer: cannot run ${cmd[0]}: ${errnoName(failure)}\n`);
  return failure === ENOENT ? 127 : 126;
}
