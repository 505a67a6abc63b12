// Base64 for the embedded objects, their snapshots and the CO-RE cache: the runtime's native
// Uint8Array.fromBase64 / toBase64 where it has them (Bun and Deno both do today), else
// atob / btoa. Pure.

type Codec = {
  fromBase64?: (s: string) => Uint8Array;
  prototype: { toBase64?: () => string };
};
const codec = Uint8Array as unknown as Codec;

/** The bytes of base64 text; throws on text that is not base64. */
export function fromBase64(text: string): Uint8Array {
  if (codec.fromBase64) return codec.fromBase64(text);
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

export function toBase64(bytes: Uint8Array): string {
  if (codec.prototype.toBase64) return codec.prototype.toBase64.call(bytes);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
