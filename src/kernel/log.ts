// Verifier / BTF log handling. Pure.

/** The last `maxLines` non-empty lines of a NUL-terminated kernel log buffer. */
export function verifierLogTail(log: Uint8Array, maxLines = 20): string {
  const end = log.indexOf(0);
  const text = new TextDecoder().decode(end < 0 ? log : log.subarray(0, end));
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-maxLines).join("\n");
}
