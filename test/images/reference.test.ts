import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import sharp from "sharp";
import { REFERENCE_MAX_BYTES, prepareReference } from "../../src/images/reference.js";
import { sniffImage } from "../../src/images/sniff.js";

/**
 * A PNG that barely compresses: random blocks of `block` px. `lowAmplitude` keeps the noise within
 * 16 levels, which PNG still stores at ~half a byte per sample but JPEG at 4096 px averages away.
 */
async function noisyPng(
  width: number,
  height: number,
  opts: { block?: number; alpha?: boolean; lowAmplitude?: boolean } = {},
): Promise<Buffer> {
  const { block = 1, alpha = false, lowAmplitude = false } = opts;
  const channels = alpha ? 4 : 3;
  const bw = Math.ceil(width / block);
  const bh = Math.ceil(height / block);
  const raw = randomBytes(bw * bh * channels);
  if (lowAmplitude) for (let i = 0; i < raw.length; i++) raw[i] = 100 + (raw[i] & 0x0f);
  return sharp(raw, { raw: { width: bw, height: bh, channels } })
    .resize(width, height, { kernel: "nearest" })
    .png()
    .toBuffer();
}

test("a reference within the limit passes through unchanged with its sniffed MIME", async () => {
  const webp = await sharp({ create: { width: 300, height: 200, channels: 3, background: "#336699" } })
    .webp()
    .toBuffer();
  const out = await prepareReference(webp);
  assert.equal(out.bytes, webp);
  assert.equal(out.mimeType, "image/webp");
  const png = await noisyPng(200, 100, { alpha: true });
  assert.deepEqual(await prepareReference(png), { bytes: png, mimeType: "image/png" });
});

test("a reference over 7,000,000 bytes becomes a JPEG under the limit, long edge ≤ 4096", async () => {
  const big = await noisyPng(5000, 2500, { alpha: true, lowAmplitude: true });
  assert.ok(big.length > REFERENCE_MAX_BYTES, `fixture is only ${big.length} bytes`);
  const out = await prepareReference(big);
  assert.equal(out.mimeType, "image/jpeg");
  assert.equal(sniffImage(out.bytes), "jpeg");
  assert.ok(out.bytes.length <= REFERENCE_MAX_BYTES, `still ${out.bytes.length} bytes`);
  const meta = await sharp(out.bytes).metadata();
  assert.equal(Math.max(meta.width!, meta.height!), 4096);
  assert.deepEqual([meta.width, meta.height], [4096, 2048]);
  assert.equal(meta.hasAlpha, false);
});

test("falls back to a 3072 px long edge when 4096 is still too big", async () => {
  // Full-amplitude 2-px noise at 16:10: ~8.1 MB as JPEG at 4096×2560, ~4.7 MB at 3072×1920.
  const big = await noisyPng(5120, 3200, { block: 2 });
  const out = await prepareReference(big);
  const meta = await sharp(out.bytes).metadata();
  assert.ok(out.bytes.length <= REFERENCE_MAX_BYTES, `still ${out.bytes.length} bytes`);
  assert.deepEqual([meta.width, meta.height], [3072, 1920]);
});

test("incompressible content below 3072 px goes straight to 2048 px and fits", async () => {
  // Full-amplitude 1-px noise: ~7.5 MB as a q90 JPEG at its own 2900 px, so the 4096 cap (no
  // shrink) is too big and the 3072 cap would not shrink it either; 2048 px gives ~3.7 MB.
  const big = await noisyPng(2900, 2900);
  const out = await prepareReference(big);
  const meta = await sharp(out.bytes).metadata();
  assert.ok(out.bytes.length <= REFERENCE_MAX_BYTES, `still ${out.bytes.length} bytes`);
  assert.deepEqual([meta.width, meta.height], [2048, 2048]);
});

test("undecodable references are rejected", async () => {
  await assert.rejects(prepareReference(Buffer.from("hello")));
  const fakeJpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), randomBytes(REFERENCE_MAX_BYTES + 10)]);
  await assert.rejects(prepareReference(fakeJpeg));
});
