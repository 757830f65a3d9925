/**
 * At most `limit` sends at once per receiver origin. Deliveries for a busy origin wait here
 * (already claimed, so their number is bounded by the dispatcher's concurrency) instead of in
 * undici's queue, where the wait would eat into their 15 s deadline and a backlog for one slow
 * receiver would be recorded as timeouts it never saw.
 */
export class OriginLimiter {
  private active = new Map<string, number>();
  private waiters = new Map<string, (() => void)[]>();

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`per-origin limit must be ≥ 1, got ${limit}`);
  }

  /** Resolves with a release function once a slot for `origin` is free; rejects if `signal` aborts first. */
  acquire(origin: string, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const n = this.active.get(origin) ?? 0;
    if (n < this.limit) {
      this.active.set(origin, n + 1);
      return Promise.resolve(this.releaser(origin));
    }
    return new Promise((resolve, reject) => {
      const queue = this.waiters.get(origin) ?? [];
      this.waiters.set(origin, queue);
      const onAbort = () => {
        const i = queue.indexOf(grant);
        if (i >= 0) queue.splice(i, 1);
        if (queue.length === 0 && this.waiters.get(origin) === queue) this.waiters.delete(origin);
        reject(signal.reason);
      };
      // The slot is handed over directly (active count unchanged), so no newcomer can jump the queue.
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        resolve(this.releaser(origin));
      };
      queue.push(grant);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private releaser(origin: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.waiters.get(origin);
      const next = queue?.shift();
      if (queue && queue.length === 0) this.waiters.delete(origin);
      if (next) return next();
      const n = (this.active.get(origin) ?? 1) - 1;
      if (n <= 0) this.active.delete(origin);
      else this.active.set(origin, n);
    };
  }
}
