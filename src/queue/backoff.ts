/**
 * Engine retry timing (gemini-notes §9.3): transient failures wait 2 s, then 8 s (×4), with full
 * jitter, capped at 60 s. A ProviderError's own retryAfterMs (RetryInfo) wins over the schedule.
 */
export interface BackoffOptions {
  /** first delay, ms. @defaultValue 2000 */
  baseMs: number;
  /** @defaultValue 4 */
  factor: number;
  /** @defaultValue 60000 */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 2000, factor: 4, capMs: 60_000 };

/** Delay before attempt `attempt + 1`, after `attempt` (1-based) failed. Full jitter: U(0, ceiling]. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * opts.factor ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(ceiling * random()));
}

/** A sleep that `wake()` cuts short: worker loops idle on it between polls. */
export class Waker {
  private resolve: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private woken = false;

  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.timer = setTimeout(() => this.fire(), ms);
    });
  }

  wake(): void {
    if (this.resolve) this.fire();
    else this.woken = true;
  }

  private fire(): void {
    if (this.timer) clearTimeout(this.timer);
    const r = this.resolve;
    this.resolve = null;
    this.timer = null;
    this.woken = false;
    r?.();
  }
}
