import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { SandboxEngine } from "../../src/engines/sandbox.js";
import type { GenerateRequest, InputImage } from "../../src/engines/engine.js";
import { ProviderError, failureOf } from "../../src/errors.js";
import { sniffImage } from "../../src/images/sniff.js";
import { textColumns, wrapText, xmlEscape } from "../../src/engines/sandbox-text.js";

const live = () => new AbortController().signal;

function request(over: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    model: "nano-banana-pro",
    upstreamModel: "gemini-3-pro-image",
    prompt: "A banana astronaut floating above Saturn's rings, watercolor",
    images: [],
    aspectRatio: "1:1",
    resolution: "1K",
    outputFormat: "png",
    taskId: "0123456789abcdef0123456789abcdef",
    ...over,
  };
}

async function input(width: number, height: number, format: "png" | "jpeg" | "webp", colour = "#3377cc"): Promise<InputImage> {
  const bytes = await sharp({ create: { width, height, channels: 3, background: colour } })
    .composite([
      {
        input: Buffer.from(
          `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><circle cx="${width / 2}" cy="${height / 2}" r="${Math.min(width, height) / 3}" fill="#ffcc00"/></svg>`,
        ),
      },
    ])
    .toFormat(format)
    .toBuffer();
  return { bytes, mimeType: `image/${format}`, url: `https://files.example/${width}x${height}.${format}` };
}

async function decoded(bytes: Buffer) {
  const meta = await sharp(bytes).metadata();
  await sharp(bytes).raw().toBuffer(); // decodes every pixel, not just the header
  return { format: meta.format, width: meta.width, height: meta.height };
}

test("1:1 1K png is a real 1024×1024 PNG", async () => {
  const out = await new SandboxEngine().generate(request(), live());
  assert.equal(out.format, "png");
  assert.equal(sniffImage(out.bytes), "png");
  assert.deepEqual([out.width, out.height], [1024, 1024]);
  assert.deepEqual(await decoded(out.bytes), { format: "png", width: 1024, height: 1024 });
});

test("16:9 4K jpeg is a 5504×3072 JPEG", async () => {
  const out = await new SandboxEngine().generate(
    request({ aspectRatio: "16:9", resolution: "4K", outputFormat: "jpeg" }),
    live(),
  );
  assert.equal(out.format, "jpeg");
  assert.equal(sniffImage(out.bytes), "jpeg");
  assert.deepEqual([out.width, out.height], [5504, 3072]);
  assert.deepEqual(await decoded(out.bytes), { format: "jpeg", width: 5504, height: 3072 });
});

test("the same request gives identical bytes, whatever the task id", async () => {
  const img = await input(640, 480, "png");
  const a = await new SandboxEngine().generate(request({ images: [img] }), live());
  const b = await new SandboxEngine().generate(request({ images: [img], taskId: "f".repeat(32) }), live());
  assert.ok(a.bytes.equals(b.bytes));
});

test("a different prompt or input gives different bytes", async () => {
  const engine = new SandboxEngine();
  const a = await engine.generate(request(), live());
  const b = await engine.generate(request({ prompt: "A banana astronaut floating above Jupiter, watercolor" }), live());
  const c = await engine.generate(request({ images: [await input(300, 300, "png")] }), live());
  assert.ok(!a.bytes.equals(b.bytes));
  assert.ok(!a.bytes.equals(c.bytes));
  // the palette comes from the request hash, so even the untouched corner pixel changes
  const corner = async (bytes: Buffer) =>
    (await sharp(bytes).extract({ left: 0, top: 200, width: 1, height: 1 }).raw().toBuffer()).toString("hex");
  assert.notEqual(await corner(a.bytes), await corner(b.bytes));
});

test("auto follows the first input's shape; without inputs it is 1:1", async () => {
  const engine = new SandboxEngine();
  const wide = await input(1900, 1000, "jpeg");
  const tall = await input(500, 1000, "png");
  const out = await engine.generate(request({ aspectRatio: "auto", images: [wide, tall] }), live());
  assert.deepEqual([out.width, out.height], [1376, 768]);
  const none = await engine.generate(request({ aspectRatio: "auto", resolution: "2K" }), live());
  assert.deepEqual([none.width, none.height], [2048, 2048]);
  const nb2 = await engine.generate(
    request({ model: "nano-banana-2", aspectRatio: "auto", images: [await input(2000, 250, "webp")] }),
    live(),
  );
  assert.deepEqual([nb2.width, nb2.height], [2896, 368]);
});

test("single-size models draw gemini-3.1-flash-image's 1K size", async () => {
  const out = await new SandboxEngine().generate(
    request({
      model: "google/nano-banana-edit",
      resolution: null,
      aspectRatio: "3:4",
      outputFormat: "jpeg",
      images: [await input(200, 200, "png")],
    }),
    live(),
  );
  assert.deepEqual([out.width, out.height], [896, 1200]);
  assert.deepEqual(await decoded(out.bytes), { format: "jpeg", width: 896, height: 1200 });
});

test("PNG, JPEG and WebP inputs compose into the output", async () => {
  const images = [
    await input(800, 400, "png", "#cc2222"),
    await input(400, 800, "webp", "#22cc22"),
    await input(500, 500, "jpeg", "#2222cc"),
  ];
  const plain = await new SandboxEngine().generate(request({ aspectRatio: "4:3" }), live());
  const out = await new SandboxEngine().generate(request({ aspectRatio: "4:3", images }), live());
  assert.deepEqual(await decoded(out.bytes), { format: "png", width: 1200, height: 896 });
  assert.ok(!out.bytes.equals(plain.bytes));
  // Some pixel must be the first input's red: the thumbnails are really drawn.
  const { data, info } = await sharp(out.bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let red = 0;
  for (let i = 0; i < data.length; i += info.channels) if (data[i] > 190 && data[i + 1] < 60 && data[i + 2] < 60) red++;
  assert.ok(red > 1000, `only ${red} red pixels`);
});

test("a long, hostile prompt renders", async () => {
  const prompt = `<svg onload="x"> & ]]> \u0000\u0007 \ud800 ${"supercalifragilistic".repeat(40)} ${"word ".repeat(2500)}`;
  const out = await new SandboxEngine().generate(request({ prompt, aspectRatio: "9:16", outputFormat: "jpeg" }), live());
  assert.deepEqual(await decoded(out.bytes), { format: "jpeg", width: 768, height: 1376 });
});

test("an undecodable input fails with invalid_input naming its URL", async () => {
  const bad: InputImage = {
    bytes: Buffer.from("definitely not an image"),
    mimeType: "image/png",
    url: "https://files.example/bad.png",
  };
  const truncated = await input(400, 400, "png");
  const cut: InputImage = { ...truncated, bytes: truncated.bytes.subarray(0, 60), url: "https://files.example/cut.png" };
  for (const img of [bad, cut]) {
    await assert.rejects(new SandboxEngine().generate(request({ images: [await input(10, 10, "png"), img] }), live()), (err) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.reason, "invalid_input");
      assert.deepEqual(failureOf(err), { failCode: "422", failMsg: `Invalid image_input: ${img.url}` });
      return true;
    });
  }
});

test("aborting during the delay rejects promptly with the abort reason", async () => {
  const engine = new SandboxEngine({ delayMs: 10_000 });
  const ac = new AbortController();
  const started = Date.now();
  const pending = engine.generate(request(), ac.signal);
  setTimeout(() => ac.abort(new Error("task canceled")), 50);
  await assert.rejects(pending, /task canceled/);
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);

  const pre = new AbortController();
  pre.abort();
  await assert.rejects(engine.generate(request(), pre.signal), { name: "AbortError" });
});

test("the delay is waited out when nothing aborts", async () => {
  const started = Date.now();
  await new SandboxEngine({ delayMs: 150 }).generate(request(), live());
  assert.ok(Date.now() - started >= 150);
  assert.throws(() => new SandboxEngine({ delayMs: -1 }), RangeError);
});

test("render time: 1K png well under a second, 4K jpeg within a couple of seconds", async () => {
  const engine = new SandboxEngine();
  const img = await input(1200, 800, "jpeg");
  let t = performance.now();
  await engine.generate(request({ images: [img] }), live());
  const oneK = performance.now() - t;
  t = performance.now();
  await engine.generate(request({ images: [img], aspectRatio: "16:9", resolution: "4K", outputFormat: "jpeg" }), live());
  const fourK = performance.now() - t;
  // generous bounds for slow CI machines; measured ~0.1 s and ~0.9 s on 2 cores
  assert.ok(oneK < 1000, `1K png took ${oneK.toFixed(0)} ms`);
  assert.ok(fourK < 4000, `4K jpeg took ${fourK.toFixed(0)} ms`);
});

test("prompt text is escaped for SVG and wrapped within its columns", () => {
  assert.equal(xmlEscape(`a<b>&"c'\u0000\u001f`), "a&lt;b&gt;&amp;&quot;c&apos;");
  assert.equal(xmlEscape("x\ud800y\udc00z 🍌"), "xyz 🍌");

  const { lines, truncated } = wrapText("the quick brown fox\njumps over   the lazy dog", 10, 10);
  assert.deepEqual(lines, ["the quick", "brown fox", "jumps over", "the lazy", "dog"]);
  assert.equal(truncated, false);

  const long = wrapText("abcdefghijklmnopqrstuvwxyz", 10, 10);
  assert.deepEqual(long.lines, ["abcdefghij", "klmnopqrst", "uvwxyz"]);

  const cut = wrapText("one two three four five six seven eight nine ten", 9, 2);
  assert.equal(cut.truncated, true);
  assert.equal(cut.lines.length, 2);
  assert.ok(cut.lines[1].endsWith("…"));
  for (const line of cut.lines) assert.ok(textColumns(line) <= 9, line);

  // wide (CJK) characters count two columns each
  assert.deepEqual(wrapText("日本語のテキスト", 6, 5).lines, ["日本語", "のテキ", "スト"]);
});

test("nano-banana-2-lite draws nano-banana-2's 1K size, its extreme ratios included", async () => {
  for (const [ratio, size] of [
    ["1:1", [1024, 1024]],
    ["8:1", [2896, 368]],
  ] as const) {
    const out = await new SandboxEngine().generate(
      request({ model: "nano-banana-2-lite", aspectRatio: ratio, resolution: "1K", outputFormat: "jpeg" }),
      live(),
    );
    assert.deepEqual(await decoded(out.bytes), { format: "jpeg", width: size[0], height: size[1] });
  }
});
