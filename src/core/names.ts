// CO-RE names: the essential name of a flavored type, exactly as libbpf computes it. Pure.

const UNDERSCORE = 0x5f;

/**
 * Length of the essential part of `name` (libbpf's bpf_core_essential_name_len): the name
 * is cut at its last "X___Y" separator where X and Y are not underscores.
 */
export function essentialNameLength(name: string): number {
  const n = name.length;
  for (let i = n - 5; i >= 0; i--) {
    if (
      name.charCodeAt(i) !== UNDERSCORE && name.charCodeAt(i + 1) === UNDERSCORE &&
      name.charCodeAt(i + 2) === UNDERSCORE && name.charCodeAt(i + 3) === UNDERSCORE &&
      name.charCodeAt(i + 4) !== UNDERSCORE
    ) {
      return i + 1;
    }
  }
  return n;
}

export function coreEssentialName(name: string): string {
  return name.slice(0, essentialNameLength(name));
}

/** Same essential name (libbpf compares the essential prefixes of both). */
export function essentialNamesEqual(a: string, b: string): boolean {
  const la = essentialNameLength(a);
  const lb = essentialNameLength(b);
  return la === lb && a.slice(0, la) === b.slice(0, lb);
}
