// Test helper: a BTF type in the shape `bpftool btf dump -j` prints it, to compare the
// reader against bpftool type by type. Not a test file itself.

import { execFileSync } from "node:child_process";
import type { Btf } from "../src/btf/reader.ts";
import { INT_BOOL, INT_CHAR, INT_SIGNED, Kind, KIND_NAMES } from "../src/btf/types.ts";

const LINKAGE = ["static", "global", "extern"];
const anon = (s: string) => s === "" ? "(anon)" : s;

export function asBpftoolJson(btf: Btf, id: number): Record<string, unknown> {
  const t = btf.type(id);
  const o: Record<string, unknown> = { id, kind: KIND_NAMES[t.kind], name: anon(t.name) };
  switch (t.kind) {
    case Kind.INT:
      o.size = t.size;
      o.bits_offset = t.offset;
      o.nr_bits = t.bits;
      o.encoding = t.encoding & INT_SIGNED
        ? "SIGNED"
        : t.encoding & INT_CHAR
        ? "CHAR"
        : t.encoding & INT_BOOL
        ? "BOOL"
        : "(none)";
      break;
    case Kind.PTR:
    case Kind.TYPEDEF:
    case Kind.VOLATILE:
    case Kind.CONST:
    case Kind.RESTRICT:
    case Kind.TYPE_TAG:
      o.type_id = t.type;
      break;
    case Kind.ARRAY:
      o.type_id = t.elemType;
      o.index_type_id = t.indexType;
      o.nr_elems = t.nelems;
      break;
    case Kind.STRUCT:
    case Kind.UNION:
      o.size = t.size;
      o.vlen = t.members.length;
      o.members = t.members.map((m) => {
        const r: Record<string, unknown> = {
          name: anon(m.name),
          type_id: m.type,
          bits_offset: m.bitOffset,
        };
        if (m.bitfieldSize) r.bitfield_size = m.bitfieldSize;
        return r;
      });
      break;
    case Kind.ENUM:
    case Kind.ENUM64:
      o.encoding = t.signed ? "SIGNED" : "UNSIGNED";
      o.size = t.size;
      o.vlen = t.values.length;
      // bpftool 7.1 prints an unsigned 32-bit ENUM value through its signed s32 field
      // sign-extended to u64 (0xefffffff shows as 18446744073441116159): mimic that quirk.
      o.values = t.values.map((v) => ({
        name: v.name,
        val: Number(
          t.kind === Kind.ENUM && !t.signed
            ? BigInt.asUintN(64, BigInt.asIntN(32, v.value))
            : v.value,
        ),
      }));
      break;
    case Kind.FWD:
      o.fwd_kind = t.union ? "union" : "struct";
      break;
    case Kind.FUNC:
      o.type_id = t.type;
      o.linkage = LINKAGE[t.linkage] ?? "(unknown)";
      break;
    case Kind.FUNC_PROTO:
      o.ret_type_id = t.returnType;
      o.vlen = t.params.length;
      o.params = t.params.map((p) => ({ name: anon(p.name), type_id: p.type }));
      break;
    case Kind.VAR:
      o.type_id = t.type;
      o.linkage = LINKAGE[t.linkage] ?? "(unknown)";
      break;
    case Kind.DATASEC:
      o.size = t.size;
      o.vlen = t.vars.length;
      o.vars = t.vars.map((v) => ({ type_id: v.type, offset: v.offset, size: v.size }));
      break;
    case Kind.FLOAT:
      o.size = t.size;
      break;
    case Kind.DECL_TAG:
      o.type_id = t.type;
      o.component_idx = t.componentIdx;
      break;
  }
  return o;
}

/** `bpftool btf dump file PATH -j`, parsed (numbers above 2^53 lose precision, as ours do). */
export function bpftoolTypes(path: string, base?: string): Record<string, unknown>[] {
  const args = ["btf", "dump", "file", path, "-j"];
  if (base) args.splice(0, 0, "--base-btf", base);
  const out = execFileSync("bpftool", args, { maxBuffer: 1 << 30, encoding: "utf8" });
  return JSON.parse(out).types;
}

/** The directories of the cached Debian 6.1 kernels, fetched on first use. */
export function debianKernels(): string[] {
  const script = new URL("../scripts/fetch-kernels.sh", import.meta.url).pathname;
  return execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
    .trim().split("\n");
}
