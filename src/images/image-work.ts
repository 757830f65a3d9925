import os from "node:os";
import sharp from "sharp";

/**
 * How much image work (sandbox rendering, format conversion, reference shrinking, thumbnails)
 * runs at once, process-wide. libvips works off the event loop but not off the CPU: unbounded, a
 * burst of sandbox renders ran four pipelines of two libvips threads each on a 2-CPU machine, and
 * the event loop — which answers recordInfo — queued behind eight busy threads (recordInfo p99
 * 65–75 ms, max ~0.9 s in bench/sandbox-burst.ts; 2.4 s in the run). Bounded to one
 * single-threaded pipeline per CPU, image work never has more busy threads than there are CPUs,
 * so the event loop, which mostly sleeps, gets a CPU as soon as it wakes (p99 ~13 ms, max ~35 ms)
 * — and the renders finish sooner than before, with less thread switching. More pipelines than
 * CPUs brought the waits back (p99 ~50 ms with 3 on 2 CPUs). At most 3: libuv's thread pool (4
 * threads, where sharp runs and where file I/O runs too) keeps a thread for result and upload
 * writes.
 *
 * Waiting work is served in arrival order; a waiter whose task is aborted (cancel, deadline,
 * shutdown) leaves the queue at once.
 */

/** One pipeline per CPU, at most 3 (one of libuv's 4 threads stays free for file I/O), at least 1. */
export function defaultImageConcurrency(): number {
  return Math.max(1, Math.min(os.availableParallelism(), 3));
}

export class ImageWorkQueue {
  private running = 0;
  private readonly waiting: { start: () => void; signal?: AbortSignal; onAbort?: () => void }[] = [];

  constructor(private limit: number) {}

  get concurrency(): number {
    return this.limit;
  }

  get queued(): number {
    return this.waiting.length;
  }

  setConcurrency(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`image concurrency must be a whole number ≥ 1, got ${n}`);
    this.limit = n;
    this.pump();
  }

  /** Runs `fn` once a slot is free; rejects with the signal's reason if aborted while waiting. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const waiter: (typeof this.waiting)[number] = { start: resolve, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.waiting.push(waiter);
      this.pump();
    });
    try {
      return await fn();
    } finally {
      this.running--;
      this.pump();
    }
  }

  private pump(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      if (w.onAbort) w.signal!.removeEventListener("abort", w.onAbort);
      this.running++;
      w.start();
    }
  }
}

/** The process-wide queue every image operation goes through. */
export const imageWork = new ImageWorkQueue(defaultImageConcurrency());

// One libvips thread per pipeline: parallelism comes from running several pipelines (bounded
// above), never from one pipeline spreading over every CPU.
sharp.concurrency(1);

/** Sets the process-wide bound (PEEL_IMAGE_CONCURRENCY). */
export function setImageConcurrency(n: number): void {
  imageWork.setConcurrency(n);
}
