// The boot clock (CLOCK_BOOTTIME, what bpf_ktime_get_boot_ns stamps) and its offset to the
// wall clock, measured once at start.
//
// The runtimes expose no CLOCK_BOOTTIME (node:process hrtime is CLOCK_MONOTONIC, which stops
// during suspend), and the Platform has no clock_gettime. /proc/uptime is CLOCK_BOOTTIME with
// 10 ms resolution; reading it until its value ticks pins the boot clock to the instant of
// the tick within the read's latency (microseconds), which is then paired with the wall
// clock (performance.timeOrigin + performance.now(), sub-millisecond). This costs at most
// ~10 ms once. Uses node:fs.

import { readFileSync } from "node:fs";

function uptimeCentis(): number {
  const text = readFileSync("/proc/uptime", "latin1");
  const first = text.slice(0, text.indexOf(" "));
  const [s, c = "0"] = first.split(".");
  return Number(s) * 100 + Number(c.padEnd(2, "0").slice(0, 2));
}

function wallNowNs(): bigint {
  const ms = performance.timeOrigin + performance.now();
  return BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.round((ms % 1) * 1e6));
}

export interface BootClock {
  /** CLOCK_REALTIME - CLOCK_BOOTTIME in ns. */
  wallOffsetNs: bigint;
  /** CLOCK_BOOTTIME at the measurement, ns. */
  bootNowNs: bigint;
}

/** Measures the boot-to-wall offset, waiting for a /proc/uptime tick (at most ~20 ms). */
export function measureBootClock(): BootClock {
  const first = uptimeCentis();
  const deadline = performance.now() + 25;
  let c = first;
  let wall = wallNowNs();
  while (c === first && performance.now() < deadline) {
    wall = wallNowNs();
    c = uptimeCentis();
  }
  // c ticked between the previous wall sample and now: take the midpoint of the two.
  const after = wallNowNs();
  const wallAtTick = (wall + after) / 2n;
  const bootNowNs = BigInt(c) * 10_000_000n;
  return { wallOffsetNs: wallAtTick - bootNowNs, bootNowNs: bootNowNs + (after - wallAtTick) };
}
