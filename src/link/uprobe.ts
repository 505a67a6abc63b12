// Uprobes and uretprobes: a function of an executable or library, by symbol (its file offset
// found in the ELF's .symtab, as libbpf's elf_find_func_offset does: st_value - sh_addr +
// sh_offset of its section) or by offset, through the uprobe PMU (perf_event_open), then
// BPF_LINK_CREATE, or PERF_EVENT_IOC_SET_BPF on kernels without perf-event links.

import { readFile } from "../platform/files.ts";
import { SysError, TracerError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { parseElf } from "../elf/reader.ts";
import { linkCreate } from "../kernel/bpf.ts";
import { AttachType } from "../kernel/constants.ts";
import { uprobeEvent } from "../kernel/perf.ts";
import { uprobePmu } from "../kernel/tracefs.ts";
import { closeAll, type Link } from "./link.ts";
import { AttachError } from "./tracepoint.ts";

const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;

/**
 * The file offset of function `symbol` ("name", "name+0x10") or of "0x1234" (an offset as is)
 * in the ELF file `bytes`. Pure.
 */
export function uprobeOffset(bytes: Uint8Array, path: string, where: string): bigint {
  if (/^0x[0-9a-f]+$/i.test(where)) return BigInt(where);
  const m = /^([^+]+)(?:\+(0x[0-9a-f]+|\d+))?$/i.exec(where);
  if (!m) throw new AttachError(`uprobe ${path}:${where}: expected SYMBOL[+OFFSET] or 0xOFFSET`);
  const elf = parseElf(bytes, path, { anyMachine: true });
  const syms = elf.symbols.filter((s) =>
    s.name === m[1] && (s.type === STT_FUNC || s.type === STT_GNU_IFUNC) && s.shndx !== 0
  );
  if (syms.length === 0) {
    throw new AttachError(
      `uprobe ${path}:${m[1]}: no such function in its symbol table (.symtab; a stripped ` +
        `binary needs an offset: ${path}:0xOFFSET)`,
    );
  }
  const sym = syms[0];
  const sec = elf.sections[sym.shndx];
  if (!sec) throw new AttachError(`uprobe ${path}:${m[1]}: symbol in no section`);
  return BigInt(sym.value) - sec.addr + BigInt(sec.offset) + BigInt(m[2] ?? 0);
}

/** Attaches `progFd` at `where` ("symbol", "symbol+off", "0xoff") of the file `path`. */
export function attachUprobe(
  p: Platform,
  progFd: number,
  progName: string,
  path: string,
  where: string,
  retprobe = false,
): Link {
  const kind = retprobe ? "uretprobe" : "uprobe";
  const target = `${path}:${where}`;
  const pmu = uprobePmu();
  if (!pmu) {
    throw new AttachError(
      `${kind} ${target}: the kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe; ` +
        `CONFIG_UPROBE_EVENTS off?)`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = readFile(path);
  } catch (e) {
    throw new TracerError(`${kind} ${target}: cannot read ${path}: ${(e as Error).message}`);
  }
  const offset = uprobeOffset(bytes, path, where);
  const event = uprobeEvent(p, pmu.type, path, offset, { retprobe, retprobeBit: pmu.retprobeBit });
  try {
    const link = linkCreate(p, progFd, event.fd, AttachType.PERF_EVENT, {
      what: `program ${progName} to ${kind} ${target}`,
    });
    return {
      kind,
      target,
      method: "bpf_link",
      id: link.info().id,
      close: () => closeAll([link, event]),
    };
  } catch (e) {
    // Kernels before 5.15 have no perf-event links: the ioctl instead.
    if (!(e instanceof SysError) || e.errno !== 22) {
      event.close();
      throw e;
    }
  }
  try {
    event.setBpf(progFd);
    event.enable();
  } catch (e) {
    event.close();
    throw e;
  }
  return { kind, target, method: "ioctl", id: 0, close: () => event.close() };
}
