import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import {
  classifyHttpError,
  isDailyQuota,
  nextPacificMidnight,
  parseDurationMs,
  parseGoogleError,
  retryDelayMs,
} from "../../src/engines/gemini-errors.js";
import { randomBytes } from "node:crypto";
import {
  bareModelId,
  buildGenerateContentBody,
  generateContentPayload,
  generateContentUrl,
  imageSizeFor,
  vertexBaseUrl,
} from "../../src/engines/gemini-request.js";
import { interpretResponse } from "../../src/engines/gemini-response.js";
import { genRequest } from "./gemini-helpers.js";

// Pure parts of the gemini engine: request building, response reading, error classification.

test("durations: whole and fractional seconds", () => {
  assert.equal(parseDurationMs("46s"), 46_000);
  assert.equal(parseDurationMs("46.153412518s"), 46_153);
  assert.equal(parseDurationMs("0.5s"), 500);
  assert.equal(parseDurationMs("46"), null);
  assert.equal(parseDurationMs(46), null);
});

const DAY_429 = `{"error":{"code":429,"message":"You exceeded your current quota.\\nPlease retry in 46.153412518s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaValue":"20"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"46.15s"}]}}`;

test("RetryInfo and PerDay detection on the real 429 fixture", () => {
  const g = parseGoogleError(429, DAY_429);
  assert.equal(g.status, "RESOURCE_EXHAUSTED");
  assert.equal(retryDelayMs(g), 46_150);
  assert.equal(isDailyQuota(g), true);
  const perMinute = parseGoogleError(429, DAY_429.replace("PerDay", "PerMinute"));
  assert.equal(isDailyQuota(perMinute), false);
  const c = classifyHttpError(429, DAY_429.replace("PerDay", "PerMinute"), "m");
  assert.ok(c.error.retryAfterMs! >= 46_150 && c.error.retryAfterMs! <= 55_380);
});

test("a 429 without RetryInfo waits 20 s (+ jitter); a non-JSON 502 is busy", () => {
  const c = classifyHttpError(429, `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`, "m");
  assert.ok(c.error.retryAfterMs! >= 20_000 && c.error.retryAfterMs! <= 24_000);
  const html = classifyHttpError(502, "<html>Bad Gateway</html>", "m");
  assert.equal(html.error.reason, "upstream_busy");
  assert.equal(html.error.retryable, true);
});

test("402 and 403 are internal, not retryable, and flag the engine", () => {
  for (const status of [402, 403]) {
    const c = classifyHttpError(status, `{"error":{"code":${status},"message":"x","status":"PERMISSION_DENIED"}}`, "m");
    assert.equal(c.error.reason, "internal");
    assert.equal(c.error.retryable, false);
    assert.equal(c.unhealthy, true);
  }
});

test("next midnight Pacific, across both DST changes and the year end", () => {
  const iso = (t: number) => new Date(t).toISOString();
  // winter (PST, UTC-8)
  assert.equal(iso(nextPacificMidnight(Date.UTC(2026, 0, 15, 20, 0))), "2026-01-16T08:00:00.000Z");
  // exactly at midnight: the next one
  assert.equal(iso(nextPacificMidnight(Date.UTC(2026, 0, 16, 8, 0))), "2026-01-17T08:00:00.000Z");
  // the evening before spring-forward (PST) → midnight is still PST
  assert.equal(iso(nextPacificMidnight(Date.UTC(2026, 2, 8, 6, 0))), "2026-03-08T08:00:00.000Z");
  // the spring-forward day itself (PDT by the afternoon) → next midnight is PDT (UTC-7)
  assert.equal(iso(nextPacificMidnight(Date.UTC(2026, 2, 8, 20, 0))), "2026-03-09T07:00:00.000Z");
  // 23:00 PDT on the eve of fall-back → midnight PDT
  assert.equal(iso(nextPacificMidnight(Date.UTC(2026, 10, 1, 6, 0))), "2026-11-01T07:00:00.000Z");
  // 01:30 PDT on fall-back day → the next midnight is PST (UTC-8)
  assert.equal(iso(nextPacificMidnight(Date.UTC(2026, 10, 1, 8, 30))), "2026-11-02T08:00:00.000Z");
  // year end
  assert.equal(iso(nextPacificMidnight(Date.UTC(2026, 11, 31, 20, 0))), "2027-01-01T08:00:00.000Z");
});

test("URLs: Gemini API, Vertex hosts per location, express mode, models/ prefix once", () => {
  assert.equal(
    generateContentUrl({ mode: "gemini" }, "models/gemini-3-pro-image"),
    "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-pro-image:generateContent",
  );
  assert.equal(
    generateContentUrl({ mode: "gemini", baseUrl: "http://127.0.0.1:9/" }, "gemini-3-pro-image"),
    "http://127.0.0.1:9/v1beta/models/gemini-3-pro-image:generateContent",
  );
  assert.equal(vertexBaseUrl("global"), "https://aiplatform.googleapis.com");
  assert.equal(vertexBaseUrl("us"), "https://aiplatform.us.rep.googleapis.com");
  assert.equal(vertexBaseUrl("eu"), "https://aiplatform.eu.rep.googleapis.com");
  assert.equal(vertexBaseUrl("europe-west4"), "https://europe-west4-aiplatform.googleapis.com");
  assert.equal(
    generateContentUrl({ mode: "vertex", project: "p", location: "global" }, "gemini-3-pro-image"),
    "https://aiplatform.googleapis.com/v1beta1/projects/p/locations/global/publishers/google/models/gemini-3-pro-image:generateContent",
  );
  assert.equal(
    generateContentUrl({ mode: "vertex", project: null, location: "global" }, "gemini-3-pro-image"),
    "https://aiplatform.googleapis.com/v1beta1/publishers/google/models/gemini-3-pro-image:generateContent",
  );
  assert.equal(bareModelId("models/x"), "x");
});

test("body: 1K is sent explicitly; a single-size task asks a sized model for 1K, a size-less model for nothing", () => {
  assert.deepEqual(buildGenerateContentBody(genRequest({ aspectRatio: "4:5", resolution: "1K" })).generationConfig.imageConfig, {
    aspectRatio: "4:5",
    imageSize: "1K",
  });
  const onFlash = buildGenerateContentBody(
    genRequest({ upstreamModel: "gemini-3.1-flash-image", aspectRatio: "auto", resolution: null }),
  );
  assert.deepEqual(onFlash.generationConfig, { responseModalities: ["TEXT", "IMAGE"], imageConfig: { imageSize: "1K" } });
  const on25 = buildGenerateContentBody(
    genRequest({ upstreamModel: "gemini-2.5-flash-image", aspectRatio: "auto", resolution: "1K" }),
  );
  assert.deepEqual(on25.generationConfig, { responseModalities: ["TEXT", "IMAGE"] });
  // a model peel does not know gets the task's resolution, and nothing for a single-size task
  assert.equal(imageSizeFor({ upstreamModel: "gemini-nano-banana-2.1", resolution: "2K" }), "2K");
  assert.equal(imageSizeFor({ upstreamModel: "models/gemini-nano-banana-2.1", resolution: null }), undefined);
  assert.equal(imageSizeFor({ upstreamModel: "models/gemini-3.1-flash-image", resolution: null }), "1K");
});

test("body: google_search becomes tools [{googleSearch:{}}] unless the model is known to lack search", () => {
  const ask = (upstreamModel: string, googleSearch?: boolean) =>
    buildGenerateContentBody(genRequest({ upstreamModel, googleSearch })).tools;
  assert.deepEqual(ask("gemini-3.1-flash-image", true), [{ googleSearch: {} }]);
  assert.deepEqual(ask("gemini-3-pro-image", true), [{ googleSearch: {} }]);
  assert.deepEqual(ask("gemini-nano-banana-2.1", true), [{ googleSearch: {} }]);
  assert.equal(ask("gemini-3.1-flash-lite-image", true), undefined);
  assert.equal(ask("gemini-2.5-flash-image", true), undefined);
  assert.equal(ask("gemini-3.1-flash-image", false), undefined);
  assert.equal(ask("gemini-3.1-flash-image"), undefined);
  // the streamed payload is the same JSON
  const req = genRequest({ upstreamModel: "gemini-3.1-flash-image", googleSearch: true });
  const payload = generateContentPayload(req);
  const text = Buffer.concat([...payload.chunks()]).toString("utf8");
  assert.equal(text, JSON.stringify(buildGenerateContentBody(req)));
  assert.equal(payload.length, Buffer.byteLength(text));
});

test("responses: snake_case fields, WebP bytes, non-image inline data skipped", async () => {
  const webp = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } })
    .webp()
    .toBuffer();
  const out = interpretResponse(
    {
      candidates: [
        {
          content: {
            parts: [
              { inline_data: { mime_type: "image/png", data: webp.toString("base64") } },
              { inlineData: { mimeType: "image/png", data: "AAAAAAAAAAAAAAAA" } },
            ],
          },
          finish_reason: "STOP",
        },
      ],
    },
    "m",
  );
  assert.ok(out.ok);
  if (out.ok) {
    assert.equal(out.image.format, "webp");
    assert.equal(out.image.declaredMime, "image/png");
    assert.ok(out.image.bytes.equals(webp));
  }
});

test("responses: a blocking finishReason wins over a present image; unknown reasons mean no image", () => {
  const img = {
    inlineData: {
      mimeType: "image/jpeg",
      data: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0]).toString("base64"),
    },
  };
  const blocked = interpretResponse({ candidates: [{ content: { parts: [img] }, finishReason: "IMAGE_RECITATION" }] }, "m");
  assert.ok(!blocked.ok && blocked.error.reason === "output_blocked");
  const odd = interpretResponse({ candidates: [{ finishReason: "SOMETHING_NEW" }] }, "m");
  assert.ok(!odd.ok && odd.error.reason === "no_image" && odd.error.retryOnce === true);
  const empty = interpretResponse({}, "m");
  assert.ok(!empty.ok && empty.error.reason === "no_image");
  const snakeBlock = interpretResponse({ prompt_feedback: { block_reason: "SAFETY" } }, "m");
  assert.ok(!snakeBlock.ok && snakeBlock.error.reason === "prompt_blocked");
});

test("the streamed request body is byte for byte the JSON body, with its exact length", async () => {
  // sizes around the base64 slice (49,152 bytes) and every remainder mod 3; a prompt that
  // contains the splice marker and non-ASCII text
  const images = [0, 1, 2, 3, 49_151, 49_152, 49_153, 200_000].map((n, i) => ({
    bytes: randomBytes(n),
    mimeType: "image/png" as const,
    url: `http://x/${i}`,
  }));
  const req = genRequest({ prompt: 'say "data":"" ünïcødé 🍌', images });
  const p = generateContentPayload(req);
  const streamed = Buffer.concat([...p.chunks()]);
  assert.equal(streamed.length, p.length);
  assert.equal(streamed.toString("utf8"), JSON.stringify(buildGenerateContentBody(req)));
  const none = generateContentPayload(genRequest());
  assert.equal(Buffer.concat([...none.chunks()]).toString("utf8"), JSON.stringify(buildGenerateContentBody(genRequest())));
});
