import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  MAX_ATTEMPTS,
  nextAttemptDelay,
  parseRetryAfter,
  RETRY_AFTER_CAP_MS,
  SCHEDULE_MS,
  scheduleTable,
} from "../../src/webhooks/schedule.js";

const mid = () => 0.5; // no jitter
const S = 1000,
  M = 60 * S,
  H = 60 * M;

test("the schedule is at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 24 h, 24 h", () => {
  assert.deepEqual([...SCHEDULE_MS], [0, 5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H, 24 * H, 24 * H]);
  assert.equal(MAX_ATTEMPTS, 10);
  const delays = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => nextAttemptDelay(n, { random: mid }));
  assert.deepEqual(delays, SCHEDULE_MS.slice(1));
  assert.equal(nextAttemptDelay(10, { random: mid }), null);
  assert.equal(nextAttemptDelay(11, { random: mid }), null);
  assert.throws(() => nextAttemptDelay(0));
});

test("jitter stays within ±20 %", () => {
  assert.equal(nextAttemptDelay(1, { random: () => 0 }), 4 * S);
  assert.equal(nextAttemptDelay(1, { random: () => 0.999999 }), 6 * S);
  for (let i = 0; i < 200; i++) {
    const d = nextAttemptDelay(4, {})!;
    assert.ok(d >= 0.8 * 2 * H && d <= 1.2 * 2 * H, String(d));
  }
});

test("Retry-After only lengthens the wait, capped at 24 h", () => {
  assert.equal(nextAttemptDelay(1, { random: mid, retryAfterMs: 60 * S }), 60 * S);
  assert.equal(nextAttemptDelay(3, { random: mid, retryAfterMs: 60 * S }), 30 * M); // sooner than schedule: ignored
  assert.equal(nextAttemptDelay(2, { random: mid, retryAfterMs: 7 * 24 * H }), RETRY_AFTER_CAP_MS);
  assert.equal(nextAttemptDelay(10, { random: mid, retryAfterMs: 60 * S }), null); // no extra attempts
});

test("parseRetryAfter reads seconds and HTTP dates", () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0);
  assert.equal(parseRetryAfter("120", now), 120 * S);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:10:00 GMT", now), 10 * M);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("1.5", now), null);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter("", now), null);
  assert.equal(parseRetryAfter(undefined, now), null);
});

test("docs/webhooks.md prints the same table", () => {
  const doc = readFileSync(new URL("../../docs/webhooks.md", import.meta.url), "utf8");
  const rows = scheduleTable();
  // about 3 days (docs/kie-contract.md §7.1)
  assert.equal(rows.at(-1)!.cumulativeMs, 75 * H + 35 * M + 5 * S);
  for (const r of rows) {
    assert.ok(doc.includes(`| ${r.attempt} | ${fmt(r.delayMs)} | ${hms(r.cumulativeMs)} |`), `row ${r.attempt} missing`);
  }
});

function fmt(ms: number): string {
  if (ms === 0) return "at once";
  if (ms < M) return `${ms / S} s`;
  if (ms < H) return `${ms / M} min`;
  return `${ms / H} h`;
}
function hms(ms: number): string {
  const s = ms / S;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor((s % 3600) / 60))}:${p(s % 60)}`;
}
