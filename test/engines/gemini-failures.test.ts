import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { startFakeGemini, type FakeGemini, type FakeScenario } from "../fakes/fake-gemini.js";
import { geminiEngine, genRequest, memoryLogger, providerError } from "./gemini-helpers.js";

// Failure outcomes of the gemini engine against the fake (docs/gemini.md#reading-a-reply and
// #errors; docs/kie-contract.md §6.3).

let fake: FakeGemini;
before(async () => {
  fake = await startFakeGemini({ imageMode: "tiny" });
});
after(() => fake.close());
beforeEach(() => fake.reset());

const live = () => new AbortController().signal;

/** scenario → the fields the worker reads. */
const OUTCOMES: Array<
  [FakeScenario, { reason: string; retryable: boolean; retryOnce?: boolean; status?: number; failMsg?: string }]
> = [
  ["prompt_blocked", { reason: "prompt_blocked", retryable: false }],
  ["image_safety", { reason: "output_blocked", retryable: false }],
  ["no_image", { reason: "no_image", retryable: false, retryOnce: true }],
  ["text_only", { reason: "no_image", retryable: false, retryOnce: true }],
  ["internal", { reason: "upstream_busy", retryable: true, status: 500 }],
  ["overloaded", { reason: "upstream_busy", retryable: true, status: 503 }],
  ["deadline", { reason: "upstream_busy", retryable: true, status: 504 }],
  ["bad_request", { reason: "internal", retryable: false, status: 400 }],
];

for (const [scenario, want] of OUTCOMES) {
  test(`${scenario} → ${want.reason}, retryable ${want.retryable}`, async () => {
    const engine = geminiEngine(fake.url);
    fake.enqueue(scenario);
    const err = await providerError(engine.generate(genRequest(), live()));
    assert.equal(err.reason, want.reason);
    assert.equal(err.retryable, want.retryable);
    assert.equal(err.retryOnce, want.retryOnce);
    assert.equal(err.status, want.status);
    assert.equal(err.retryAfterMs, undefined, "5xx leave the backoff to the worker");
    assert.equal(engine.healthy, true);
    await engine.close();
  });
}

test("rate_limit_minute → retryable busy with RetryInfo's 2 s plus at most 20 % jitter", async () => {
  const engine = geminiEngine(fake.url);
  fake.enqueue("rate_limit_minute");
  const err = await providerError(engine.generate(genRequest(), live()));
  assert.equal(err.reason, "upstream_busy");
  assert.equal(err.retryable, true);
  assert.equal(err.status, 429);
  assert.ok(err.retryAfterMs! >= 2000 && err.retryAfterMs! <= 2400, `retryAfterMs ${err.retryAfterMs}`);
  assert.notEqual(err.dailyQuota, true);
  // a per-minute limit does not block the next call
  await engine.generate(genRequest(), live());
  await engine.close();
});

test("rate_limit_day → not retryable, dailyQuota, no further calls until Pacific midnight", async () => {
  // 2026-03-07 22:00 PST; midnight Pacific is 2026-03-08 08:00Z (DST starts at 02:00 that day).
  const clock = new ManualClock(Date.UTC(2026, 2, 8, 6, 0));
  const log = memoryLogger();
  const engine = geminiEngine(fake.url, { clock, logger: log });
  fake.enqueue("rate_limit_day");
  const err = await providerError(engine.generate(genRequest(), live()));
  assert.equal(err.reason, "upstream_busy");
  assert.equal(err.retryable, false);
  assert.equal(err.dailyQuota, true);
  assert.equal(fake.requests.length, 1);
  assert.ok(log.lines.some((l) => (l.obj as { event?: string }).event === "engine:gemini:daily_quota"));

  clock.advance(60 * 60_000); // 23:00 PST: still refused, without contacting Google
  const again = await providerError(engine.generate(genRequest(), live()));
  assert.equal(again.dailyQuota, true);
  assert.equal(again.retryable, false);
  assert.equal(fake.requests.length, 1);

  clock.set(Date.UTC(2026, 2, 8, 8, 0) - 1);
  await providerError(engine.generate(genRequest(), live()));
  assert.equal(fake.requests.length, 1);
  clock.set(Date.UTC(2026, 2, 8, 8, 0));
  await engine.generate(genRequest(), live());
  assert.equal(fake.requests.length, 2);
  await engine.close();
});

test("400 Provided image is not valid → invalid_input with failMsg 'Invalid image_input'", async () => {
  const engine = geminiEngine(fake.url);
  const bogus = { bytes: Buffer.from("definitely not an image"), mimeType: "image/png" as const, url: "https://x/a.png" };
  const err = await providerError(engine.generate(genRequest({ images: [bogus] }), live()));
  assert.equal(err.reason, "invalid_input");
  assert.equal(err.failMsg, "Invalid image_input");
  assert.equal(err.retryable, false);
  await engine.close();
});

test("404 model → internal, not retryable, engine unhealthy with the model id in lastError", async () => {
  const log = memoryLogger();
  const engine = geminiEngine(fake.url, { logger: log });
  const err = await providerError(engine.generate(genRequest({ upstreamModel: "gemini-3-pro-image-preview" }), live()));
  assert.equal(err.reason, "internal");
  assert.equal(err.retryable, false);
  assert.equal(err.status, 404);
  assert.equal(engine.healthy, false);
  assert.match(engine.lastError ?? "", /gemini-3-pro-image-preview/);
  assert.ok(log.lines.some((l) => l.level === "warn" && /gemini-3-pro-image-preview/.test(l.msg)));

  fake.enqueue("model_not_found");
  assert.equal((await providerError(engine.generate(genRequest(), live()))).status, 404);
  await engine.close();
});

test("invalid key → internal, not retryable; the key never appears in logs or errors", async () => {
  const log = memoryLogger();
  const engine = geminiEngine(fake.url, { apiKey: "sk-wrong-key-123", logger: log });
  const err = await providerError(engine.generate(genRequest(), live()));
  assert.equal(err.reason, "internal");
  assert.equal(err.retryable, false);
  assert.equal(err.status, 400);
  assert.equal(engine.healthy, false);
  assert.match(engine.lastError ?? "", /key/i);
  const everything = JSON.stringify(log.lines) + err.message + JSON.stringify(fake.requests);
  assert.ok(!everything.includes("sk-wrong-key-123"));
  await engine.close();
});

test("attempt timeout (hang) → retryable busy", async () => {
  const engine = geminiEngine(fake.url, { attemptTimeoutMs: 150 });
  fake.enqueue("hang");
  const started = Date.now();
  const err = await providerError(engine.generate(genRequest(), live()));
  assert.equal(err.reason, "upstream_busy");
  assert.equal(err.retryable, true);
  assert.match(err.message, /timed out/);
  assert.equal(err.retryOnce, true, "a timed-out call may have been billed: retried once at most");
  assert.ok(Date.now() - started < 2000);
  await engine.close();
});

test("4K uses the 4K attempt timeout", async () => {
  const engine = geminiEngine(fake.url, { attemptTimeoutMs: 100, attemptTimeout4kMs: 5000 });
  fake.enqueue("slow:300", "slow:300");
  await engine.generate(genRequest({ resolution: "4K" }), live());
  await assert.rejects(engine.generate(genRequest({ resolution: "2K" }), live()), { reason: "upstream_busy", retryable: true });
  await engine.close();
});

test("caller abort rejects promptly with an AbortError, not a ProviderError", async () => {
  const engine = geminiEngine(fake.url);
  fake.enqueue("hang");
  const ac = new AbortController();
  const started = Date.now();
  const p = engine.generate(genRequest(), ac.signal);
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, (err: Error) => err.name === "AbortError");
  assert.ok(Date.now() - started < 1000);

  const pre = new AbortController();
  pre.abort();
  await assert.rejects(engine.generate(genRequest(), pre.signal), { name: "AbortError" });
  assert.equal(fake.requests.length, 1, "an already-aborted call never reaches Google");
  await engine.close();
});

test("network error (nothing listening) → retryable busy", async () => {
  const gone = await startFakeGemini({ imageMode: "tiny" });
  const url = gone.url;
  await gone.close();
  const engine = geminiEngine(url);
  const err = await providerError(engine.generate(genRequest(), live()));
  assert.equal(err.reason, "upstream_busy");
  assert.equal(err.retryable, true);
  assert.equal(err.retryAfterMs, undefined);
  await engine.close();
});

test("vertex without a static token loads ADC lazily; missing credentials → internal, unhealthy", async () => {
  const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  // A credentials file that does not exist: google-auth-library fails before any network call.
  process.env.GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/peel-test-credentials.json";
  const engine = geminiEngine(fake.url, { mode: "vertex", apiKey: null, vertexProject: "p", vertexAccessToken: null });
  try {
    const err = await providerError(engine.generate(genRequest(), live()));
    assert.equal(err.reason, "internal");
    assert.equal(err.retryable, false);
    assert.equal(engine.healthy, false);
    assert.equal(fake.requests.length, 0);
  } finally {
    if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    await engine.close();
  }
});
