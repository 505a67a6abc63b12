// The fuzz loop inside a worker, so that scripts/fuzz.ts can watch it for hangs: before each
// input the worker stores the input's iteration in shared memory (its heartbeat).

import { runFuzz } from "./runner.ts";
import { targetByName } from "./targets.ts";

export interface WorkerJob {
  target: string;
  seed: number;
  runs?: number;
  seconds?: number;
  from: number;
  /** Int32Array view: [0] the iteration being run, [1] a counter bumped per input. */
  beat: SharedArrayBuffer;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerJob>) => void) | null;
  postMessage(v: unknown): void;
};

scope.onmessage = (e) => {
  const job = e.data;
  const beat = new Int32Array(job.beat);
  try {
    const result = runFuzz(targetByName(job.target), {
      seed: job.seed,
      runs: job.runs,
      seconds: job.seconds,
      from: job.from,
      beat(i) {
        Atomics.store(beat, 0, i);
        Atomics.add(beat, 1, 1);
      },
    });
    scope.postMessage({ ok: true, result });
  } catch (err) {
    scope.postMessage({
      ok: false,
      error: err instanceof Error ? err.stack ?? err.message : String(err),
    });
  }
};
