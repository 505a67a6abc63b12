// Faithful, terminal-safe text for bytes that come from the kernel (file names, argv, comm).
//
// The rule (the same in the table and in JSON's escaped strings):
//   - printable ASCII and valid UTF-8 characters are kept as they are;
//   - a backslash becomes "\\";
//   - \t, \n, \r become "\t", "\n", "\r"; other C0 controls and DEL become "\xNN";
//   - C1 controls (U+0080..U+009F, which some terminals obey) are escaped as the bytes
//     that encode them ("\xc2\x9b"); so are bytes that are not valid UTF-8 ("\xff"),
//     including overlong forms, surrogates and code points above U+10FFFF;
//   - Unicode line/paragraph separators, bidirectional overrides, zero-width spaces and
//     joiners are escaped as "\u{202e}"; so is a combining mark at the very start (it would
//     join the column separator before it).
// So the text never moves the cursor or changes the terminal, and the original bytes can be
// recovered from it (see unescapeBytes).
// Pure: imports nothing from a runtime.

const HEX = "0123456789abcdef";

function hex(b: number): string {
  return "\\x" + HEX[b >> 4] + HEX[b & 15];
}

/** Code points escaped as \u{...} although valid: separators and bidi controls. */
function isInvisibleControl(cp: number): boolean {
  return cp === 0x2028 || cp === 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069) || cp === 0x200e || cp === 0x200f || cp === 0x061c ||
    cp === 0xfeff || (cp >= 0x200b && cp <= 0x200d);
}

/** Combining marks (zero display width): escaped at the start of a text. */
export function isCombining(cp: number): boolean {
  return (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
    (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe20 && cp <= 0xfe2f);
}

/**
 * Length of the valid UTF-8 sequence starting at bytes[i] (2..4), or 0 when the bytes there
 * are not a valid multi-byte sequence. bytes[i] must be >= 0x80.
 */
export function utf8SequenceLength(bytes: Uint8Array, i: number, end = bytes.length): number {
  const b0 = bytes[i];
  let n: number, min: number, cp: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    min = 0x80;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    min = 0x800;
    cp = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    min = 0x10000;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > end) return 0;
  for (let k = 1; k < n; k++) {
    const b = bytes[i + k];
    if ((b & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

function decodeCodePoint(bytes: Uint8Array, i: number, n: number): number {
  let cp = bytes[i] & (n === 2 ? 0x1f : n === 3 ? 0x0f : 0x07);
  for (let k = 1; k < n; k++) cp = (cp << 6) | (bytes[i + k] & 0x3f);
  return cp;
}

/** True when the bytes are valid UTF-8 (no overlong forms, no surrogates); KernelText strings are. */
export function isValidUtf8(bytes: KernelText): boolean {
  if (typeof bytes === "string") return true;
  for (let i = 0; i < bytes.length;) {
    if (bytes[i] < 0x80) {
      i++;
      continue;
    }
    const n = utf8SequenceLength(bytes, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}

/**
 * Bytes from the kernel as the decoders hand them on: a string when they are all printable
 * ASCII without a backslash (the string is then exactly the bytes, its escaped text and its
 * UTF-8 decoding at once), else the bytes themselves. Most names are plain, and a string
 * costs the hot path neither a copy of the bytes nor their escaping.
 */
export type KernelText = string | Uint8Array;

const utf8Decoder = new TextDecoder();

/** bytes[start, end) as KernelText: a string when plain ASCII, else a copy of the bytes. */
export function kernelText(bytes: Uint8Array, start: number, end: number): KernelText {
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b < 0x20 || b >= 0x7f || b === 0x5c) return bytes.slice(start, end);
  }
  if (end - start <= 16) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }
  return utf8Decoder.decode(bytes.subarray(start, end));
}

/** The bytes of KernelText. */
export function textBytes(t: KernelText): Uint8Array {
  return typeof t === "string" ? encoder.encode(t) : t;
}

/** The escaped text of bytes (see the rule at the top of this file); KernelText strings as they are. */
export function escapeBytes(bytes: KernelText): string {
  if (typeof bytes === "string") return bytes;
  // Fast path: printable ASCII without a backslash.
  let plain = true;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b < 0x20 || b >= 0x7f || b === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return asciiString(bytes);
  let s = "";
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    if (b >= 0x20 && b < 0x7f) {
      s += b === 0x5c ? "\\\\" : String.fromCharCode(b);
      i++;
    } else if (b < 0x80) {
      s += b === 0x0a ? "\\n" : b === 0x09 ? "\\t" : b === 0x0d ? "\\r" : hex(b);
      i++;
    } else {
      const n = utf8SequenceLength(bytes, i);
      if (n === 0) {
        s += hex(b);
        i++;
        continue;
      }
      const cp = decodeCodePoint(bytes, i, n);
      if (cp <= 0x9f) {
        for (let k = 0; k < n; k++) s += hex(bytes[i + k]);
      } else if (isInvisibleControl(cp) || (i === 0 && isCombining(cp))) {
        s += `\\u{${cp.toString(16)}}`;
      } else {
        s += String.fromCodePoint(cp);
      }
      i += n;
    }
  }
  return s;
}

function asciiString(bytes: Uint8Array): string {
  if (bytes.length <= 64) {
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }
  return latin1.decode(bytes);
}

const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();

/** The bytes an escapeBytes() text stands for (its inverse). */
export function unescapeBytes(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length;) {
    const c = text[i];
    if (c !== "\\") {
      const cp = text.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      for (const b of encoder.encode(ch)) out.push(b);
      i += ch.length;
      continue;
    }
    const next = text[i + 1];
    if (next === "\\") out.push(0x5c), i += 2;
    else if (next === "n") out.push(0x0a), i += 2;
    else if (next === "t") out.push(0x09), i += 2;
    else if (next === "r") out.push(0x0d), i += 2;
    else if (next === "x") out.push(parseInt(text.slice(i + 2, i + 4), 16)), i += 4;
    else if (next === "u") {
      const close = text.indexOf("}", i);
      const cp = parseInt(text.slice(i + 3, close), 16);
      for (const b of encoder.encode(String.fromCodePoint(cp))) out.push(b);
      i = close + 1;
    } else {
      throw new Error(`unescapeBytes: bad escape at ${i}`);
    }
  }
  return new Uint8Array(out);
}

/**
 * One argument as shown in a command line: escaped, and wrapped in double quotes (with
 * inner double quotes as \") when it is empty or contains a space or a quote, so that
 * arguments never run together.
 */
export function quoteArg(bytes: Uint8Array): string {
  const text = escapeBytes(bytes);
  if (text !== "" && !/[\s"']/.test(text)) return text;
  return '"' + text.replaceAll('"', '\\"') + '"';
}
