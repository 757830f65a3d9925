import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import sharp from "sharp";
import { sniffImage } from "../../src/images/sniff.js";
import { FAKE_VERTEX_TOKEN, startFakeGemini, type FakeGemini } from "../fakes/fake-gemini.js";
import { cornerColour, geminiEngine, genRequest, inputImage, memoryLogger } from "./gemini-helpers.js";

// Success paths of the gemini engine against the fake Google server (docs/gemini.md).

let fake: FakeGemini;
before(async () => {
  fake = await startFakeGemini();
});
after(() => fake.close());
beforeEach(() => fake.reset());

/** docs/gemini.md#ratios-and-sizes, written out independently of src/images/sizes.ts. */
const PRO_SIZES: Record<string, [string, string, string]> = {
  "1:1": ["1024x1024", "2048x2048", "4096x4096"],
  "2:3": ["848x1264", "1696x2528", "3392x5056"],
  "3:2": ["1264x848", "2528x1696", "5056x3392"],
  "3:4": ["896x1200", "1792x2400", "3584x4800"],
  "4:3": ["1200x896", "2400x1792", "4800x3584"],
  "4:5": ["928x1152", "1856x2304", "3712x4608"],
  "5:4": ["1152x928", "2304x1856", "4608x3712"],
  "9:16": ["768x1376", "1536x2752", "3072x5504"],
  "16:9": ["1376x768", "2752x1536", "5504x3072"],
  "21:9": ["1584x672", "3168x1344", "6336x2688"],
};
const RESOLUTIONS = ["1K", "2K", "4K"] as const;

test("nano-banana-pro: every ratio × resolution gives the documented size in the requested format", async () => {
  const engine = geminiEngine(fake.url);
  try {
    const cases = Object.entries(PRO_SIZES).flatMap(([ratio, sizes]) =>
      RESOLUTIONS.map((resolution, i) => ({ ratio, resolution, expected: sizes[i] })),
    );
    // The fake answers JPEG, so every other case asks PNG to exercise conversion.
    const jobs = cases.map((c, i) => async () => {
      const outputFormat = i % 2 ? "png" : "jpeg";
      const out = await engine.generate(
        genRequest({ aspectRatio: c.ratio, resolution: c.resolution, outputFormat }),
        new AbortController().signal,
      );
      const label = `${c.ratio} ${c.resolution} ${outputFormat}`;
      assert.equal(`${out.width}x${out.height}`, c.expected, label);
      assert.equal(out.format, outputFormat, label);
      assert.equal(sniffImage(out.bytes), outputFormat, label);
      const meta = await sharp(out.bytes).metadata();
      assert.equal(`${meta.width}x${meta.height}`, c.expected, label);
    });
    for (let i = 0; i < jobs.length; i += 4) await Promise.all(jobs.slice(i, i + 4).map((j) => j()));

    assert.equal(fake.requests.length, cases.length);
    for (const r of fake.requests) {
      assert.match(r.path, /^\/v1beta\/models\/gemini-3-pro-image:generateContent$/);
      assert.equal(r.headers["x-goog-api-key"], "[redacted]");
      assert.deepEqual(r.body.generationConfig.responseModalities, ["TEXT", "IMAGE"]);
      assert.ok(r.body.generationConfig.imageConfig.aspectRatio);
      assert.ok(["1K", "2K", "4K"].includes(r.body.generationConfig.imageConfig.imageSize));
      assert.equal(r.body.generationConfig.thinkingConfig, undefined);
    }
  } finally {
    await engine.close();
  }
});

test("the request maps prompt, ratio and size; auto omits aspectRatio; no thinkingConfig", async () => {
  const engine = geminiEngine(fake.url, {});
  fake.setDefault("ok");
  await engine.generate(
    genRequest({ aspectRatio: "16:9", resolution: "2K", outputFormat: "jpeg" }),
    new AbortController().signal,
  );
  await engine.generate(
    genRequest({ aspectRatio: "auto", resolution: "1K", outputFormat: "jpeg" }),
    new AbortController().signal,
  );
  const [first, second] = fake.requests;
  assert.deepEqual(first.body, {
    contents: [{ role: "user", parts: [{ text: "A paper-cut diorama of a lighthouse at dusk" }] }],
    generationConfig: { responseModalities: ["TEXT", "IMAGE"], imageConfig: { aspectRatio: "16:9", imageSize: "2K" } },
  });
  assert.deepEqual(second.body.generationConfig, { responseModalities: ["TEXT", "IMAGE"], imageConfig: { imageSize: "1K" } });
  assert.equal(first.headers["content-type"], "application/json");
  await engine.close();
});

test("a model without sizes (gemini-2.5-flash-image) gets no imageSize", async () => {
  const old = await startFakeGemini({ models: ["gemini-2.5-flash-image"] });
  const engine = geminiEngine(old.url);
  try {
    const out = await engine.generate(
      genRequest({
        model: "google/nano-banana",
        upstreamModel: "gemini-2.5-flash-image",
        aspectRatio: "16:9",
        resolution: null,
        outputFormat: "jpeg",
      }),
      new AbortController().signal,
    );
    assert.equal(`${out.width}x${out.height}`, "1344x768");
    assert.deepEqual(old.requests[0].body.generationConfig.imageConfig, { aspectRatio: "16:9" });
  } finally {
    await engine.close();
    await old.close();
  }
});

test("google/nano-banana on gemini-3.1-flash-image asks for its 1K size", async () => {
  const engine = geminiEngine(fake.url);
  const out = await engine.generate(
    genRequest({
      model: "google/nano-banana",
      upstreamModel: "gemini-3.1-flash-image",
      aspectRatio: "16:9",
      resolution: null,
      outputFormat: "jpeg",
    }),
    new AbortController().signal,
  );
  assert.equal(`${out.width}x${out.height}`, "1376x768");
  assert.deepEqual(fake.requests[0].body.generationConfig.imageConfig, { aspectRatio: "16:9", imageSize: "1K" });
  await engine.close();
});

test("google_search goes to Google as the search tool, on Gemini and on Vertex", async () => {
  const engines = [
    geminiEngine(fake.url),
    geminiEngine(fake.url, { mode: "vertex", vertexProject: "p", vertexAccessToken: FAKE_VERTEX_TOKEN }),
  ];
  for (const engine of engines) {
    await engine.generate(
      genRequest({ model: "nano-banana-2", upstreamModel: "gemini-3.1-flash-image", googleSearch: true }),
      new AbortController().signal,
    );
    await engine.generate(
      genRequest({ model: "nano-banana-2", upstreamModel: "gemini-3.1-flash-image", googleSearch: false }),
      new AbortController().signal,
    );
    await engine.close();
  }
  assert.deepEqual(
    fake.requests.map((r) => [r.path.startsWith("/v1beta1/") ? "vertex" : "gemini", r.tools]),
    [
      ["gemini", ["googleSearch"]],
      ["gemini", []],
      ["vertex", ["googleSearch"]],
      ["vertex", []],
    ],
  );
  assert.deepEqual(fake.requests[0].body.tools, [{ googleSearch: {} }]);
  assert.equal(fake.requests[1].body.tools, undefined);
});

test("google_search is not sent to a model without search grounding (the lite model); the log says so", async () => {
  const logger = memoryLogger();
  const engine = geminiEngine(fake.url, { logger });
  const out = await engine.generate(
    genRequest({
      model: "nano-banana-2-lite",
      upstreamModel: "gemini-3.1-flash-lite-image",
      aspectRatio: "1:8",
      resolution: "1K",
      outputFormat: "jpeg",
      googleSearch: true,
    }),
    new AbortController().signal,
  );
  assert.equal(`${out.width}x${out.height}`, "368x2896");
  assert.deepEqual(fake.requests[0].tools, []);
  assert.deepEqual(fake.requests[0].body.generationConfig.imageConfig, { aspectRatio: "1:8", imageSize: "1K" });
  assert.ok(logger.lines.some((l) => (l.obj as { event?: string }).event === "engine:gemini:search_unsupported"));
  await engine.close();
});

test("references arrive in order with their sniffed MIME types, after the prompt", async () => {
  const engine = geminiEngine(fake.url);
  const images = [
    await inputImage("jpeg", "https://x/a.jpg"),
    await inputImage("png", "https://x/b.png"),
    await inputImage("webp", "https://x/c.webp"),
  ];
  await engine.generate(genRequest({ images, aspectRatio: "auto" }), new AbortController().signal);
  const parts = fake.requests[0].body.contents[0].parts;
  assert.equal(parts.length, 4);
  assert.equal(parts[0].text, "A paper-cut diorama of a lighthouse at dusk");
  assert.deepEqual(
    parts.slice(1).map((p: any) => p.inlineData.mimeType),
    ["image/jpeg", "image/png", "image/webp"],
  );
  parts.slice(1).forEach((p: any, i: number) => {
    assert.ok(Buffer.from(p.inlineData.data, "base64").equals(images[i].bytes));
  });
  await engine.close();
});

test("format: mislabelled JPEG becomes PNG; PNG stays PNG; JPEG stays JPEG", async () => {
  const fast = await startFakeGemini({ imageMode: "tiny" });
  const engine = geminiEngine(fast.url);
  try {
    fast.enqueue("ok_mislabelled", "ok_png", "ok");
    const mislabelled = await engine.generate(genRequest({ outputFormat: "png" }), new AbortController().signal);
    assert.equal(sniffImage(mislabelled.bytes), "png");
    assert.deepEqual([mislabelled.width, mislabelled.height], [64, 64]);
    const png = await engine.generate(genRequest({ outputFormat: "png" }), new AbortController().signal);
    assert.equal(sniffImage(png.bytes), "png");
    const jpeg = await engine.generate(genRequest({ outputFormat: "jpeg" }), new AbortController().signal);
    assert.equal(sniffImage(jpeg.bytes), "jpeg");
  } finally {
    await engine.close();
    await fast.close();
  }
});

test("ok_thoughts delivers the final image, not a draft; only_thought_image falls back to it", async () => {
  const fast = await startFakeGemini({ imageMode: "tiny" });
  const engine = geminiEngine(fast.url);
  try {
    fast.enqueue("ok_thoughts", "only_thought_image");
    const final = await cornerColour(
      (await engine.generate(genRequest({ outputFormat: "png" }), new AbortController().signal)).bytes,
    );
    const near = (c: { r: number; g: number; b: number }) =>
      Math.abs(c.r - 40) < 8 && Math.abs(c.g - 120) < 8 && Math.abs(c.b - 200) < 8;
    assert.ok(near(final), `expected the final (blue) image, got ${JSON.stringify(final)}`);
    const fallback = await engine.generate(genRequest({ outputFormat: "jpeg" }), new AbortController().signal);
    assert.ok(near(await cornerColour(fallback.bytes)));
  } finally {
    await engine.close();
    await fast.close();
  }
});

test("a [[fake:...]] prompt marker steers the fake", async () => {
  const engine = geminiEngine(fake.url);
  await assert.rejects(engine.generate(genRequest({ prompt: "a cat [[fake:prompt_blocked]]" }), new AbortController().signal), {
    name: "ProviderError",
    reason: "prompt_blocked",
  });
  await engine.close();
});

test("vertex mode with a static token calls the Vertex path with a bearer token", async () => {
  const engine = geminiEngine(fake.url, {
    mode: "vertex",
    apiKey: null,
    vertexProject: "proj-1",
    vertexLocation: "us-central1",
    vertexAccessToken: "fake-vertex-token",
  });
  assert.equal(engine.name, "vertex");
  const out = await engine.generate(genRequest({ outputFormat: "jpeg" }), new AbortController().signal);
  assert.equal(out.width, 1024);
  const r = fake.requests[0];
  assert.equal(
    r.path,
    "/v1beta1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-3-pro-image:generateContent",
  );
  assert.equal(r.headers.authorization, "Bearer [redacted]");
  assert.equal(r.headers["x-goog-api-key"], undefined);
  await engine.close();
});

test("vertex mode with a wrong token fails as a non-retryable internal error", async () => {
  const engine = geminiEngine(fake.url, { mode: "vertex", apiKey: null, vertexProject: "p", vertexAccessToken: "nope" });
  await assert.rejects(engine.generate(genRequest(), new AbortController().signal), {
    reason: "internal",
    retryable: false,
    status: 401,
  });
  assert.equal(engine.healthy, false);
  await engine.close();
});
