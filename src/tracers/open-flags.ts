// open(2) flags: their names for display (O_WRONLY|O_CREAT|O_CLOEXEC) and for -f. The values
// are x86-64's (and most architectures'); arm64 differs in four bits, given by ARM64_FLAGS.
// Pure.

import { TracerError } from "../errors.ts";

export type Arch = "x64" | "arm64";

const ACCMODES = ["O_RDONLY", "O_WRONLY", "O_RDWR"] as const;

/** Single-bit flags, in the order they are printed (access mode first, then these). */
const X64_FLAGS: [string, number][] = [
  ["O_CREAT", 0o100],
  ["O_EXCL", 0o200],
  ["O_NOCTTY", 0o400],
  ["O_TRUNC", 0o1000],
  ["O_APPEND", 0o2000],
  ["O_NONBLOCK", 0o4000],
  ["O_DSYNC", 0o10000],
  ["O_ASYNC", 0o20000],
  ["O_DIRECT", 0o40000],
  ["O_LARGEFILE", 0o100000],
  ["O_DIRECTORY", 0o200000],
  ["O_NOFOLLOW", 0o400000],
  ["O_NOATIME", 0o1000000],
  ["O_CLOEXEC", 0o2000000],
  ["__O_SYNC", 0o4000000],
  ["O_PATH", 0o10000000],
  ["__O_TMPFILE", 0o20000000],
];

/** arm64 swaps these four (arch/arm64/include/uapi/asm/fcntl.h). */
const ARM64_FLAGS: Record<string, number> = {
  O_DIRECTORY: 0o40000,
  O_NOFOLLOW: 0o100000,
  O_DIRECT: 0o200000,
  O_LARGEFILE: 0o400000,
};

function table(arch: Arch): [string, number][] {
  return arch === "arm64" ? X64_FLAGS.map(([n, v]) => [n, ARM64_FLAGS[n] ?? v]) : X64_FLAGS;
}

const bit = (arch: Arch, name: string) => table(arch).find(([n]) => n === name)![1];

/** Open flags as the decoder gives them: a number, or a bigint when past 2^53. */
export type OpenFlags = number | bigint;

/** The low 32 bits (all the flags Linux has) and the rest. */
function split(flags: OpenFlags): [number, OpenFlags] {
  if (typeof flags === "number") return [flags >>> 0, Math.floor(flags / 2 ** 32)];
  return [Number(flags & 0xffffffffn), flags >> 32n];
}

/** Whether the open's flags make it take a mode (O_CREAT or O_TMPFILE). */
export function takesMode(flags: OpenFlags, arch: Arch = "x64"): boolean {
  return (split(flags)[0] & (bit(arch, "O_CREAT") | bit(arch, "__O_TMPFILE"))) !== 0;
}

/**
 * The symbolic flags: the access mode, then each flag set, e.g. "O_WRONLY|O_CREAT|O_CLOEXEC".
 * O_SYNC (__O_SYNC|O_DSYNC) and O_TMPFILE (__O_TMPFILE|O_DIRECTORY) are named as the
 * programs wrote them; unknown bits are shown in hex.
 */
export function flagNames(flags: OpenFlags, arch: Arch = "x64"): string {
  // A program opens with a handful of flag sets: the names are kept per value.
  const cache = NAMES[arch];
  const known = typeof flags === "number" ? cache.get(flags) : undefined;
  if (known !== undefined) return known;
  const names = nameFlags(flags, arch);
  if (typeof flags === "number") {
    if (cache.size >= 1024) cache.clear();
    cache.set(flags, names);
  }
  return names;
}

const NAMES: Record<Arch, Map<number, string>> = { x64: new Map(), arm64: new Map() };

function nameFlags(flags: OpenFlags, arch: Arch): string {
  const [lo, hi] = split(flags);
  const sync = bit(arch, "__O_SYNC") | bit(arch, "O_DSYNC");
  const tmpfile = bit(arch, "__O_TMPFILE") | bit(arch, "O_DIRECTORY");
  let names = ACCMODES[lo & 3] ?? "O_ACCMODE";
  let rest = (lo & ~3) >>> 0;
  for (const [name, v] of table(arch)) {
    if (!(rest & v)) continue;
    if (name === "O_DSYNC" && (rest & sync) === sync) {
      names += "|O_SYNC";
      rest &= ~sync;
    } else if (name === "O_DIRECTORY" && (rest & tmpfile) === tmpfile) {
      names += "|O_TMPFILE";
      rest &= ~tmpfile;
    } else if (!name.startsWith("__")) {
      names += "|" + name;
      rest &= ~v;
    }
  }
  rest >>>= 0;
  if (rest !== 0 || hi) {
    const unknown = typeof flags === "bigint" || hi
      ? (BigInt(hi) << 32n) | BigInt(rest)
      : BigInt(rest);
    names += `|0x${unknown.toString(16)}`;
  }
  return names;
}

/** The -f filter: bits (any of them) and access modes (bit n: O_ACCMODE == n). */
export interface FlagFilter {
  bits: bigint;
  accmodes: number;
}

/** Parses -f values (O_WRONLY, O_CREAT, creat ...); throws a TracerError for an unknown one. */
export function parseFlagFilter(values: readonly string[], arch: Arch = "x64"): FlagFilter {
  const f: FlagFilter = { bits: 0n, accmodes: 0 };
  for (const raw of values) {
    const name = raw.toUpperCase().startsWith("O_") ? raw.toUpperCase() : `O_${raw.toUpperCase()}`;
    const acc = (ACCMODES as readonly string[]).indexOf(name);
    if (acc >= 0) {
      f.accmodes |= 1 << acc;
      continue;
    }
    // O_SYNC and O_TMPFILE are matched by the bit that only they set.
    const single = name === "O_SYNC" ? "__O_SYNC" : name === "O_TMPFILE" ? "__O_TMPFILE" : name;
    const entry = table(arch).find(([n]) => n === single);
    if (!entry) {
      const known = [...ACCMODES, ...table(arch).map(([n]) => n.replace(/^__/, ""))];
      throw new TracerError(`unknown open flag '${raw}' (known: ${known.join(", ")})`);
    }
    f.bits |= BigInt(entry[1]);
  }
  return f;
}
