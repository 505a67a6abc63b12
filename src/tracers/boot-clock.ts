// The boot clock (CLOCK_BOOTTIME, what bpf_ktime_get_boot_ns stamps) and its offset to the
// wall clock, measured once at start through clock_gettime(2). Pure over a clock function.

export type ClockNs = (clock: "real" | "monotonic" | "boot") => bigint;

export interface BootClock {
  /** CLOCK_REALTIME - CLOCK_BOOTTIME in ns. */
  wallOffsetNs: bigint;
  /** CLOCK_BOOTTIME at the measurement, ns. */
  bootNowNs: bigint;
}

/**
 * CLOCK_BOOTTIME - CLOCK_MONOTONIC (the time the machine spent suspended), for programs that
 * stamp with the monotonic clock: a boot reading bracketed by two monotonic ones, never below 0.
 */
export function measureBootLead(clockNs: ClockNs): bigint {
  const before = clockNs("monotonic");
  const boot = clockNs("boot");
  const after = clockNs("monotonic");
  const lead = boot - (before + after) / 2n;
  return lead > 0n ? lead : 0n;
}

/**
 * Measures the boot-to-wall offset: a boot-clock reading bracketed by two wall-clock readings
 * (the tightest of three tries), paired with their midpoint.
 */
export function measureBootClock(clockNs: ClockNs): BootClock {
  let best: { span: bigint; clock: BootClock } | null = null;
  for (let i = 0; i < 3; i++) {
    const before = clockNs("real");
    const boot = clockNs("boot");
    const after = clockNs("real");
    const span = after - before;
    if (!best || span < best.span) {
      best = { span, clock: { wallOffsetNs: (before + after) / 2n - boot, bootNowNs: boot } };
    }
  }
  return best!.clock;
}
