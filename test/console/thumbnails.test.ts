import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { sweepExpiredFiles } from "../../src/files/sweeper.js";
import { thumbnailKey } from "../../src/files/thumbnails.js";
import { startPeel } from "../helpers/harness.js";

/** `/files/…?w=` thumbnails of results and uploads: sizes, cache, signed links, refusals, retention. */

const image = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: "#d83" } })
    .png()
    .toBuffer();

async function getImage(url: string) {
  const res = await fetch(url);
  const bytes = Buffer.from(await res.arrayBuffer());
  const meta = res.ok ? await sharp(bytes).metadata() : null;
  return { res, bytes, meta };
}

test("a result and an upload at ?w=: WebP of that width, made once and kept in the file store", async (t) => {
  const peel = await startPeel();
  t.after(() => peel.close());
  const created = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    input: { prompt: "thumb", aspect_ratio: "16:9", resolution: "1K" },
  });
  const rec = await peel.waitForTask(created.json.data.taskId);
  const url = JSON.parse(rec.resultJson).resultUrls[0] as string;

  const { res, meta, bytes } = await getImage(`${url}?w=256`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/webp");
  assert.equal(Number(res.headers.get("content-length")), bytes.length);
  assert.deepEqual([meta!.format, meta!.width, meta!.height], ["webp", 256, 143]);
  const file = (await peel.runtime.store.getFileByUrlPath(new URL(url).pathname))!;
  assert.ok(await peel.runtime.fileStore.exists(thumbnailKey(file.id, 256)), "cached on the file store");
  // the second answer comes from the cache: the same bytes
  assert.deepEqual((await getImage(`${url}?w=256`)).bytes, bytes);
  const head = await fetch(`${url}?w=128`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.ok(Number(head.headers.get("content-length")) > 0);
  // the original is untouched
  assert.equal((await getImage(url)).meta!.width, 1376);

  // an upload narrower than the width is not enlarged
  const up = await peel.api("POST", "/api/file-base64-upload", {
    base64Data: (await image(100, 50)).toString("base64"),
    fileName: "small.png",
  });
  const small = await getImage(`${up.json.data.fileUrl}?w=512`);
  assert.deepEqual([small.meta!.format, small.meta!.width, small.meta!.height], ["webp", 100, 50]);
});

test("only the allowed widths; signed links keep working with ?w=; undecodable uploads are refused", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const up = await peel.api("POST", "/api/file-base64-upload", {
    base64Data: (await image(600, 300)).toString("base64"),
    fileName: "pic.png",
  });
  const url = up.json.data.fileUrl as string;
  for (const w of ["300", "abc", "", "256.0", "-256"]) {
    const res = await fetch(`${url}?w=${w}`);
    assert.equal(res.status, 400, `w=${w}`);
    assert.deepEqual(await res.json(), { code: 400, msg: "w must be one of 128, 256, 512", data: null });
  }
  assert.equal((await fetch(`${url}?w=256&w=128`)).status, 400, "a repeated w");

  const link = (await peel.api("POST", "/api/v1/common/download-url", { url })).json.data as string;
  const signed = await fetch(`${link}&w=128`);
  assert.equal(signed.status, 200);
  assert.equal(signed.headers.get("content-type"), "image/webp");
  assert.match(signed.headers.get("content-disposition") ?? "", /attachment; filename="pic\.webp"/);
  const tampered = new URL(link);
  tampered.searchParams.set("sig", "0".repeat(32));
  tampered.searchParams.set("w", "128");
  assert.equal((await fetch(tampered)).status, 403);

  // PNG magic bytes, then nothing an image decoder can read
  const junk = Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), Buffer.alloc(200, 7)]);
  const bad = await peel.api("POST", "/api/file-base64-upload", { base64Data: junk.toString("base64"), fileName: "junk.png" });
  assert.equal(bad.json.code, 200, bad.text);
  const res = await fetch(`${bad.json.data.fileUrl}?w=256`);
  assert.equal(res.status, 422);
  assert.deepEqual(await res.json(), { code: 422, msg: "The file is not an image peel can decode", data: null });
  assert.equal((await fetch(`${peel.url}/files/u/nope/x.png?w=256`)).status, 404);
});

test("the retention sweep deletes a file's thumbnails with it", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const up = await peel.api("POST", "/api/file-base64-upload", { base64Data: (await image(300, 300)).toString("base64") });
  const url = up.json.data.fileUrl as string;
  for (const w of [128, 256]) assert.equal((await fetch(`${url}?w=${w}`)).status, 200);
  const file = (await peel.runtime.store.getFileByUrlPath(new URL(url).pathname))!;
  const { fileStore, store } = peel.runtime;
  assert.ok(await fileStore.exists(thumbnailKey(file.id, 128)));
  const swept = await sweepExpiredFiles({ records: store, store: fileStore, now: Date.now() + 30 * 86_400_000 });
  assert.ok(swept >= 1);
  for (const w of [128, 256]) assert.equal(await fileStore.exists(thumbnailKey(file.id, w)), false);
  assert.equal(await fileStore.exists(file.storageKey), false);
});
