import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { encodeAs, imageDimensions } from "../../src/images/convert.js";
import { sniffImage } from "../../src/images/sniff.js";

const base = () => sharp({ create: { width: 64, height: 40, channels: 4, background: { r: 200, g: 30, b: 90, alpha: 0.5 } } });

test("encodeAs converts png → jpeg without resizing", async () => {
  const png = await base().png().toBuffer();
  const out = await encodeAs(png, "jpeg");
  assert.equal(sniffImage(out.bytes), "jpeg");
  assert.deepEqual([out.width, out.height], [64, 40]);
  const meta = await sharp(out.bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 64, 40]);
});

test("encodeAs flattens alpha onto white for jpeg", async () => {
  const clear = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toBuffer();
  const out = await encodeAs(clear, "jpeg");
  const { data } = await sharp(out.bytes).raw().toBuffer({ resolveWithObject: true });
  assert.ok(data[0] > 245 && data[1] > 245 && data[2] > 245, `pixel ${data[0]},${data[1]},${data[2]}`);
});

test("encodeAs converts jpeg → png and webp → either", async () => {
  const jpeg = await base().jpeg().toBuffer();
  const out = await encodeAs(jpeg, "png");
  assert.equal(sniffImage(out.bytes), "png");
  assert.deepEqual([out.width, out.height], [64, 40]);
  const webp = await base().webp().toBuffer();
  assert.equal(sniffImage((await encodeAs(webp, "png")).bytes), "png");
  assert.equal(sniffImage((await encodeAs(webp, "jpeg")).bytes), "jpeg");
});

test("encodeAs passes same-format bytes through unchanged", async () => {
  const png = await base().png().toBuffer();
  const jpeg = await base().jpeg().toBuffer();
  const p = await encodeAs(png, "png");
  const j = await encodeAs(jpeg, "jpeg");
  assert.equal(p.bytes, png);
  assert.equal(j.bytes, jpeg);
  assert.deepEqual([p.width, p.height, j.width, j.height], [64, 40, 64, 40]);
});

test("encodeAs and imageDimensions throw on undecodable input", async () => {
  await assert.rejects(encodeAs(Buffer.from("not an image at all"), "png"));
  const fakePng = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100, 7)]);
  await assert.rejects(encodeAs(fakePng, "jpeg"));
  await assert.rejects(imageDimensions(Buffer.from("GIF89a......")));
});

test("imageDimensions reads the header", async () => {
  assert.deepEqual(await imageDimensions(await base().webp().toBuffer()), { width: 64, height: 40 });
});
