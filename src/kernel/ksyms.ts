// The running kernel's symbols for .ksyms externs: its BTF (vmlinux, then the loaded modules'
// split BTF from /sys/kernel/btf/<module>, each with a BTF fd found among the kernel's BTF
// objects by name, opened only when a symbol is found there) and /proc/kallsyms addresses.
// The fds opened are handed to `keep` (the collection closes them).

import { readDir, readText } from "../platform/files.ts";
import type { Btf } from "../btf/reader.ts";
import { readBtfFile } from "../btf/source.ts";
import type { Platform } from "../platform/types.ts";
import { TracerError } from "../errors.ts";
import type { KsymSource, ModuleBtf } from "../loader/ksyms.ts";
import { allIds, btfGetNextId, getFdById, objGetInfoByFd } from "./bpf.ts";
import { BpfCmd } from "./constants.ts";
import type { FdObject } from "./fd.ts";

const BTF_DIR = "/sys/kernel/btf";

/** The kernel's BTF object named `name` (a module), as a new fd; null when there is none. */
function moduleBtfFd(p: Platform, name: string): FdObject | null {
  for (const id of allIds(p, btfGetNextId)) {
    let fd: FdObject;
    try {
      fd = getFdById(p, BpfCmd.BTF_GET_FD_BY_ID, id, "BTF");
    } catch {
      continue; // gone since listed
    }
    // struct bpf_btf_info: btf, btf_size, id, name (u64 pointer), name_len, kernel_btf.
    const info = new Uint8Array(32);
    const nameBuf = new Uint8Array(64);
    const dv = new DataView(info.buffer);
    dv.setBigUint64(16, p.addressOf(nameBuf), true);
    dv.setUint32(24, nameBuf.length, true);
    objGetInfoByFd(p, fd.fd, info, `BTF id ${id}`);
    const got = new TextDecoder().decode(nameBuf.subarray(0, nameBuf.indexOf(0)));
    if (got === name && dv.getUint32(28, true) !== 0) return fd;
    fd.close();
  }
  return null;
}

/** The modules with BTF in /sys/kernel/btf (none when it does not exist). */
function moduleNames(): string[] {
  try {
    const decoder = new TextDecoder();
    return readDir(BTF_DIR).map((e) => decoder.decode(e.name)).filter((n) => n !== "vmlinux")
      .sort();
  } catch {
    return [];
  }
}

/**
 * /proc/kallsyms addresses of `names` ("name.llvm.123" data symbols count as "name", as in
 * libbpf's kallsyms_cb): every address each has (more than one is ambiguous).
 */
export function readKallsyms(names: string[]): Map<string, bigint[]> {
  const wanted = new Set(names);
  const out = new Map<string, bigint[]>();
  const text = readText("/proc/kallsyms");
  // "ADDR TYPE NAME[\t[MODULE]]" per line.
  for (let at = 0; at < text.length;) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const s1 = text.indexOf(" ", at);
    const s2 = s1 < 0 ? -1 : text.indexOf(" ", s1 + 1);
    if (s2 > 0 && s2 < end) {
      let name = text.slice(s2 + 1, end);
      const tab = name.indexOf("\t");
      if (tab >= 0) name = name.slice(0, tab);
      const llvm = name.indexOf(".llvm.");
      if (llvm > 0 && text[s1 + 1] === "d") name = name.slice(0, llvm);
      if (wanted.has(name)) {
        const a = BigInt("0x" + text.slice(at, s1));
        const list = out.get(name);
        if (list) list.push(a);
        else out.set(name, [a]);
      }
    }
    at = end + 1;
  }
  return out;
}

export function runningKernelKsyms(
  p: Platform,
  vmlinux: () => Btf,
  keep: (fd: FdObject) => void,
): KsymSource {
  let modules: ModuleBtf[] | undefined;
  return {
    vmlinux,
    modules: () =>
      modules ??= moduleNames().map((name) => {
        let fd: number | undefined;
        return {
          name,
          btf: readBtfFile(`${BTF_DIR}/${name}`, vmlinux()),
          fd: () => {
            if (fd !== undefined) return fd;
            const obj = moduleBtfFd(p, name);
            if (!obj) throw new TracerError(`module ${name}: the kernel lists no BTF object of it`);
            keep(obj);
            return fd = obj.fd;
          },
        };
      }),
    kallsyms: readKallsyms,
  };
}
