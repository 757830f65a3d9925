/**
 * The callback retry schedule, as data (docs/kie-contract.md §7.1, after the Standard Webhooks example
 * schedule). `SCHEDULE_MS[i]` is the wait before attempt i + 1, counted from the end of the
 * attempt before it; index 0 is the first attempt, sent at once. docs/webhooks.md prints this
 * table with cumulative times — keep the two in step (test/webhooks/schedule.test.ts checks).
 */

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export const SCHEDULE_MS: readonly number[] = Object.freeze([
  0, // attempt 1: at once
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  10 * HOUR,
  // The contract's steps end here (~27.5 h); two daily steps stretch the schedule over the
  // "about 3 days" it promises, so a receiver down over a long weekend still gets its callbacks.
  24 * HOUR,
  24 * HOUR, // attempt 10: the last; a failure here ends the delivery as `failed`
]);

/** Attempts a delivery gets before it is given up: 10. */
export const MAX_ATTEMPTS = SCHEDULE_MS.length;

/** Each scheduled wait is scaled by a factor drawn uniformly from [1 − 0.2, 1 + 0.2). */
export const JITTER = 0.2;

/**
 * The longest a receiver's `Retry-After` can push the next attempt out. A receiver asking for
 * more (or a broken header far in the future) would otherwise park the delivery indefinitely.
 */
export const RETRY_AFTER_CAP_MS = 24 * HOUR;

export interface NextAttemptOptions {
  /**
   * What the receiver asked for via `Retry-After` on a 429/503, in ms (see `parseRetryAfter`).
   * It can only lengthen the wait: never sooner than the schedule's next step, at most 24 h.
   */
  retryAfterMs?: number | null;
  /** Uniform [0, 1) source for jitter. @defaultValue Math.random */
  random?: () => number;
}

/**
 * The wait in ms before the next attempt, after attempt number `attemptNumber` (1-based) failed,
 * or null when that was the last attempt (the delivery becomes `failed`). A `Retry-After` does not
 * grant extra attempts: it delays the next one, which still counts against the schedule.
 */
export function nextAttemptDelay(attemptNumber: number, opts: NextAttemptOptions = {}): number | null {
  if (!Number.isInteger(attemptNumber) || attemptNumber < 1) {
    throw new RangeError(`attemptNumber must be a positive integer, got ${attemptNumber}`);
  }
  if (attemptNumber >= SCHEDULE_MS.length) return null;
  const random = opts.random ?? Math.random;
  const base = SCHEDULE_MS[attemptNumber];
  const jittered = Math.round(base * (1 + JITTER * (2 * random() - 1)));
  const asked = opts.retryAfterMs;
  if (asked == null || !Number.isFinite(asked) || asked <= jittered) return jittered;
  return Math.min(asked, Math.max(RETRY_AFTER_CAP_MS, jittered));
}

/**
 * Parses a `Retry-After` header value: delay-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`), RFC 9110 §10.2.3. Returns ms from `nowMs` (0 for a date in
 * the past), or null when absent or unparseable (the schedule then applies unchanged).
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value == null) return null;
  const v = value.trim();
  if (v === "") return null;
  if (/^\d+$/.test(v)) return Number(v) * SECOND;
  // Date.parse accepts many formats; RFC 9110 requires IMF-fixdate but recipients should accept
  // the obsolete forms too, which Date.parse also handles. Require a letter so "1.5" is not a date.
  if (!/[a-z]/i.test(v)) return null;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/** The no-jitter table printed in docs/webhooks.md: attempt, wait before it, time since the first. */
export function scheduleTable(): { attempt: number; delayMs: number; cumulativeMs: number }[] {
  let total = 0;
  return SCHEDULE_MS.map((delayMs, i) => {
    total += delayMs;
    return { attempt: i + 1, delayMs, cumulativeMs: total };
  });
}
