// Where start-up time goes: named phases measured with performance.now(), whose origin is
// the runtime's start. Runtime-neutral (performance is a web-standard global).

export class Phases {
  readonly list: { name: string; ms: number }[] = [];
  private last: number;

  /** `start` defaults to the time origin, so the first phase includes the runtime's start. */
  constructor(start = 0) {
    this.last = start;
  }

  /** Called with each phase's name as it ends, and with each step (see `step`). */
  onMark?: (name: string) => void;

  /** Ends the current phase under `name`. */
  mark(name: string): void {
    const now = performance.now();
    this.list.push({ name, ms: now - this.last });
    this.last = now;
    this.onMark?.(name);
  }

  /** A point inside a phase ("attached 1"), not timed: only `onMark` hears it. */
  step(name: string): void {
    this.onMark?.(name);
  }

  get totalMs(): number {
    return this.list.reduce((sum, p) => sum + p.ms, 0);
  }

  /** One line: "runtime start 9.1 ms, object parse 2.3 ms, ..., total 31.0 ms". */
  format(): string {
    const parts = this.list.map((p) => `${p.name} ${p.ms.toFixed(1)} ms`);
    return `${parts.join(", ")}, total ${this.totalMs.toFixed(1)} ms`;
  }
}

/** One line of the process's memory for --timings: "rss 52.1 MB, JS heap used 4.2 MB, ...". */
export function memoryLine(m: {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers?: number;
}): string {
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
  return `rss ${mb(m.rss)}, JS heap used ${mb(m.heapUsed)}, heap total ${mb(m.heapTotal)}, ` +
    `external ${mb(m.external)}` +
    (m.arrayBuffers !== undefined ? ` (array buffers ${mb(m.arrayBuffers)})` : "");
}
