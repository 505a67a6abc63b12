// Setting `const volatile` configuration variables (.rodata) by name before load, checked
// against their BTF type: integer width and signedness, bool, enum, char arrays. Pure.

import { TracerError } from "../errors.ts";
import type { Btf } from "../btf/reader.ts";
import { INT_BOOL, INT_SIGNED, Kind } from "../btf/types.ts";
import type { MapSpec } from "../object/types.ts";

export type ConstantValue = number | bigint | boolean | string;

export class ConstantError extends TracerError {}

/** Writes one value of type `typeId` into `dv` at `off`, or throws a ConstantError. */
function writeValue(
  btf: Btf,
  typeId: number,
  dv: DataView,
  off: number,
  name: string,
  value: ConstantValue,
): void {
  const t = btf.type(btf.resolve(typeId));
  const bad = (want: string) =>
    new ConstantError(`constant ${name}: ${want}, got ${typeof value} ${String(value)}`);
  if (t.kind === Kind.INT || t.kind === Kind.ENUM || t.kind === Kind.ENUM64) {
    const size = t.size;
    const isBool = t.kind === Kind.INT && (t.encoding & INT_BOOL) !== 0;
    const signed = t.kind === Kind.INT ? (t.encoding & INT_SIGNED) !== 0 : t.signed;
    let v: bigint;
    if (typeof value === "boolean") {
      if (!isBool) throw bad(`expects an integer of ${size} bytes`);
      v = value ? 1n : 0n;
    } else if (typeof value === "number" || typeof value === "bigint") {
      if (typeof value === "number" && !Number.isInteger(value)) throw bad("expects an integer");
      if (isBool) throw bad("expects a boolean");
      v = BigInt(value);
    } else {
      throw bad(`expects an integer of ${size} bytes`);
    }
    const bits = BigInt(size * 8);
    const min = signed ? -(1n << (bits - 1n)) : 0n;
    const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    if (v < min || v > max) {
      throw new ConstantError(
        `constant ${name}: ${v} does not fit ${
          signed ? "a signed" : "an unsigned"
        } ${size}-byte integer (${min}..${max})`,
      );
    }
    const u = BigInt.asUintN(size * 8, v);
    for (let i = 0; i < size; i++) dv.setUint8(off + i, Number((u >> BigInt(8 * i)) & 0xffn));
    return;
  }
  if (t.kind === Kind.ARRAY) {
    const elem = btf.type(btf.resolve(t.elemType));
    if (elem.kind === Kind.INT && elem.size === 1 && typeof value === "string") {
      const bytes = new TextEncoder().encode(value);
      if (bytes.length >= t.nelems) {
        throw new ConstantError(
          `constant ${name}: "${value}" is ${bytes.length} bytes, the array holds ${
            t.nelems - 1
          } and a NUL`,
        );
      }
      for (let i = 0; i < t.nelems; i++) dv.setUint8(off + i, i < bytes.length ? bytes[i] : 0);
      return;
    }
    throw bad("is an array; only strings into char arrays are supported");
  }
  throw bad(`has BTF kind ${Kind[t.kind]}, which cannot be set`);
}

/**
 * Returns a copy of the data map's initial bytes with `constants` written in.
 * Unknown names are an error that lists the variables the section has.
 */
export function applyConstants(
  btf: Btf,
  map: MapSpec,
  constants: Record<string, ConstantValue>,
): Uint8Array {
  const data = map.data;
  if (!data) throw new ConstantError(`map ${map.name} holds no global data`);
  const out = data.bytes.slice();
  const dv = new DataView(out.buffer);
  for (const [name, value] of Object.entries(constants)) {
    const v = data.vars.find((x) => x.name === name);
    if (!v) {
      const known = data.vars.map((x) => x.name).join(", ") || "none";
      throw new ConstantError(
        `constant ${name}: no such variable in ${data.section} (it has: ${known})`,
      );
    }
    const offset = v.offset;
    if (offset + v.size > out.length) {
      throw new ConstantError(`constant ${name}: lies outside ${data.section}`);
    }
    writeValue(btf, v.typeId, dv, offset, name, value);
  }
  return out;
}
