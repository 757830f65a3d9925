/**
 * At most `limit` sends at once per receiver origin. Stored deliveries take a slot with
 * `tryAcquire` and, when the origin is full, are given back to the store for later (see
 * `DeferralPacer`) so they hold none of the dispatcher's global slots. One-off test events wait
 * here with `acquire`. Either way nothing waits in undici's queue, where the wait would eat into
 * the 15 s deadline and a backlog for one slow receiver would be recorded as timeouts it never saw.
 */
export class OriginLimiter {
  private active = new Map<string, number>();
  private waiters = new Map<string, (() => void)[]>();

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`per-origin limit must be ≥ 1, got ${limit}`);
  }

  /** A release function if `origin` has a free slot now (and nobody is queued for it), else null. */
  tryAcquire(origin: string): (() => void) | null {
    const n = this.active.get(origin) ?? 0;
    if (n >= this.limit) return null;
    this.active.set(origin, n + 1);
    return this.releaser(origin);
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

export interface DeferralPacerOptions {
  /** Concurrent sends one origin may have (the limiter's limit). */
  perOriginLimit: number;
  /**
   * Shortest deferral, ms, for an origin whose send time is unknown or long; an origin with quick
   * sends is deferred for about one send time instead, but never less than `floorMs`. Jittered 1–2×.
   */
  minDelayMs: number;
  /** Never defer for less than this, ms, so the claim loop cannot come back to the same rows at once. */
  floorMs: number;
  /** Longest deferral, ms (¾–1× this with jitter), so a receiver that recovers is not kept waiting long. */
  maxDelayMs: number;
  /** Uniform [0, 1). */
  random: () => number;
}

interface OriginPace {
  /** when the next deferred delivery for this origin should come back. */
  tail: number;
  /** recent send time (moving average), ms; null until one was seen. */
  sendMs: number | null;
  seenAt: number;
}

/**
 * Decides when a delivery for a full origin comes back: after about one of its send times (between
 * `floorMs` and `minDelayMs`, jittered), and spaced from the other deferrals for that origin by its
 * pace (send time ÷ per-origin limit). A backlog for a slow or dead receiver so returns at about the
 * rate the receiver takes it rather than all at once every second or two, while a burst to a fast
 * receiver is only held back by tens of ms. No deferral exceeds `maxDelayMs`. Per-origin state is
 * dropped a minute after the origin was last seen.
 */
export class DeferralPacer {
  private readonly origins = new Map<string, OriginPace>();
  private lastSweep = 0;

  constructor(private readonly o: DeferralPacerOptions) {}

  /** When a delivery for `origin`, which has no free slot at `now`, should be due again. */
  deferUntil(origin: string, now: number): number {
    const s = this.pace(origin, now);
    // Unknown send time: wait the full minDelayMs, but do not space the first wave out on a guess.
    const base = Math.min(Math.max(s.sendMs ?? this.o.minDelayMs, this.o.floorMs), this.o.minDelayMs);
    const step = (s.sendMs ?? 0) / this.o.perOriginLimit;
    const soonest = now + base * (1 + this.o.random());
    const latest = now + this.o.maxDelayMs * (0.75 + 0.25 * this.o.random());
    const until = Math.round(Math.min(Math.max(soonest, s.tail), latest));
    // The tail never runs further ahead than the longest deferral: re-deferred rows are counted
    // again, and a receiver that recovers should not inherit an hours-long queue estimate.
    s.tail = Math.min(Math.max(s.tail, until) + step, now + this.o.maxDelayMs);
    return until;
  }

  /** Records how long a send to `origin` took. */
  observe(origin: string, ms: number, now: number): void {
    const s = this.pace(origin, now);
    s.sendMs = s.sendMs === null ? ms : 0.75 * s.sendMs + 0.25 * ms;
  }

  private pace(origin: string, now: number): OriginPace {
    if (now - this.lastSweep >= 60_000) {
      this.lastSweep = now;
      for (const [o, p] of this.origins) if (Math.max(p.tail, p.seenAt) < now - 60_000) this.origins.delete(o);
    }
    let s = this.origins.get(origin);
    if (!s) {
      s = { tail: now, sendMs: null, seenAt: now };
      this.origins.set(origin, s);
    }
    s.seenAt = now;
    return s;
  }
}
