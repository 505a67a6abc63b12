// Fills the .kconfig map's bytes for an object's kconfig externs, by libbpf's rules
// (bpf_object__resolve_externs, set_kcfg_value_*): LINUX_KERNEL_VERSION,
// LINUX_HAS_BPF_COOKIE and LINUX_HAS_SYSCALL_WRAPPER from the kernel; CONFIG_* from the
// kernel configuration's "CONFIG_X=value" lines (y/n/m into bool, tristate or char; "..."
// into a char array, cut to fit; numbers into an integer of the extern's size, range
// checked); any other LINUX_* extern must be weak (then 0). An extern left unset is 0 when
// weak and an error when strong. Pure: the kernel's answers come from a KconfigSource.

import { TracerError } from "../errors.ts";
import type { KconfigExtern } from "../object/externs.ts";
import type { KconfigSource } from "../kernel/kconfig.ts";

const EINVAL = 22;
const ESRCH = 3;
const ERANGE = 34;

/** An extern that cannot be given a value; `errno` is what libbpf's load fails with. */
export class ExternError extends TracerError {
  constructor(message: string, readonly errno: number) {
    super(message);
  }
}

const TRISTATE = { n: 0, y: 1, m: 2 } as const;

function writeInt(dv: DataView, e: KconfigExtern, v: bigint): void {
  switch (e.size) {
    case 1:
      dv.setUint8(e.offset, Number(BigInt.asUintN(8, v)));
      break;
    case 2:
      dv.setUint16(e.offset, Number(BigInt.asUintN(16, v)), true);
      break;
    case 4:
      dv.setUint32(e.offset, Number(BigInt.asUintN(32, v)), true);
      break;
    case 8:
      dv.setBigUint64(e.offset, BigInt.asUintN(64, v), true);
      break;
    default:
      throw new ExternError(`extern '${e.name}': an integer of ${e.size} bytes`, EINVAL);
  }
}

/** libbpf's is_kcfg_value_in_range, on the value as a u64. */
function inRange(e: KconfigExtern, v: bigint): boolean {
  if (e.size === 8) return true;
  const bits = BigInt(e.size * 8);
  if (e.signed) return BigInt.asUintN(64, v + (1n << (bits - 1n))) < (1n << bits);
  return (v >> bits) === 0n;
}

/** set_kcfg_value_num: an integer into an int, char or bool extern. */
function setNumber(dv: DataView, e: KconfigExtern, v: bigint): void {
  if (e.type !== "int" && e.type !== "char" && e.type !== "bool") {
    throw new ExternError(`extern '${e.name}': value ${v} needs an integer type`, EINVAL);
  }
  if (e.type === "bool" && v > 1n) {
    throw new ExternError(`extern '${e.name}': value ${v} is not a bool`, EINVAL);
  }
  if (!inRange(e, v)) {
    throw new ExternError(`extern '${e.name}': value ${v} does not fit ${e.size} bytes`, ERANGE);
  }
  writeInt(dv, e, v);
}

/** strtoull(s, &end, 0) taken whole, as a u64 (negative numbers wrap, as in C); or null. */
function parseU64(s: string): bigint | null {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return null;
  const digits = m[2];
  const v = /^0[xX]/.test(digits)
    ? BigInt(digits)
    : digits.length > 1 && digits[0] === "0"
    ? BigInt("0o" + digits.slice(1))
    : BigInt(digits);
  if (v > 0xffffffffffffffffn) return null; // ERANGE in strtoull
  return m[1] === "-" ? BigInt.asUintN(64, -v) : v;
}

/** One "CONFIG_X=value" value into extern `e` (bpf_object__process_kconfig_line). */
function setFromConfig(bytes: Uint8Array, e: KconfigExtern, value: string): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const c = value[0];
  if (c === "y" || c === "n" || c === "m") {
    if (e.type === "bool") {
      if (c === "m") throw new ExternError(`extern '${e.name}': 'm' needs a tristate`, EINVAL);
      dv.setUint8(e.offset, c === "y" ? 1 : 0);
    } else if (e.type === "tristate") {
      writeInt(dv, e, BigInt(TRISTATE[c]));
    } else if (e.type === "char") {
      dv.setUint8(e.offset, c.charCodeAt(0));
    } else {
      throw new ExternError(
        `extern '${e.name}': value '${c}' needs a bool, tristate or char type`,
        EINVAL,
      );
    }
  } else if (c === '"') {
    if (e.type !== "char_array") {
      throw new ExternError(`extern '${e.name}': value ${value} needs a char array`, EINVAL);
    }
    if (value.length < 2 || !value.endsWith('"')) {
      throw new ExternError(`extern '${e.name}': bad string ${value}`, EINVAL);
    }
    const text = new TextEncoder().encode(value.slice(1, -1));
    const n = Math.min(text.length, e.size - 1);
    bytes.set(text.subarray(0, n), e.offset);
    bytes[e.offset + n] = 0;
  } else {
    const v = parseU64(value);
    if (v === null) {
      throw new ExternError(`extern '${e.name}': '${value}' is not an integer`, EINVAL);
    }
    if (e.type !== "int" && e.type !== "char") {
      throw new ExternError(`extern '${e.name}': value '${value}' needs an integer type`, EINVAL);
    }
    setNumber(dv, e, v);
  }
}

/**
 * Writes every kconfig extern's value into `bytes` (the .kconfig map's value, zeroed).
 * Throws ExternError (naming the extern) where libbpf's load fails.
 */
export function fillKconfig(
  externs: KconfigExtern[],
  bytes: Uint8Array,
  source: KconfigSource,
): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const set = new Set<string>();
  const fromConfig: KconfigExtern[] = [];
  for (const e of externs) {
    if (e.name.startsWith("CONFIG_")) {
      fromConfig.push(e);
      continue;
    }
    let value: bigint;
    if (e.name === "LINUX_KERNEL_VERSION") {
      const v = source.kernelVersion();
      if (!v) throw new ExternError(`extern '${e.name}': the kernel version is unknown`, EINVAL);
      value = BigInt(v);
    } else if (e.name === "LINUX_HAS_BPF_COOKIE") {
      value = source.bpfCookie() ? 1n : 0n;
    } else if (e.name === "LINUX_HAS_SYSCALL_WRAPPER") {
      value = source.syscallWrapper() ? 1n : 0n;
    } else if (!e.name.startsWith("LINUX_") || !e.weak) {
      throw new ExternError(
        `extern '${e.name}' (.kconfig): not a CONFIG_ option and not one of the LINUX_ ` +
          `values libbpf fills (an unknown LINUX_ extern must be __weak)`,
        EINVAL,
      );
    } else {
      continue; // an unknown weak LINUX_ extern stays 0
    }
    setNumber(dv, e, value);
    set.add(e.name);
  }
  if (fromConfig.length) {
    const text = source.config();
    if (text === null) {
      throw new ExternError(
        `extern '${fromConfig[0].name}': no kernel configuration (/boot/config-RELEASE or ` +
          `/proc/config.gz) to read it from`,
        EINVAL,
      );
    }
    const byName = new Map(fromConfig.map((e) => [e.name, e]));
    for (const raw of text.split("\n")) {
      if (!raw.startsWith("CONFIG_")) continue;
      const eq = raw.indexOf("=");
      if (eq < 0 || eq === raw.length - 1) {
        throw new ExternError(`kernel configuration line '${raw}': no value`, EINVAL);
      }
      const e = byName.get(raw.slice(0, eq));
      if (!e || set.has(e.name)) continue;
      setFromConfig(bytes, e, raw.slice(eq + 1));
      set.add(e.name);
    }
  }
  for (const e of externs) {
    if (!set.has(e.name) && !e.weak) {
      throw new ExternError(
        `extern '${e.name}' (.kconfig, strong): not set by this kernel; declare it __weak ` +
          `to default to 0`,
        ESRCH,
      );
    }
  }
}
