/**
 * Rolling-window rate limits per API key (docs/kie-contract.md §12: createTask 20 per rolling 10 s,
 * recordInfo 10 per rolling 1 s; both paths of an endpoint share one window).
 *
 * The embedded limiter keeps a sliding log of admission times per (key, bucket) in memory; the
 * interface is what a Redis-backed limiter implements for scale-out.
 */
export type RateBucket = "create" | "read" | "upload";

export type RateDecision = { ok: true } | { ok: false; retryAfterSec: number };

export interface RateLimiter {
  /** Admits and counts one call, or refuses it (refused calls do not count). max 0 = unlimited. */
  hit(keyId: string, bucket: RateBucket, max: number, windowMs: number, now: number): Promise<RateDecision>;
}

export class MemoryRateLimiter implements RateLimiter {
  private logs = new Map<string, number[]>();
  private sweeps = 0;

  async hit(keyId: string, bucket: RateBucket, max: number, windowMs: number, now: number): Promise<RateDecision> {
    return this.hitSync(keyId, bucket, max, windowMs, now);
  }

  hitSync(keyId: string, bucket: RateBucket, max: number, windowMs: number, now: number): RateDecision {
    if (max <= 0) return { ok: true };
    const id = `${bucket}:${keyId}`;
    let log = this.logs.get(id);
    if (!log) {
      log = [];
      this.logs.set(id, log);
    }
    const floor = now - windowMs;
    let drop = 0;
    while (drop < log.length && log[drop] <= floor) drop++;
    if (drop) log.splice(0, drop);
    if (log.length >= max) {
      // The oldest admission leaves the window at log[0] + windowMs.
      const waitMs = log[log.length - max] + windowMs - now;
      return { ok: false, retryAfterSec: Math.max(1, Math.ceil(waitMs / 1000)) };
    }
    log.push(now);
    if (++this.sweeps % 10_000 === 0) this.sweep(now);
    return { ok: true };
  }

  /** Forgets idle keys so the map does not grow with every key ever seen. */
  private sweep(now: number): void {
    for (const [id, log] of this.logs) {
      if (log.length === 0 || log[log.length - 1] < now - 3_600_000) this.logs.delete(id);
    }
  }
}
