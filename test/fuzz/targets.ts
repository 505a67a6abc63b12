// Every fuzz target, by name.

import type { FuzzTarget } from "./target.ts";
import {
  btfExtTarget,
  btfSplitTarget,
  btfTarget,
  coreTarget,
  elfTarget,
  objectTarget,
} from "./parsers.ts";
import { connectEventTarget, execEventTarget, openEventTarget } from "./events.ts";
import { cliTarget } from "./cli.ts";

export const TARGETS: FuzzTarget[] = [
  elfTarget,
  btfTarget,
  btfSplitTarget,
  btfExtTarget,
  objectTarget,
  coreTarget,
  execEventTarget,
  openEventTarget,
  connectEventTarget,
  cliTarget,
];

export function targetByName(name: string): FuzzTarget {
  const t = TARGETS.find((t) => t.name === name);
  if (!t) {
    throw new Error(`no fuzz target '${name}' (have: ${TARGETS.map((t) => t.name).join(", ")})`);
  }
  return t;
}
