import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { startPeel } from "../helpers/harness.js";

test("createTask on the sandbox engine reaches success and serves a 1024x1024 PNG", async (t) => {
  const peel = await startPeel();
  t.after(() => peel.close());
  const res = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    input: { prompt: "a lighthouse at dusk" },
  });
  assert.equal(res.status, 200);
  assert.equal(res.json.code, 200);
  assert.match(res.json.data.taskId, /^[0-9a-f]{32}$/);
  const rec = await peel.waitForTask(res.json.data.taskId);
  assert.equal(rec.state, "success");
  assert.equal(rec.consumeCredits, 18);
  const urls = JSON.parse(rec.resultJson).resultUrls;
  assert.equal(urls.length, 1);
  const img = await fetch(urls[0]);
  assert.equal(img.status, 200);
  assert.equal(img.headers.get("content-type"), "image/png");
  const meta = await sharp(Buffer.from(await img.arrayBuffer())).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["png", 1024, 1024]);
});
