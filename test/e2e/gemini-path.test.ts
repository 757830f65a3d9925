import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { acceptedFormats, MODELS } from "../../src/domain/models.js";
import type { Resolution } from "../../src/domain/types.js";
import { outputSize, ratiosOf } from "../../src/images/sizes.js";
import { FAKE_VERTEX_TOKEN, startFakeGemini } from "../fakes/fake-gemini.js";
import { startPeel } from "../helpers/harness.js";
import { startServer } from "../net/servers.js";

// Issue 3, "how it will be checked": against the fake Google server, every registered model ×
// concrete aspect ratio × resolution, sent through the whole peel path (createTask → worker →
// GeminiEngine → file store → download), yields the documented pixel size
// (docs/gemini.md#ratios-and-sizes) in the requested output_format. The fake answers with real images of the size the request asked
// for, so a wrong imageConfig on the wire, a resize or a wrong conversion all show up here.

/** The fake's replies rotate through these so both conversion directions are exercised. */
const REPLIES = ["ok", "ok_png", "ok_mislabelled", "ok_thoughts"] as const;

interface Case {
  model: string;
  ratio: string;
  resolution: Resolution | null;
  /** the wire spelling sent as output_format; null for a model without the field. */
  format: string | null;
  reply: (typeof REPLIES)[number];
}

function allCases(): Case[] {
  const cases: Case[] = [];
  let n = 0;
  for (const spec of MODELS) {
    for (const ratio of ratiosOf(spec.id)) {
      for (const resolution of spec.resolutions ?? [null]) {
        // Alternate the model's format spellings (`jpeg` and `jpg` both) and the fake's reply
        // independently (4 replies vs 3 spellings), so each format meets each reply kind.
        const formats = acceptedFormats(spec);
        cases.push({
          model: spec.id,
          ratio,
          resolution,
          format: formats.length ? formats[n % formats.length] : null,
          reply: REPLIES[n % REPLIES.length],
        });
        n++;
      }
    }
  }
  return cases;
}

test("every model × ratio × resolution through createTask gives the documented size and the requested format", async (t) => {
  const fake = await startFakeGemini();
  t.after(() => fake.close());
  // google/nano-banana-edit requires image_urls: a small PNG from a local server (127.0.0.1 is
  // allow-listed by the harness).
  const png = await sharp({ create: { width: 48, height: 32, channels: 3, background: "#808080" } })
    .png()
    .toBuffer();
  const images = await startServer((_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(png));
  t.after(() => images.close());
  const peel = await startPeel({
    env: {
      PEEL_ENGINE: "gemini",
      GEMINI_API_KEY: "test-key",
      PEEL_GEMINI_BASE_URL: fake.url,
      PEEL_WORKER_CONCURRENCY: "16",
      PEEL_MAX_RUNNING_PER_ACCOUNT: "16",
    },
  });
  t.after(() => peel.close());
  const { key } = await peel.newKey({ credits: 100_000, limits: { createMax: 0, readMax: 0 } });

  const cases = allCases();
  // 30 pro + 10 + 10 flash + 42 nano-banana-2 (its four extreme ratios are derived sizes) + 14 lite
  assert.equal(cases.length, 106);

  const outcomes = await Promise.all(
    cases.map(async (c) => {
      const spec = MODELS.find((m) => m.id === c.model)!;
      const input: Record<string, unknown> = { prompt: `a lighthouse at dusk (${c.model}) [[fake:${c.reply}]]` };
      if (c.format) input.output_format = c.format;
      input[spec.ratioField] = c.ratio;
      if (c.resolution) input.resolution = c.resolution;
      if (spec.imageField) input[spec.imageField] = spec.imageRequired ? [`${images.origin}/ref.png`] : [];
      const created = await peel.api("POST", "/api/v1/jobs/createTask", { model: c.model, input }, { key });
      assert.equal(created.json?.code, 200, `${label(c)}: ${created.text}`);
      const rec = await peel.waitForTask(created.json.data.taskId, { key, timeoutMs: 60_000 });
      assert.equal(rec.state, "success", `${label(c)}: ${rec.failCode} ${rec.failMsg}`);
      const url: string = JSON.parse(rec.resultJson).resultUrls[0];
      const res = await fetch(url);
      assert.equal(res.status, 200, label(c));
      const bytes = Buffer.from(await res.arrayBuffer());
      const meta = await sharp(bytes).metadata();
      return { c, url, type: res.headers.get("content-type"), meta };
    }),
  );

  for (const { c, url, type, meta } of outcomes) {
    const want = outputSize(c.model, c.ratio, c.resolution);
    // the lite model has no output_format and delivers JPEG, like nano-banana-2 by default
    const fmt = c.format === "png" ? "png" : "jpeg";
    assert.deepEqual({ w: meta.width, h: meta.height }, { w: want.width, h: want.height }, `${label(c)} size`);
    assert.equal(meta.format, fmt, `${label(c)} bytes`);
    assert.equal(type, `image/${fmt}`, `${label(c)} content-type`);
    assert.match(url, fmt === "png" ? /\.png$/ : /\.jpe?g$/, `${label(c)} extension`);
  }

  // Every request the fake saw carried the imageConfig peel promises (docs/engines.md): aspectRatio
  // always (no "auto" here), and imageSize always: the single-size google/ models ask
  // gemini-3.1-flash-image for its 1K size.
  assert.equal(fake.requests.length, cases.length, "one upstream attempt per task");
  const byModel = new Map<string, number>();
  for (const r of fake.requests) {
    byModel.set(r.model!, (byModel.get(r.model!) ?? 0) + 1);
    const ic = r.body?.generationConfig?.imageConfig;
    assert.ok(ic?.aspectRatio, `aspectRatio sent to ${r.model}`);
    assert.ok(ic.imageSize, `imageSize sent to ${r.model}`);
    assert.equal(r.body?.generationConfig?.thinkingConfig, undefined);
  }
  assert.deepEqual(Object.fromEntries(byModel), {
    "gemini-3-pro-image": 30,
    "gemini-3.1-flash-image": 20 + 42,
    "gemini-3.1-flash-lite-image": 14,
  });
  // the single-size models (google/*, lite) ask for 1K
  for (const r of fake.requests) {
    const prompt: string = r.body.contents[0].parts[0].text;
    if (/\((google\/|nano-banana-2-lite)/.test(prompt)) assert.equal(r.body.generationConfig.imageConfig.imageSize, "1K", prompt);
  }
  // the edit model's reference arrived as a sniffed PNG after the prompt
  const edit = fake.requests.filter((r) => JSON.stringify(r.body).includes("inlineData"));
  assert.equal(edit.length, 10);
  for (const r of edit) assert.equal(r.body.contents[0].parts[1].inlineData.mimeType, "image/png");
});

test("aspect_ratio auto sends no aspectRatio and the 1:1 default comes back", async (t) => {
  const fake = await startFakeGemini();
  t.after(() => fake.close());
  const peel = await startPeel({ env: { PEEL_ENGINE: "gemini", GEMINI_API_KEY: "test-key", PEEL_GEMINI_BASE_URL: fake.url } });
  t.after(() => peel.close());
  const created = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    input: { prompt: "a lighthouse", aspect_ratio: "auto", resolution: "2K", output_format: "jpg" },
  });
  const rec = await peel.waitForTask(created.json.data.taskId);
  assert.equal(rec.state, "success");
  assert.deepEqual(fake.requests[0].body.generationConfig.imageConfig, { imageSize: "2K" });
  const bytes = Buffer.from(await (await fetch(JSON.parse(rec.resultJson).resultUrls[0])).arrayBuffer());
  const meta = await sharp(bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 2048, 2048]);
});

function label(c: Case): string {
  return `${c.model} ${c.ratio} ${c.resolution ?? "-"} ${c.format} (${c.reply})`;
}

test("Vertex AI through peel: project + token, and express mode on an API key", async (t) => {
  const fake = await startFakeGemini();
  t.after(() => fake.close());
  const runs: Record<string, string>[] = [
    {
      PEEL_ENGINE: "vertex",
      PEEL_VERTEX_PROJECT: "proj-1",
      PEEL_VERTEX_LOCATION: "us-central1",
      PEEL_VERTEX_ACCESS_TOKEN: FAKE_VERTEX_TOKEN,
    },
    { PEEL_ENGINE: "vertex", GEMINI_API_KEY: "test-key" },
  ];
  const paths: string[] = [];
  for (const env of runs) {
    const peel = await startPeel({ env: { ...env, PEEL_GEMINI_BASE_URL: fake.url } });
    t.after(() => peel.close());
    const created = await peel.api("POST", "/api/v1/jobs/createTask", {
      model: "nano-banana-pro",
      input: { prompt: "a lighthouse", aspect_ratio: "16:9", resolution: "1K", output_format: "png" },
    });
    const rec = await peel.waitForTask(created.json.data.taskId);
    assert.equal(rec.state, "success", `${rec.failCode} ${rec.failMsg}`);
    const meta = await sharp(Buffer.from(await (await fetch(JSON.parse(rec.resultJson).resultUrls[0])).arrayBuffer())).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["png", 1376, 768]);
    paths.push(fake.requests.at(-1)!.path);
  }
  assert.deepEqual(paths, [
    "/v1beta1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-3-pro-image:generateContent",
    "/v1beta1/publishers/google/models/gemini-3-pro-image:generateContent",
  ]);
});

test("PEEL_GEMINI_MODEL and PEEL_GOOGLE_MODELS choose the Google model each kie model calls", async (t) => {
  const fake = await startFakeGemini({
    imageMode: "tiny",
    models: ["gemini-3-pro-image", "gemini-3-pro-image-next"],
  });
  t.after(() => fake.close());
  const peel = await startPeel({
    env: {
      PEEL_ENGINE: "gemini",
      GEMINI_API_KEY: "test-key",
      PEEL_GEMINI_BASE_URL: fake.url,
      PEEL_GEMINI_MODEL: "gemini-3-pro-image-next",
      PEEL_GOOGLE_MODELS: JSON.stringify({ "nano-banana-2": "gemini-3-pro-image" }),
    },
  });
  t.after(() => peel.close());
  for (const model of ["nano-banana-pro", "nano-banana-2"]) {
    const created = await peel.api("POST", "/api/v1/jobs/createTask", {
      model,
      input: { prompt: "a lighthouse", aspect_ratio: "1:1" },
    });
    const rec = await peel.waitForTask(created.json.data.taskId);
    assert.equal(rec.state, "success", `${model}: ${rec.failCode} ${rec.failMsg}`);
  }
  assert.deepEqual(
    fake.requests.map((r) => r.model),
    ["gemini-3-pro-image-next", "gemini-3-pro-image"],
  );
});
