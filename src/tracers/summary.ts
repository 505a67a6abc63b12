// The line a session prints at exit, on stderr: events printed, events lost, every other
// non-zero kernel counter, and runs the kernel skipped; for tracer watch the totals, then the
// same per tracer. Pure.

/**
 * The line printed at exit: events printed, events lost, and every other non-zero kernel
 * counter (truncations, unreadable argv, ...), e.g. "1234 events, 0 lost, 2 args_truncated".
 * `names` are the stats counters' names by index; index 0 is the lost count.
 */
export function summaryLine(printed: number, stats: bigint[], names: readonly string[]): string {
  const parts = [`${printed} events`, `${stats[0] ?? 0n} lost`];
  names.forEach((name, i) => {
    if (i > 0 && (stats[i] ?? 0n) > 0n) parts.push(`${stats[i]} ${name}`);
  });
  return parts.join(", ");
}

/** What one tracer of a session counted. */
export interface TracerCounts {
  name: string;
  printed: number;
  /** The stats counters by index (index 0: lost). */
  stats: bigint[];
  statNames: readonly string[];
  /** Runs of its programs the kernel skipped (another BPF program was running on that CPU). */
  skippedRuns: bigint;
}

/** One tracer's summary: summaryLine, and the runs skipped by the kernel when there were any. */
function tracerSummary(c: TracerCounts): string {
  // Said apart: these are not in the programs' counters, and each may be a record lost.
  return summaryLine(c.printed, c.stats, c.statNames) +
    (c.skippedRuns > 0n ? `, ${c.skippedRuns} runs skipped by the kernel` : "");
}

/**
 * The exit summary (without "tracer: "). One tracer: its own line. Several (`combined`, tracer
 * watch): the totals, then each tracer's line, and those the kernel refused, e.g.
 * "12 events, 0 lost (exec: 2 events, 0 lost; open: 10 events, 0 lost; connect: not traced)".
 */
export function sessionSummary(
  counts: readonly TracerCounts[],
  refused: readonly string[],
  combined: boolean,
): string {
  if (!combined) return tracerSummary(counts[0]);
  const printed = counts.reduce((n, c) => n + c.printed, 0);
  const lost = counts.reduce((n, c) => n + (c.stats[0] ?? 0n), 0n);
  const each = [
    ...counts.map((c) => `${c.name}: ${tracerSummary(c)}`),
    ...refused.map((name) => `${name}: not traced`),
  ];
  return `${printed} events, ${lost} lost (${each.join("; ")})`;
}
