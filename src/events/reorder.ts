// Puts records read from several per-CPU buffers (the perf buffer: one ring per CPU, drained
// one after the other) back in the order they happened, by their kernel time stamps.
// A record is held until it is older than a short window, so one written on another CPU
// a moment before it, but read in a later drain, still comes first. Pure.

export class ReorderBuffer<R> {
  private held: { t: bigint; seq: number; r: R }[] = [];
  private seq = 0;

  constructor(private readonly timeOf: (r: R) => bigint) {}

  /** Records waiting for their window to pass. */
  get size(): number {
    return this.held.length;
  }

  push(r: R): void {
    this.held.push({ t: this.timeOf(r), seq: this.seq++, r });
  }

  /**
   * Emits, oldest first (ties in arrival order), the records whose time is before `before`,
   * or all of them when `before` is undefined. Returns the number emitted.
   */
  flush(emit: (r: R) => void, before?: bigint): number {
    if (this.held.length === 0) return 0;
    this.held.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.seq - b.seq));
    let n = this.held.length;
    if (before !== undefined) {
      n = 0;
      while (n < this.held.length && this.held[n].t < before) n++;
    }
    const out = this.held.splice(0, n);
    for (const h of out) emit(h.r);
    return n;
  }
}
