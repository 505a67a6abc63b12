// The BPF objects built into the tracer (src/generated/objects.ts, by scripts/build-bpf.ts).
// Pure: imports nothing from a runtime.

import { TracerError } from "../errors.ts";
import { OBJECTS } from "../generated/objects.ts";

const cache = new Map<string, Uint8Array>();

/** The bytes of the embedded object `name` (e.g. "exec"). */
export function embeddedObject(name: string): Uint8Array {
  let bytes = cache.get(name);
  if (bytes) return bytes;
  const b64 = OBJECTS[name];
  if (b64 === undefined) {
    throw new TracerError(
      `no embedded BPF object '${name}' (have: ${Object.keys(OBJECTS).join(", ")})`,
    );
  }
  const bin = atob(b64);
  bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  cache.set(name, bytes);
  return bytes;
}

/** Names of the embedded objects. */
export function embeddedObjectNames(): string[] {
  return Object.keys(OBJECTS).sort();
}
