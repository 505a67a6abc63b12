// JSON lines: one object per line, fields in insertion order.
//
// Lossless rule for bytes from the kernel (see README-json.md):
//   - bytes that are valid UTF-8 become a plain JSON string (JSON's own escapes only);
//   - other bytes become the escaped text of escape.ts ("\xff", "\\", ...) AND the exact
//     bytes are carried in a sibling field named <field>_b64 (standard base64); for "args",
//     args_b64 is an array holding every argument's base64, same length as args.
//   The _b64 field is present only when needed, so its absence means the string is exact.
// 64-bit integers are written as exact JSON numbers (bigints included, never rounded).
// Pure: imports nothing from a runtime.

import { escapeBytes, isValidUtf8, type KernelText } from "./escape.ts";

export type JsonValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

// ignoreBOM: a leading U+FEFF is part of the bytes, not a mark to drop.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** Standard base64 of bytes. */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Sets record[name] to the text of bytes, and record[name_b64] when they are not UTF-8. */
export function setBytesField(
  record: Record<string, JsonValue>,
  name: string,
  bytes: KernelText,
): void {
  if (typeof bytes === "string") {
    record[name] = bytes; // plain ASCII: exact as it is
  } else if (isValidUtf8(bytes)) {
    record[name] = utf8.decode(bytes);
  } else {
    record[name] = escapeBytes(bytes);
    record[`${name}_b64`] = base64(bytes);
  }
}

/**
 * The JSON text `,"name":"..."` of bytes, followed by `,"name_b64":"..."` when they are not
 * UTF-8 (the rule of setBytesField, for formatters that write their lines directly).
 */
export function bytesFieldJson(name: string, bytes: KernelText): string {
  if (typeof bytes === "string") return `,"${name}":${JSON.stringify(bytes)}`;
  if (isValidUtf8(bytes)) return `,"${name}":${JSON.stringify(utf8.decode(bytes))}`;
  return `,"${name}":${JSON.stringify(escapeBytes(bytes))},"${name}_b64":"${base64(bytes)}"`;
}

/** Sets record[name] to the texts of a list of byte strings, and record[name_b64] if needed. */
export function setBytesListField(
  record: Record<string, JsonValue>,
  name: string,
  list: readonly Uint8Array[],
): void {
  let allValid = true;
  const texts = list.map((b) => {
    if (isValidUtf8(b)) return utf8.decode(b);
    allValid = false;
    return escapeBytes(b);
  });
  record[name] = texts;
  if (!allValid) record[`${name}_b64`] = list.map(base64);
}

const BIG_MARK = "\u0000big:";
const BIG_MARKED = /"\\u0000big:(-?\d+)"/g;

/**
 * The JSON text of a value (bigints as exact numbers). Fast path for a flat record (the
 * common case): top-level bigints become numbers (or marked strings when beyond 2^53, put
 * back as digits afterwards) and the native JSON.stringify does the rest. The mark starts
 * with a NUL character, which no string from the kernel (C strings) can hold.
 */
export function toJson(value: JsonValue): string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return slowJson(value);
  const rec = value as { readonly [key: string]: JsonValue };
  let copy: Record<string, JsonValue> | null = null;
  let marked = false;
  for (const k in rec) {
    const v = rec[k];
    if (typeof v === "bigint") {
      copy ??= { ...rec };
      if (v <= 9007199254740991n && v >= -9007199254740991n) copy[k] = Number(v);
      else {
        copy[k] = BIG_MARK + v;
        marked = true;
      }
    } else if (v !== null && typeof v === "object") {
      if (!isFlatArray(v)) return slowJson(value);
    }
  }
  const text = JSON.stringify(copy ?? rec);
  return marked ? text.replace(BIG_MARKED, "$1") : text;
}

function isFlatArray(v: JsonValue): boolean {
  if (!Array.isArray(v)) return false;
  for (const x of v) {
    if (x !== null && (typeof x === "object" || typeof x === "bigint")) return false;
  }
  return true;
}

/** The general serializer: any nesting, bigints anywhere. */
function slowJson(value: JsonValue): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "[" + value.map(slowJson).join(",") + "]";
  let s = "{";
  let first = true;
  for (const [k, v] of Object.entries(value as { [key: string]: JsonValue })) {
    s += (first ? "" : ",") + JSON.stringify(k) + ":" + slowJson(v);
    first = false;
  }
  return s + "}";
}

/** One JSON line (with its newline). */
export function jsonLine(record: { readonly [key: string]: JsonValue }): string {
  return toJson(record) + "\n";
}
