// Test material: the BPF objects a libbpf skeleton binary carries (Debian's libbpf-tools in
// /usr/sbin). A skeleton embeds its object as a whole ELF image; each is found by its magic
// and e_machine 247 (EM_BPF), and its size is where its section header table ends.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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
