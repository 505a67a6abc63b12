// Resolves an object's .ksyms externs against the running kernel, by libbpf's rules
// (bpf_object__resolve_ksyms_btf_id and kallsyms_cb):
// - a typed variable (`extern struct rq runqueues __ksym`): the kernel BTF's VAR of that name
//   (vmlinux, else a module's), its type compatible with the local one -> ld_imm64
//   BPF_PSEUDO_BTF_ID with the BTF id (and the module BTF's fd in the second half);
// - an untyped one (`extern const void sym __ksym`): its /proc/kallsyms address;
// - a kfunc (`extern struct task_struct *bpf_task_from_pid(s32) __ksym`): the FUNC of that
//   (essential) name, prototype compatible -> call BPF_PSEUDO_KFUNC_CALL with the BTF id and,
//   for a module's kfunc, the index of its BTF fd in the program's fd_array (from 1).
// A weak extern the kernel lacks (or, for a kfunc, has with another prototype) stays
// unresolved: loads of it give 0 (bpf_ksym_exists() is false) and calls to it are poisoned
// as libbpf poisons them (the verifier drops them as dead code). A strong one is an error.
// Pure: the kernel's BTF and symbols come from a KsymSource.

import type { Btf } from "../btf/reader.ts";
import { Kind } from "../btf/types.ts";
import { typesAreCompat } from "../core/compat.ts";
import type { KsymExtern } from "../object/externs.ts";
import { ExternError } from "./kconfig.ts";

const EINVAL = 22;
const ESRCH = 3;

/** A module's BTF: split over vmlinux, and the fd the kernel knows it by (opened on demand). */
export interface ModuleBtf {
  name: string;
  btf: Btf;
  fd(): number;
}

export interface KsymSource {
  vmlinux(): Btf;
  /** The loaded modules' BTF (read only when a symbol is not in vmlinux). */
  modules(): ModuleBtf[];
  /** /proc/kallsyms addresses of these symbols, by name (every address a name has). */
  kallsyms(names: string[]): Map<string, bigint[]>;
}

export type ResolvedKsym =
  | { kind: "btf"; id: number; btfFd: number; fdIndex: number }
  | { kind: "addr"; addr: bigint }
  | { kind: "missing" };

export interface KsymResolution {
  byName: Map<string, ResolvedKsym>;
  /** fd_array for BPF_PROG_LOAD (module BTF fds from index 1), empty when no module is used. */
  fdArray: number[];
}

function findBtfId(
  src: KsymSource,
  name: string,
  kind: Kind,
): { btf: Btf; id: number; module: ModuleBtf | null } | null {
  const vm = src.vmlinux();
  const id = vm.byName(name, kind)[0];
  if (id !== undefined) return { btf: vm, id, module: null };
  for (const m of src.modules()) {
    const own = m.btf.byName(name, kind).filter((i) => i >= m.btf.firstId)[0];
    if (own !== undefined) return { btf: m.btf, id: own, module: m };
  }
  return null;
}

function skipModsAndTypedefs(btf: Btf, id: number): number {
  return btf.resolve(id);
}

export function resolveKsyms(
  externs: KsymExtern[],
  local: Btf,
  src: KsymSource,
): KsymResolution {
  const byName = new Map<string, ResolvedKsym>();
  const fdArray: number[] = [];
  const moduleIndex = new Map<ModuleBtf, number>();
  const indexOf = (m: ModuleBtf) => {
    let i = moduleIndex.get(m);
    if (i === undefined) {
      if (fdArray.length === 0) fdArray.push(0); // index 0 means vmlinux
      i = fdArray.length;
      fdArray.push(m.fd());
      moduleIndex.set(m, i);
    }
    return i;
  };
  let kallsyms: Map<string, bigint[]> | undefined;
  for (const e of externs) {
    if (!e.isFunc && e.typeId === 0) {
      // Untyped: the address, from /proc/kallsyms (one address only: two is ambiguous).
      kallsyms ??= src.kallsyms(
        externs.filter((x) => !x.isFunc && x.typeId === 0).map((x) => x.name),
      );
      const addrs = [...new Set(kallsyms.get(e.name) ?? [])];
      if (addrs.length > 1) {
        throw new ExternError(
          `extern '${e.name}' (.ksyms): ambiguous, /proc/kallsyms has it at ${addrs.length} addresses`,
          EINVAL,
        );
      }
      if (addrs.length === 1) byName.set(e.name, { kind: "addr", addr: addrs[0] });
      else if (e.weak) byName.set(e.name, { kind: "addr", addr: 0n });
      else {
        throw new ExternError(
          `extern '${e.name}' (.ksyms, strong): not in /proc/kallsyms (the kernel has no such ` +
            `symbol, or kallsyms hides addresses from this process)`,
          ESRCH,
        );
      }
      continue;
    }
    const name = e.isFunc ? e.essentialName : e.name;
    const hit = findBtfId(src, name, e.isFunc ? Kind.FUNC : Kind.VAR);
    if (!hit) {
      if (e.weak) {
        byName.set(e.name, e.isFunc ? { kind: "missing" } : { kind: "addr", addr: 0n });
        continue;
      }
      throw new ExternError(
        `extern '${e.name}' (.ksyms, strong): the kernel's BTF (vmlinux and modules) has no ` +
          `${e.isFunc ? "kfunc" : "variable"} ${name}; declare it __weak and test it with ` +
          `bpf_ksym_exists() to run without it`,
        EINVAL,
      );
    }
    const targetType = (hit.btf.type(hit.id) as { type: number }).type;
    const compat = typesAreCompat(
      local,
      e.typeId,
      hit.btf,
      e.isFunc ? targetType : skipModsAndTypedefs(hit.btf, targetType),
    );
    if (!compat) {
      if (e.isFunc && e.weak) {
        byName.set(e.name, { kind: "missing" });
        continue;
      }
      throw new ExternError(
        `extern '${e.name}' (.ksyms): its type is not compatible with the kernel's ` +
          `${hit.module ? `(module ${hit.module.name})` : "(vmlinux)"} [${hit.id}]`,
        EINVAL,
      );
    }
    byName.set(e.name, {
      kind: "btf",
      id: hit.id,
      btfFd: hit.module ? hit.module.fd() : 0,
      fdIndex: hit.module && e.isFunc ? indexOf(hit.module) : 0,
    });
  }
  return { byName, fdArray };
}
