import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import sharp from "sharp";
import { startFakeGemini, type FakeGemini } from "../fakes/fake-gemini.js";

// The fake Google server's own contract (docs/gemini.md#the-fake-google-server), so adapter bugs surface against it.

let fake: FakeGemini;
before(async () => {
  fake = await startFakeGemini({ imageMode: "tiny" });
});
after(() => fake.close());
beforeEach(() => fake.reset());

const PATH = "/v1beta/models/gemini-3-pro-image:generateContent";
const PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

async function call(body: unknown, opts: { path?: string; headers?: Record<string, string>; method?: string } = {}) {
  const res = await fetch(fake.url + (opts.path ?? PATH), {
    method: opts.method ?? "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": "test-key", ...opts.headers },
    body: opts.method === "GET" ? undefined : JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get("content-type"), json: (await res.json()) as any };
}
const text = (prompt: string, extra: object = {}) => ({ contents: [{ role: "user", parts: [{ text: prompt }] }], ...extra });

test("unknown field → 400 with Google's text and a BadRequest detail", async () => {
  const r = await call(text("x", { generationConfig: { imageConfig: { size: "2K" } } }));
  assert.equal(r.status, 400);
  assert.equal(r.type, "application/json; charset=UTF-8");
  assert.equal(r.json.error.message, 'Invalid JSON payload received. Unknown name "size": Cannot find field.');
  assert.equal(r.json.error.details[0]["@type"], "type.googleapis.com/google.rpc.BadRequest");
  // Vertex-only imageConfig options are unknown to the Gemini API
  const v = await call(text("x", { generationConfig: { imageConfig: { outputMimeType: "image/png" } } }));
  assert.equal(v.status, 400);
});

test("snake_case is accepted and the image has the size asked for", async () => {
  const small = await startFakeGemini();
  try {
    const res = await fetch(`${small.url}${PATH}?key=test-key`, {
      method: "POST",
      body: JSON.stringify({
        contents: [{ role: "user", parts: [{ text: "x" }, { inline_data: { mime_type: "image/png", data: PNG_1PX } }] }],
        generation_config: { response_modalities: ["TEXT", "IMAGE"], image_config: { aspect_ratio: "21:9", image_size: "1K" } },
      }),
    });
    assert.equal(res.status, 200);
    const json = (await res.json()) as any;
    const part = json.candidates[0].content.parts[0];
    assert.equal(part.inlineData.mimeType, "image/jpeg");
    const meta = await sharp(Buffer.from(part.inlineData.data, "base64")).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 1584, 672]);
    assert.equal(json.usageMetadata.candidatesTokensDetails[0].tokenCount, 1120);
    assert.equal(small.requests[0].path, `${PATH}?key=%5Bredacted%5D`);
  } finally {
    await small.close();
  }
});

test("bad ratio, lower-case size, too many images, bad image bytes → 400", async () => {
  const cfg = (imageConfig: object) => text("x", { generationConfig: { imageConfig } });
  assert.equal((await call(cfg({ aspectRatio: "7:3" }))).status, 400);
  assert.equal((await call(cfg({ imageSize: "1k" }))).status, 400);
  const many = {
    contents: [
      {
        role: "user",
        parts: [{ text: "x" }, ...Array.from({ length: 15 }, () => ({ inlineData: { mimeType: "image/png", data: PNG_1PX } }))],
      },
    ],
  };
  assert.equal((await call(many)).status, 400);
  const bad = await call({
    contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: "aGVsbG8gd29ybGQ=" } }] }],
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.message, "Provided image is not valid");
});

test("auth: no key 403, wrong key 400 API_KEY_INVALID; keys are redacted in the log", async () => {
  const none = await call(text("x"), { headers: { "x-goog-api-key": "" } });
  assert.equal(none.status, 403);
  assert.equal(none.json.error.status, "PERMISSION_DENIED");
  const wrong = await call(text("x"), { headers: { "x-goog-api-key": "nope" } });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.error.details[0].reason, "API_KEY_INVALID");
  assert.ok(fake.requests.every((r) => !JSON.stringify(r).includes("nope")));
});

test("models: preview and unknown ids 404; thinkingConfig to 2.5 → 400; GET /v1beta/models lists", async () => {
  const preview = await call(text("x"), { path: "/v1beta/models/gemini-3-pro-image-preview:generateContent" });
  assert.equal(preview.status, 404);
  assert.equal(preview.json.error.status, "NOT_FOUND");
  const thinking = await call(text("x", { generationConfig: { thinkingConfig: { thinkingBudget: 0 } } }), {
    path: "/v1beta/models/gemini-2.5-flash-image:generateContent",
  });
  assert.equal(thinking.json.error.message, "Thinking is not enabled for this model");
  // retired by Google on 2026-10-02: 404 unless a test lists it
  const retired = await call(text("x"), { path: "/v1beta/models/gemini-2.5-flash-image:generateContent" });
  assert.equal(retired.status, 404);
  const list = await call(null, { path: "/v1beta/models", method: "GET" });
  assert.deepEqual(
    list.json.models.map((m: any) => m.name),
    ["models/gemini-3-pro-image", "models/gemini-3.1-flash-image", "models/gemini-3.1-flash-lite-image"],
  );
  assert.equal((await call(text("x"), { path: "/v1/elsewhere" })).status, 404);
});

test("tools are recorded; unknown tools 400; the search tool gets grounding metadata", async () => {
  const grounded = await call(text("x", { tools: [{ google_search: {} }] }));
  assert.equal(grounded.status, 200);
  assert.deepEqual(fake.requests[0].tools, ["googleSearch"]);
  assert.ok(grounded.json.candidates[0].groundingMetadata);
  assert.deepEqual((await call(text("x"))).json.candidates[0].groundingMetadata, undefined);
  assert.deepEqual(fake.requests[1].tools, []);
  const unknown = await call(text("x", { tools: [{ webBrowser: {} }] }));
  assert.equal(unknown.status, 400);
  assert.match(unknown.json.error.message, /Unknown name "webBrowser"/);
});

test("gemini-3.1-flash-lite-image: the 14 ratios at 1K only, no search grounding", async () => {
  const lite = "/v1beta/models/gemini-3.1-flash-lite-image:generateContent";
  const cfg = (imageConfig: object, extra: object = {}) => text("x", { generationConfig: { imageConfig }, ...extra });
  assert.equal((await call(cfg({ aspectRatio: "8:1", imageSize: "1K" }), { path: lite })).status, 200);
  assert.equal((await call(cfg({ imageSize: "2K" }), { path: lite })).status, 400);
  assert.equal((await call(cfg({ imageSize: "4K" }), { path: lite })).status, 400);
  const search = await call(cfg({}, { tools: [{ googleSearch: {} }] }), { path: lite });
  assert.equal(search.status, 400);
  assert.match(search.json.error.message, /Search Grounding is not supported/);
});

test("scenario selection: queue before prompt marker before default; unknown names refused", async () => {
  fake.setDefault("overloaded");
  fake.enqueue("internal");
  assert.equal((await call(text("[[fake:deadline]]"))).status, 500);
  assert.equal((await call(text("[[fake:deadline]]"))).status, 504);
  assert.equal((await call(text("plain"))).status, 503);
  assert.deepEqual(
    fake.requests.map((r) => r.scenario),
    ["internal", "deadline", "overloaded"],
  );
  assert.throws(() => fake.enqueue("nonsense" as never), /unknown scenario/);
  fake.reset();
  assert.equal((await call(text("plain"))).status, 200);
  assert.equal(fake.requests.length, 1);
});

test("close() ends hanging requests", async () => {
  const f = await startFakeGemini({ imageMode: "tiny" });
  f.enqueue("hang");
  const pending = fetch(f.url + PATH, {
    method: "POST",
    headers: { "x-goog-api-key": "test-key" },
    body: JSON.stringify(text("x")),
  });
  while (f.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
  await f.close();
  await assert.rejects(pending);
});
