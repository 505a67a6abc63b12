// Where BTF comes from: a raw BTF file, the .BTF section of an ELF file (a BPF object or a
// vmlinux), split BTF over a base, and the running kernel's BTF (cached). Reads files with
// the platform's file calls; the parsing itself is pure.

import { closeFile, openFile, readFile, stat } from "../platform/files.ts";
import { FormatError, TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { parseElf } from "../elf/reader.ts";
import { Btf, type NameQuery } from "./reader.ts";
import { btfArchitecture, elfMachineName } from "./arch.ts";

export const KERNEL_BTF_PATH = "/sys/kernel/btf/vmlinux";

function readBytes(path: string, what: string): Uint8Array {
  try {
    return readFile(path);
  } catch (e) {
    const code = (e as { code?: string }).code ?? String(e);
    throw new TracerError(`reading ${what} ${path}: ${code}`, { cause: e });
  }
}

/**
 * The BTF in `bytes`: a raw BTF blob, or an ELF file's .BTF section (any machine).
 * `base` makes it split BTF on top of that base (module BTF over vmlinux).
 */
export function btfFromBytes(bytes: Uint8Array, what: string, base?: Btf): Btf {
  if (
    bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c &&
    bytes[3] === 0x46
  ) {
    const elf = parseElf(bytes, what, { anyMachine: true });
    const sec = elf.sectionByName(".BTF");
    if (!sec) throw new FormatError(what, 0, "ELF file has no .BTF section");
    return Btf.parse(sec.data, { base, what: `${what} .BTF` });
  }
  return Btf.parse(bytes, { base, what });
}

/**
 * Reads BTF from a file: raw BTF, or an ELF file's .BTF section; split BTF given a base.
 * Given a platform, the file is mmapped (read when it cannot be).
 */
export function readBtfFile(path: string, base?: Btf, platform?: Platform): Btf {
  return btfFromBytes(fileBytes(path, platform, "BTF file"), path, base);
}

/**
 * A kernel BTF given by the user (--btf): raw BTF or a vmlinux ELF, refused with a FormatError
 * when it describes another architecture than `hostArch` (an ELF's e_machine, else the
 * registers of its `struct pt_regs`; a big-endian BTF is refused by the reader). Relocating
 * against another machine's layouts would read wrong offsets without any error.
 */
export function readKernelBtfFile(path: string, hostArch: string, platform?: Platform): Btf {
  const bytes = fileBytes(path, platform, "BTF file");
  if (bytes.length >= 20 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[5] === 1) {
    const machine = elfMachineName(bytes[18] | (bytes[19] << 8));
    if (machine !== hostArch) {
      throw new FormatError(
        path,
        18,
        `a vmlinux of another architecture (${machine}), this machine is ${hostArch}`,
      );
    }
  }
  const btf = btfFromBytes(bytes, path);
  const arch = btfArchitecture(btf);
  if (arch !== null && arch !== hostArch) {
    throw new FormatError(
      path,
      0,
      `BTF of another architecture (${arch}: its struct pt_regs), this machine is ${hostArch}`,
    );
  }
  return btf;
}

const PROT_READ = 1;
const MAP_PRIVATE = 2;

/**
 * Maps a file read-only with the platform's mmap (kernel BTF in sysfs supports mmap since
 * Linux 6.16: no copy, no 4 KiB read() calls). Null when the file cannot be mapped.
 * The mapping lives as long as the process.
 */
function mapFile(path: string, platform: Platform): Uint8Array | null {
  let fd = -1;
  try {
    const size = stat(path).size;
    fd = openFile(path, "r");
    if (size === 0) return null;
    const addr = platform.mmap(size, PROT_READ, MAP_PRIVATE, fd, 0, `mmap ${path}`);
    return new Uint8Array(platform.view(addr, size));
  } catch {
    return null;
  } finally {
    if (fd >= 0) closeFile(fd);
  }
}

/** A file's bytes: mmapped through the platform when given (and possible), else read. */
export function fileBytes(path: string, platform?: Platform, what = "file"): Uint8Array {
  return (platform && mapFile(path, platform)) ?? readBytes(path, what);
}

const kernelCache = new Map<string, Btf>();

/**
 * The running kernel's BTF (cached per path). Given a platform, the file is mmapped when
 * the kernel allows it (else read). Module BTF: readBtfFile(path, kernelBtf()). `lookUp`: the
 * name look-ups the caller will make, answered by the index pass if this call makes it.
 */
export function kernelBtf(
  path = KERNEL_BTF_PATH,
  platform?: Platform,
  lookUp?: readonly NameQuery[],
): Btf {
  let btf = kernelCache.get(path);
  if (!btf) {
    const bytes = fileBytes(path, platform, "kernel BTF");
    btf = Btf.parse(bytes, { what: `kernel BTF ${path}`, lookUp });
    kernelCache.set(path, btf);
  }
  return btf;
}
