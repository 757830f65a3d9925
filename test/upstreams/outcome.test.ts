import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyHttpError, networkError } from "../../src/engines/gemini-errors.js";
import { ProviderError } from "../../src/errors.js";
import { OUTCOME_EFFECTS, classifyFailure } from "../../src/upstreams/outcome.js";

/** Every ProviderError has exactly one outcome class; Google's answers map to the documented ones. */

const quota = (quotaId: string) =>
  JSON.stringify({
    error: {
      code: 429,
      status: "RESOURCE_EXHAUSTED",
      message: "quota",
      details: [
        { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaId }] },
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "46s" },
      ],
    },
  });
const gErr = (code: number, status: string, message = "x") => JSON.stringify({ error: { code, status, message } });

test("Gemini HTTP answers → outcome classes", () => {
  const cases: Array<[number, string, string]> = [
    [429, quota("GenerateRequestsPerMinutePerProjectPerModel"), "rate_limited"],
    [429, quota("GenerateRequestsPerDayPerProjectPerModel"), "quota_exhausted"],
    [503, gErr(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), "overloaded"],
    [500, gErr(500, "INTERNAL"), "server_error"],
    [504, gErr(504, "DEADLINE_EXCEEDED"), "timeout"],
    [401, gErr(401, "UNAUTHENTICATED"), "auth"],
    [403, gErr(403, "PERMISSION_DENIED"), "auth"],
    [402, gErr(402, "PAYMENT_REQUIRED"), "billing"],
    [400, gErr(400, "FAILED_PRECONDITION", "billing not enabled"), "billing"],
    [404, gErr(404, "NOT_FOUND"), "unknown_model"],
    [400, gErr(400, "INVALID_ARGUMENT", "Provided image is not valid"), "bad_input"],
    [400, gErr(400, "INVALID_ARGUMENT", "Unknown name"), "bad_input"],
  ];
  for (const [status, body, outcome] of cases) {
    const { error } = classifyHttpError(status, body, "gemini-3-pro-image");
    assert.equal(classifyFailure(error), outcome, `${status} ${body.slice(0, 60)}`);
    assert.equal(error.outcome, outcome, "set explicitly by the adapter");
  }
  // RetryInfo's delay travels with the 429, for the route's cooldown
  const rl = classifyHttpError(429, quota("PerMinute"), "m").error;
  assert.ok(rl.retryAfterMs! >= 46_000 && rl.retryAfterMs! <= 46_000 * 1.2);
  assert.equal(classifyFailure(networkError(new Error("socket hang up"), "m")), "network");
});

test("errors built without an outcome are classified from their other fields", () => {
  const pe = (
    reason: ConstructorParameters<typeof ProviderError>[0],
    opts: ConstructorParameters<typeof ProviderError>[2] = {},
  ) => classifyFailure(new ProviderError(reason, "x", opts));
  assert.equal(pe("prompt_blocked"), "content_policy");
  assert.equal(pe("output_blocked"), "content_policy");
  assert.equal(pe("invalid_input"), "bad_input");
  assert.equal(pe("no_image", { retryOnce: true }), "no_image");
  assert.equal(pe("upstream_busy", { retryable: true, dailyQuota: true }), "quota_exhausted");
  assert.equal(pe("upstream_busy", { retryable: true, status: 429 }), "rate_limited");
  assert.equal(pe("upstream_busy", { retryable: true, status: 503 }), "overloaded");
  assert.equal(pe("upstream_busy", { retryable: true, status: 502 }), "server_error");
  assert.equal(pe("upstream_busy", { retryable: true, retryOnce: true }), "timeout");
  assert.equal(pe("upstream_busy", { retryable: true }), "network");
  assert.equal(pe("internal", { status: 401 }), "auth");
  assert.equal(pe("internal", { status: 402 }), "billing");
  assert.equal(pe("internal", { status: 404 }), "unknown_model");
  assert.equal(pe("internal", { status: 400 }), "bad_input");
  assert.equal(pe("internal"), "server_error");
  assert.equal(pe("canceled"), null);
  // peel's own faults say nothing about a route
  assert.equal(classifyFailure(new Error("disk full")), null);
  // an explicit outcome wins
  assert.equal(pe("internal", { outcome: "auth" }), "auth");
});

test("capacity and route faults do not use up the task's attempts; content verdicts are final", () => {
  for (const o of ["rate_limited", "quota_exhausted", "overloaded", "auth", "billing", "unknown_model"] as const) {
    assert.equal(OUTCOME_EFFECTS[o].usesAttempt, false, o);
    assert.equal(OUTCOME_EFFECTS[o].task, "failover", o);
  }
  for (const o of ["content_policy", "bad_input"] as const) {
    assert.deepEqual([OUTCOME_EFFECTS[o].route, OUTCOME_EFFECTS[o].task], ["none", "final"]);
  }
  for (const o of ["server_error", "timeout", "network"] as const) {
    assert.deepEqual([OUTCOME_EFFECTS[o].route, OUTCOME_EFFECTS[o].usesAttempt], ["breaker", true]);
  }
});
