// Time stamps: the kernel stamps events with CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); the
// tracer adds a wall-clock offset measured once at start (see src/tracers/boot-clock.ts).
// Pure: imports nothing from a runtime.

function pad(n: number | bigint, width: number): string {
  return String(n).padStart(width, "0");
}

/** The last second formatted by rfc3339Nanos, and its text up to the dot: events come in bursts. */
let lastSecond = NaN;
let lastPrefix = "";

/** RFC 3339 UTC time with nanoseconds, e.g. "2026-11-22T20:11:51.123456789Z". */
export function rfc3339Nanos(wallNs: bigint): string {
  const ns = Number(((wallNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n);
  return rfc3339(Number((wallNs - BigInt(ns)) / 1_000_000_000n), ns);
}

/**
 * rfc3339Nanos(bootNs + offsetNs) with number arithmetic, exact while bootNs < 2^53 (104 days
 * of uptime; later it takes the bigint path): the hot path of every JSON record.
 */
export function rfc3339Boot(bootNs: bigint, offsetNs: bigint): string {
  if (bootNs >= 9007199254740992n || offsetNs !== cachedOffset) {
    if (bootNs >= 9007199254740992n) return rfc3339Nanos(bootNs + offsetNs);
    cachedOffset = offsetNs;
    const rem = ((offsetNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
    offsetSec = Number((offsetNs - rem) / 1_000_000_000n);
    offsetRem = Number(rem);
  }
  const n = Number(bootNs);
  const sec = Math.floor(n / 1e9);
  let ns = n - sec * 1e9 + offsetRem;
  let carry = 0;
  if (ns >= 1e9) {
    ns -= 1e9;
    carry = 1;
  }
  return rfc3339(sec + offsetSec + carry, ns);
}

let cachedOffset = -1n;
let offsetSec = 0;
let offsetRem = 0;

/** The text of a UTC second and nanoseconds. */
function rfc3339(second: number, ns: number): string {
  if (second !== lastSecond) {
    const d = new Date(second * 1000);
    lastPrefix = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-` +
      `${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:` +
      `${pad(d.getUTCSeconds(), 2)}.`;
    lastSecond = second;
  }
  return lastPrefix + pad(ns, 9) + "Z";
}

/** Local clock time "HH:MM:SS" (the -T column, as execsnoop prints it; TZ from the runtime). */
export function clockTime(wallNs: bigint): string {
  const d = new Date(Number(wallNs / 1_000_000n));
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}`;
}

/** Seconds since a start, with 3 decimals (the -t column). */
export function secondsSince(ns: bigint, startNs: bigint): string {
  const ms = (ns - startNs) / 1_000_000n;
  const neg = ms < 0n;
  const abs = neg ? -ms : ms;
  return `${neg ? "-" : ""}${abs / 1000n}.${pad(abs % 1000n, 3)}`;
}
