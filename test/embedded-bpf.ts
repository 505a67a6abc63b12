// Test material: the BPF objects a libbpf skeleton binary carries (Debian's libbpf-tools in
// /usr/sbin). A skeleton embeds its object as a whole ELF image; each is found by its magic
// and e_machine 247 (EM_BPF), and its size is where its section header table ends.

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ObjectSpec } from "../src/object/types.ts";
import { MapType } from "../src/kernel/constants.ts";

const EM_BPF = 247;
const MAGIC = [0x7f, 0x45, 0x4c, 0x46]; // "\x7fELF"

/** Every EM_BPF ELF64 little-endian image inside `bytes`, as copies. */
export function embeddedBpfObjects(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = bytes.indexOf(MAGIC[0]); i >= 0; i = bytes.indexOf(MAGIC[0], i + 1)) {
    if (i + 64 > bytes.length) break;
    if (bytes[i + 1] !== MAGIC[1] || bytes[i + 2] !== MAGIC[2] || bytes[i + 3] !== MAGIC[3]) {
      continue;
    }
    // ELFCLASS64, little-endian, e_machine EM_BPF.
    if (bytes[i + 4] !== 2 || bytes[i + 5] !== 1 || dv.getUint16(i + 18, true) !== EM_BPF) {
      continue;
    }
    const shoff = Number(dv.getBigUint64(i + 40, true));
    const shentsize = dv.getUint16(i + 58, true);
    const shnum = dv.getUint16(i + 60, true);
    const size = shoff + shentsize * shnum;
    if (shentsize !== 64 || shnum === 0 || i + size > bytes.length) continue;
    out.push(bytes.slice(i, i + size));
    i += size - 1;
  }
  return out;
}

export interface EmbeddedObject {
  /** "<binary>.bpf.o" (or "<binary>.<n>.bpf.o" when a binary carries several). */
  name: string;
  binary: string;
  bytes: Uint8Array;
}

/** The BPF objects embedded in the executables of `dir`, by binary name. */
export function embeddedObjectsIn(dir: string, binaries: string[]): EmbeddedObject[] {
  const out: EmbeddedObject[] = [];
  const present = new Set(readdirSync(dir));
  for (const b of binaries) {
    if (!present.has(b)) continue;
    const images = embeddedBpfObjects(new Uint8Array(readFileSync(join(dir, b))));
    images.forEach((bytes, n) =>
      out.push({
        name: images.length > 1 ? `${b}.${n}.bpf.o` : `${b}.bpf.o`,
        binary: join(dir, b),
        bytes,
      })
    );
  }
  return out;
}

/**
 * Writes the object embedded in /usr/sbin/TOOL (Debian's libbpf-tools, installed by
 * scripts/setup.sh) into `dir`; its path.
 */
export function extractTool(dir: string, tool: string): string {
  const [o] = embeddedObjectsIn("/usr/sbin", [tool]);
  if (!o) throw new Error(`/usr/sbin/${tool} (libbpf-tools, scripts/setup.sh) has no object`);
  const path = join(dir, o.name);
  writeFileSync(path, o.bytes);
  return path;
}

/** The libbpf-tools executables (dpkg's list), or [] when the package is not installed. */
export function toolBinaries(): string[] {
  try {
    return execFileSync("dpkg", ["-L", "libbpf-tools"], { encoding: "utf8" }).split("\n")
      .filter((l) => l.startsWith("/usr/sbin/")).map((l) => l.slice("/usr/sbin/".length));
  } catch {
    return [];
  }
}

/**
 * The distinct objects of Debian's libbpf-tools (several tools share one object: kept once,
 * under the first tool's name), in dpkg's order; [] when the package is not installed.
 */
export function distinctToolObjects(): EmbeddedObject[] {
  const seen = new Set<string>();
  return embeddedObjectsIn("/usr/sbin", toolBinaries()).filter((o) => {
    const key = Array.from(o.bytes.subarray(0, 4096)).join(",") + o.bytes.length;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The entries of a map the tools size at run time (max_entries 0): the tools' default. */
export const RUNTIME_ENTRIES = 10240;
/** The value size of a stack-trace map left at 0: 127 frames of 8 bytes (the tools' default). */
export const STACK_VALUE_SIZE = 127 * 8;

/**
 * Sizes for the maps the object leaves to user space: {name: [max_entries, value_size]}, 0
 * keeping the object's (the libbpf harness's MAP=N:V arguments).
 */
export function runtimeSizes(spec: ObjectSpec): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const m of spec.maps) {
    const entries = m.maxEntries === 0 && m.type !== MapType.PERF_EVENT_ARRAY ? RUNTIME_ENTRIES : 0;
    const value = m.type === MapType.STACK_TRACE && m.valueSize === 0 ? STACK_VALUE_SIZE : 0;
    if (entries || value) out[m.name] = [entries, value];
  }
  return out;
}
