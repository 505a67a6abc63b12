// The live "cannot keep up" signal every tracer gives on stderr while it runs: when the kernel's
// lost count grows, one line at once, then at most one line per interval for the growth since
// the last line (the in-band lost records in the output say where in the stream the gaps are;
// this line reaches the operator even when the output goes to a file or a pipe). Pure.

/** Shortest time between two warnings, ms. */
export const LOST_WARNING_INTERVAL_MS = 1000;

export class LostWarning {
  /** Lost count at the last warning. */
  private warned = 0n;
  /** When the last warning was given (ms); -Infinity before the first. */
  private at = -Infinity;

  /** `prefix` names the tracer when a session runs several ("open: "). */
  constructor(
    private readonly intervalMs = LOST_WARNING_INTERVAL_MS,
    private readonly prefix = "",
  ) {}

  /**
   * The warning to print now, given the lost count since start (`total`) at time `nowMs`, or
   * null: nothing new, or the last warning is too recent (the growth is then told in the next
   * one, or by the exit summary).
   */
  check(total: bigint, nowMs: number): string | null {
    if (total <= this.warned || nowMs - this.at < this.intervalMs) return null;
    const more = total - this.warned;
    this.warned = total;
    this.at = nowMs;
    return `tracer: ${this.prefix}cannot keep up: ${more} more events lost (the event buffer was full), ` +
      `${total} since start; a larger --ring-bytes may help\n`;
  }
}
