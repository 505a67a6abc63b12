// Time stamps: the kernel stamps events with CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); the
// tracer adds a wall-clock offset measured once at start (see src/tracers/boot-clock.ts).
// Pure: imports nothing from a runtime.

function pad(n: number | bigint, width: number): string {
  return String(n).padStart(width, "0");
}

/** RFC 3339 UTC time with nanoseconds, e.g. "2026-11-22T20:11:51.123456789Z". */
export function rfc3339Nanos(wallNs: bigint): string {
  const ms = Number(wallNs / 1_000_000n);
  const d = new Date(ms);
  const ns = ((wallNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.` +
    `${pad(ns, 9)}Z`;
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
