import { test } from "node:test";
import assert from "node:assert/strict";
import { retryPlan, type BackoffOptions } from "../../src/queue/backoff.js";

// docs/gemini.md#retries as a table: which failed attempt gets another, and after how long.
const backoff: BackoffOptions = { baseMs: 2000, factor: 4, capMs: 60_000 };
const top = () => 1; // full jitter at its ceiling, so delays are the schedule itself

test("transient errors use the whole budget with exponential backoff; RetryInfo wins", () => {
  const busy = { retryable: true };
  assert.deepEqual(retryPlan(busy, 1, 3, backoff, top), { again: true, delayMs: 2000 });
  assert.deepEqual(retryPlan(busy, 2, 3, backoff, top), { again: true, delayMs: 8000 });
  assert.deepEqual(retryPlan(busy, 3, 3, backoff, top), { again: false });
  assert.deepEqual(retryPlan({ retryable: true, retryAfterMs: 2200 }, 1, 3, backoff, top), { again: true, delayMs: 2200 });
  assert.deepEqual(retryPlan({ retryable: true }, 9, 10, { ...backoff, capMs: 60_000 }, top), { again: true, delayMs: 60_000 });
});

test("no image: one immediate extra attempt, even with a budget of 1", () => {
  const noImage = { retryable: false, retryOnce: true };
  assert.deepEqual(retryPlan(noImage, 1, 3), { again: true, delayMs: 0 });
  assert.deepEqual(retryPlan(noImage, 2, 3), { again: false });
  assert.deepEqual(retryPlan(noImage, 1, 1), { again: true, delayMs: 0 });
});

test("our own attempt timeout: retried once at most, and only within the budget", () => {
  const timeout = { retryable: true, retryOnce: true };
  assert.deepEqual(retryPlan(timeout, 1, 3), { again: true, delayMs: 0 });
  assert.deepEqual(retryPlan(timeout, 2, 3), { again: false });
  assert.deepEqual(retryPlan(timeout, 1, 1), { again: false });
});

test("permanent errors are never retried", () => {
  assert.deepEqual(retryPlan({ retryable: false }, 1, 3), { again: false });
  assert.deepEqual(retryPlan({ retryable: false, retryAfterMs: 5 }, 1, 3), { again: false });
});
