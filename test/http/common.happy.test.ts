import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { TINY_PNG_B64 } from "./kie-endpoints.js";

/** The common API (docs/kie-contract.md §8 chat/credit, §9 download-url) for callers who do it right. */

let peel: TestPeel;
let resultUrl: string;
let resultBytes: Buffer;
before(async () => {
  peel = await startPeel();
});
after(() => peel.close());

async function credit(key = peel.key) {
  const res = await peel.api("GET", "/api/v1/chat/credit", undefined, { key });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  return res;
}

describe("GET /api/v1/chat/credit", () => {
  test("a new account has its 1000 initial credits, as an integer JSON number", async () => {
    const res = await credit();
    assert.deepEqual(res.json, { code: 200, msg: "success", data: 1000 });
    assert.match(res.text, /"data":1000[,}]/, "written as an integer, not 1000.0 or a string");
  });

  test("18 credits fewer after a successful 1K task", async () => {
    const res = await peel.api("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt: "credits" } });
    assert.equal(res.json.code, 200);
    const rec = await peel.waitForTask(res.json.data.taskId);
    assert.equal(rec.state, "success");
    resultUrl = JSON.parse(rec.resultJson).resultUrls[0];
    resultBytes = Buffer.from(await (await fetch(resultUrl)).arrayBuffer());
    const after = await credit();
    assert.deepEqual(after.json, { code: 200, msg: "success", data: 982 });
    assert.match(after.text, /"data":982[,}]/);
  });

  test("an unmetered account reports 1000000 and is never charged", async () => {
    const free = await peel.newKey({ unmetered: true, credits: 0 });
    assert.deepEqual((await credit(free.key)).json, { code: 200, msg: "success", data: 1000000 });
    const res = await peel.api(
      "POST",
      "/api/v1/jobs/createTask",
      { model: "nano-banana-pro", input: { prompt: "free", resolution: "4K" } },
      { key: free.key },
    );
    assert.equal(res.json.code, 200, "no 402 for an unmetered account with no credits");
    const rec = await peel.waitForTask(res.json.data.taskId, { key: free.key });
    assert.equal(rec.state, "success");
    assert.deepEqual((await credit(free.key)).json, { code: 200, msg: "success", data: 1000000 });
  });

  test("keys of the same account share one balance", async () => {
    const other = await peel.newKey({ accountId: peel.account.id });
    assert.deepEqual((await credit(other.key)).json, (await credit()).json);
  });
});

describe("POST /api/v1/common/download-url", () => {
  async function link(url: string): Promise<URL> {
    const before = Math.floor(Date.now() / 1000);
    const res = await peel.api("POST", "/api/v1/common/download-url", { url });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(res.json.code, 200, JSON.stringify(res.json));
    assert.equal(res.json.msg, "success");
    assert.equal(typeof res.json.data, "string");
    const u = new URL(res.json.data);
    assert.equal(u.origin, peel.url);
    assert.equal(u.pathname, new URL(url).pathname);
    const exp = Number(u.searchParams.get("exp"));
    // 20 minutes (§9)
    assert.ok(exp >= before + 1200 - 2 && exp <= Math.ceil(Date.now() / 1000) + 1200 + 2, `exp ${exp - before}s from now`);
    assert.match(u.searchParams.get("sig") ?? "", /^[0-9a-f]{16,}$/);
    return u;
  }

  test("a result URL → a link that downloads without auth, as an attachment", async () => {
    assert.ok(resultUrl, "the credit test produced a result");
    const u = await link(resultUrl);
    const res = await fetch(u); // no Authorization header
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/png");
    const name = u.pathname.slice(u.pathname.lastIndexOf("/") + 1);
    assert.equal(res.headers.get("content-disposition"), `attachment; filename="${name}"`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), resultBytes);
  });

  test("an uploaded file's URL works too", async () => {
    const up = await peel.api("POST", "/api/file-base64-upload", {
      base64Data: TINY_PNG_B64,
      uploadPath: "images/x",
      fileName: "dot.png",
    });
    assert.equal(up.json.success, true, JSON.stringify(up.json));
    const u = await link(up.json.data.downloadUrl);
    const res = await fetch(u);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-disposition"), 'attachment; filename="dot.png"');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from(TINY_PNG_B64, "base64"));
  });

  test("a result URL with a query string or fragment still resolves", async () => {
    await link(resultUrl + "?v=1#top");
  });

  test("the plain result URL stays inline (no Content-Disposition)", async () => {
    const res = await fetch(resultUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-disposition"), null);
  });
});
