// The BPF objects built into the tracer (src/generated/objects.ts, by scripts/build-bpf.ts).
// Pure: imports nothing from a runtime.

import { fromBase64 } from "../base64.ts";
import { TracerError } from "../errors.ts";
import { OBJECTS, SNAPSHOTS } from "../generated/objects.ts";
import { loadObjectSpec } from "../object/load.ts";
import { specFromSnapshot } from "../object/snapshot.ts";
import type { ObjectSpec } from "../object/types.ts";

const cache = new Map<string, Uint8Array>();

/** The bytes of the embedded object `name` (e.g. "exec"). */
export function embeddedObject(name: string): Uint8Array {
  let bytes = cache.get(name);
  if (bytes) return bytes;
  const b64 = Object.hasOwn(OBJECTS, name) ? OBJECTS[name]() : undefined;
  if (b64 === undefined) {
    throw new TracerError(
      `no embedded BPF object '${name}' (have: ${Object.keys(OBJECTS).join(", ")})`,
    );
  }
  bytes = fromBase64(b64);
  cache.set(name, bytes);
  return bytes;
}

/** Names of the embedded objects. */
export function embeddedObjectNames(): string[] {
  return Object.keys(OBJECTS).sort();
}

const specs = new Map<string, ObjectSpec>();

/**
 * The parsed embedded object `name`, made once per process (a tracer trying its attach
 * strategies in turn loads the same object several times; loading never changes the spec):
 * from its build-time snapshot, as loadObjectSpec would parse it (test/object-snapshot.test.ts
 * holds them equal), the ELF bytes decoded only if the spec's ELF is asked for.
 */
export function embeddedSpec(name: string): ObjectSpec {
  let spec = specs.get(name);
  if (!spec) {
    const snapshot = Object.hasOwn(SNAPSHOTS, name) ? SNAPSHOTS[name]() : undefined;
    spec = snapshot === undefined
      ? loadObjectSpec(embeddedObject(name), name)
      : specFromSnapshot(snapshot, () => embeddedObject(name));
    specs.set(name, spec);
  }
  return spec;
}
