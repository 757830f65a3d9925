/**
 * Engine retry timing (docs/engines.md#retries-and-timeouts): transient failures wait 2 s, then
 * 8 s (×4), with full jitter, capped at 60 s. A ProviderError's own retryAfterMs (RetryInfo) wins
 * over the schedule.
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
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * opts.factor ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(ceiling * random()));
}

/** The ProviderError fields a retry decision reads; the adapter that understood the failure sets them. */
export interface RetrySignals {
  retryable: boolean;
  retryAfterMs?: number;
  retryOnce?: boolean;
}

/**
 * Whether attempt `attempt` (1-based, just failed) gets another one, and after how long
 * (docs/engines.md#retries-and-timeouts, docs/gemini.md#retries):
 * - `retryOnce` alone ("no image"): one immediate extra attempt, whatever the budget;
 * - `retryOnce` with `retryable` (our own attempt timeout): one immediate extra attempt, within the
 *   budget — Google may still finish, and bill, the call we gave up on, so never more than one;
 * - `retryable`: up to `maxAttempts`, after `retryAfterMs` (RetryInfo) or the backoff schedule;
 * - anything else: no retry.
 */
export function retryPlan(
  err: RetrySignals,
  attempt: number,
  maxAttempts: number,
  backoff: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): { again: false } | { again: true; delayMs: number } {
  if (err.retryOnce) {
    const budget = err.retryable ? Math.min(2, maxAttempts) : 2;
    return attempt < budget ? { again: true, delayMs: 0 } : { again: false };
  }
  if (!err.retryable || attempt >= maxAttempts) return { again: false };
  return { again: true, delayMs: err.retryAfterMs ?? backoffDelay(attempt, backoff, random) };
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
