import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { nextPacificMidnight } from "../../src/engines/gemini-errors.js";
import { RouteHealth, type HealthLogger } from "../../src/upstreams/route-health.js";

/** The route health state machine, driven by a manual clock. */

function logger(): HealthLogger & { lines: Array<{ level: string; obj: any; msg: string }> } {
  const lines: Array<{ level: string; obj: any; msg: string }> = [];
  return {
    lines,
    error: (obj, msg) => lines.push({ level: "error", obj, msg }),
    warn: (obj, msg) => lines.push({ level: "warn", obj, msg }),
    info: (obj, msg) => lines.push({ level: "info", obj, msg }),
  };
}

test("429 with a RetryInfo delay: cooldown for exactly that long, then ok", () => {
  const clock = new ManualClock();
  const h = new RouteHealth(["a"]);
  const t0 = clock.now();
  assert.deepEqual(h.record("a", "rate_limited", t0, { retryAfterMs: 46_000, why: "RESOURCE_EXHAUSTED" }), {
    state: "cooldown",
    until: t0 + 46_000,
    why: "rate limited: RESOURCE_EXHAUSTED",
  });
  assert.deepEqual(h.admit("a", clock.advance(45_999)), { admitted: false, retryAt: t0 + 46_000, state: "cooldown" });
  assert.deepEqual(h.admit("a", clock.advance(1)), { admitted: true, probe: false });
  assert.equal(h.view("a", clock.now()).state, "ok");
});

test("429 without a delay: 20 s, then 40 s, 80 s … capped; a success resets the streak", () => {
  const clock = new ManualClock();
  const h = new RouteHealth(["a"], { rateLimitBaseMs: 20_000, rateLimitMaxMs: 60_000 });
  const cooldown = () => {
    const s = h.record("a", "rate_limited", clock.now());
    assert.equal(s.state, "cooldown");
    const ms = (s as { until: number }).until - clock.now();
    clock.advance(ms);
    return ms;
  };
  assert.deepEqual([cooldown(), cooldown(), cooldown(), cooldown()], [20_000, 40_000, 60_000, 60_000]);
  h.record("a", "success", clock.now());
  assert.equal(cooldown(), 20_000);
});

test("daily quota: cooldown until the next midnight in Los Angeles, across both DST changes", () => {
  const h = new RouteHealth(["a"]);
  // 2026-03-08 is the spring-forward day (PST → PDT); midnight after it is 07:00 UTC, before it 08:00 UTC
  const cases: Array<[string, string]> = [
    ["2026-03-07T20:00:00Z", "2026-03-08T08:00:00.000Z"], // Sat 12:00 PST → Sun 00:00 PST
    ["2026-03-08T12:00:00Z", "2026-03-09T07:00:00.000Z"], // Sun 05:00 PDT → Mon 00:00 PDT
    ["2026-10-31T18:00:00Z", "2026-11-01T07:00:00.000Z"], // Sat 11:00 PDT → Sun 00:00 PDT
    ["2026-11-01T12:00:00Z", "2026-11-02T08:00:00.000Z"], // Sun 04:00 PST (fall-back day) → Mon 00:00 PST
    ["2026-12-31T23:30:00Z", "2027-01-01T08:00:00.000Z"], // year end, 15:30 PST
  ];
  for (const [at, reset] of cases) {
    const now = Date.parse(at);
    assert.equal(new Date(nextPacificMidnight(now)).toISOString(), reset, at);
    const s = h.record("a", "quota_exhausted", now, { why: "GenerateRequestsPerDayPerProjectPerModel" });
    assert.equal(s.state, "cooldown");
    assert.equal(new Date((s as { until: number }).until).toISOString(), reset);
    h.enable("a", now); // reset for the next case
  }
  // a RetryInfo cooldown never shortens the quota's
  const now = Date.parse("2026-06-01T12:00:00Z");
  const quota = h.record("a", "quota_exhausted", now) as { until: number };
  const after = h.record("a", "rate_limited", now, { retryAfterMs: 10_000 }) as { until: number };
  assert.equal(after.until, quota.until);
});

test("breaker: opens after 3 consecutive failures; half-open admits exactly one probe; open time doubles up to the cap", () => {
  const clock = new ManualClock();
  const log = logger();
  const h = new RouteHealth(["a"], { failureThreshold: 3, openBaseMs: 5_000, openMaxMs: 20_000, logger: log });
  h.record("a", "overloaded", clock.now());
  h.record("a", "server_error", clock.now());
  assert.equal(h.view("a", clock.now()).state, "ok"); // two failures: still ok
  const opened = h.record("a", "timeout", clock.now());
  assert.equal(opened.state, "open");
  assert.equal((opened as { until: number }).until, clock.now() + 5_000);
  assert.equal(h.admit("a", clock.advance(4_999)).admitted, false);

  // open → half-open after 5 s: one probe, the second caller waits on it
  clock.advance(1);
  assert.deepEqual(h.admit("a", clock.now()), { admitted: true, probe: true });
  assert.deepEqual(h.admit("a", clock.now()), { admitted: false, retryAt: null, state: "half_open" });
  // the probe fails → open for 10 s, then 20 s, then 20 s (cap)
  const openFor = () => {
    const s = h.record("a", "network", clock.now(), { probe: true }) as { state: string; until: number };
    assert.equal(s.state, "open");
    const ms = s.until - clock.now();
    clock.advance(ms);
    assert.deepEqual(h.admit("a", clock.now()), { admitted: true, probe: true });
    return ms;
  };
  assert.deepEqual([openFor(), openFor(), openFor()], [10_000, 20_000, 20_000]);
  // the probe succeeds → ok, counters reset
  assert.deepEqual(h.record("a", "success", clock.now(), { probe: true }), { state: "ok", consecutiveFailures: 0 });
  assert.equal(h.record("a", "server_error", clock.now()).state, "ok");
  assert.ok(log.lines.some((l) => l.obj.event === "upstream:route:open"));
  assert.ok(log.lines.some((l) => l.obj.event === "upstream:route:recovered"));
});

test("an abandoned probe frees the half-open slot; a success between failures resets the count", () => {
  const clock = new ManualClock();
  const h = new RouteHealth(["a"], { failureThreshold: 2, openBaseMs: 1_000 });
  h.record("a", "server_error", clock.now());
  h.record("a", "success", clock.now());
  h.record("a", "server_error", clock.now());
  assert.equal(h.view("a", clock.now()).state, "ok");
  h.record("a", "server_error", clock.now());
  assert.equal(h.view("a", clock.now()).state, "open");
  clock.advance(1_000);
  assert.equal(h.admit("a", clock.now()).admitted, true);
  h.abandon("a", true);
  assert.deepEqual(h.admit("a", clock.now()), { admitted: true, probe: true });
});

test("auth, billing, unknown model: disabled until enable(), logged once with the route and reason", () => {
  const clock = new ManualClock();
  const log = logger();
  const h = new RouteHealth(["a", "b", "c"], { logger: log });
  h.record("a", "auth", clock.now(), { why: "Gemini credentials rejected (PERMISSION_DENIED 403)" });
  h.record("b", "billing", clock.now(), { why: "billing problem" });
  h.record("c", "unknown_model", clock.now(), { why: "model gemini-9 not found" });
  for (const n of ["a", "b", "c"]) {
    assert.equal(h.view(n, clock.now()).state, "disabled");
    assert.deepEqual(h.admit(n, clock.advance(86_400_000)), { admitted: false, retryAt: null, state: "disabled" });
  }
  // further outcomes (a late success, another auth error) change nothing and log nothing
  h.record("a", "success", clock.now());
  h.record("a", "auth", clock.now());
  assert.equal(h.view("a", clock.now()).state, "disabled");
  const errors = log.lines.filter((l) => l.level === "error");
  assert.equal(errors.length, 3);
  assert.deepEqual(errors[0].obj, {
    event: "upstream:route:disabled",
    route: "a",
    why: "auth: Gemini credentials rejected (PERMISSION_DENIED 403)",
  });
  h.enable("a", clock.now());
  assert.deepEqual(h.admit("a", clock.now()), { admitted: true, probe: false });
});

test("content policy, bad input and no image say nothing about the route", () => {
  const clock = new ManualClock();
  const h = new RouteHealth(["a"], { failureThreshold: 2 });
  h.record("a", "server_error", clock.now());
  for (const o of ["content_policy", "bad_input", "no_image"] as const) {
    assert.deepEqual(h.record("a", o, clock.now()), { state: "ok", consecutiveFailures: 1 });
  }
  assert.equal(h.record("a", "server_error", clock.now()).state, "open");
});
