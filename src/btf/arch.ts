// Which architecture a kernel's BTF describes, so that a --btf file of another machine is
// refused before anything is relocated against it (its offsets would be wrong, silently).
// Byte order is told by the BTF magic (a big-endian BTF is refused by the reader); a vmlinux
// ELF says its machine in e_machine; a raw little-endian BTF says it through the registers in
// its `struct pt_regs`, whose members differ per architecture. Pure.

import { type Btf } from "./reader.ts";
import { Kind } from "./types.ts";

/** e_machine values of the architectures Linux ships BTF for, by name. */
const ELF_MACHINES: Record<number, string> = {
  3: "i386",
  8: "mips",
  20: "powerpc",
  21: "powerpc64",
  22: "s390x",
  40: "arm",
  62: "x86_64",
  183: "arm64",
  243: "riscv64",
  258: "loongarch64",
};

/** The architecture an ELF e_machine names ("machine N" when unknown). */
export function elfMachineName(machine: number): string {
  return ELF_MACHINES[machine] ?? `machine ${machine}`;
}

/** The architecture of the runtime's `process.arch` ("x64" -> "x86_64"). */
export function hostArchitecture(arch: string): string {
  const names: Record<string, string> = {
    x64: "x86_64",
    ia32: "i386",
    arm64: "arm64",
    arm: "arm",
    riscv64: "riscv64",
    s390x: "s390x",
    ppc64: "powerpc64",
    loong64: "loongarch64",
  };
  return names[arch] ?? arch;
}

/** Members of `struct pt_regs` that only one architecture has. */
const PT_REGS_MARKS: [string, string[]][] = [
  ["x86_64", ["r15", "ip", "orig_ax"]],
  ["i386", ["bx", "ip", "orig_ax"]],
  ["arm64", ["pstate", "orig_x0"]],
  ["riscv64", ["epc", "ra"]],
  ["s390x", ["psw", "gprs"]],
  ["powerpc64", ["nip", "msr"]],
  ["loongarch64", ["csr_era", "regs"]],
];

/**
 * The architecture the kernel BTF describes, from its `struct pt_regs`; null when it has none
 * or its members match no known architecture (nothing can then be said).
 */
export function btfArchitecture(btf: Btf): string | null {
  for (const id of btf.byName("pt_regs", Kind.STRUCT)) {
    const t = btf.type(id);
    if (t.kind !== Kind.STRUCT) continue;
    const names = new Set(t.members.map((m) => m.name));
    // i386 and x86_64 share ip/orig_ax; x86_64 alone has r15.
    for (const [arch, marks] of PT_REGS_MARKS) {
      if (marks.every((m) => names.has(m))) return arch;
    }
  }
  return null;
}
