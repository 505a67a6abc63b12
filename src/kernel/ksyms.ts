// The running kernel's symbols for .ksyms externs: its BTF (vmlinux, then the loaded modules'
// split BTF from /sys/kernel/btf/<module>, each with a BTF fd found among the kernel's BTF
// objects by name, opened only when a symbol is found there) and /proc/kallsyms addresses.
// The fds opened are handed to `keep` (the collection closes them).

import { readdirSync, readFileSync } from "node:fs";
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

/** /proc/kallsyms: addresses by name ("name.llvm.123" data symbols also under "name"). */
export function readKallsyms(): Map<string, bigint[]> {
  const out = new Map<string, bigint[]>();
  const text = readFileSync("/proc/kallsyms", "utf8");
  for (const line of text.split("\n")) {
    const parts = line.split(/\s+/);
    if (parts.length < 3) continue;
    const [addr, type, sym] = parts;
    const llvm = sym.indexOf(".llvm.");
    const name = type === "d" && llvm > 0 ? sym.slice(0, llvm) : sym;
    const list = out.get(name);
    const a = BigInt("0x" + addr);
    if (list) list.push(a);
    else out.set(name, [a]);
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
      modules ??= readdirSync(BTF_DIR).filter((n) => n !== "vmlinux").sort().map((name) => {
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
