import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { TINY_PNG_B64 } from "./kie-endpoints.js";

/**
 * File URLs (docs/kie-contract.md §11, §14.10): plain GET and HEAD, no auth, no User-Agent, the right
 * Content-Type and Content-Length. Requests go through node:http so that no header is added
 * behind our back (fetch always sends a User-Agent).
 */

let peel: TestPeel;
const urls: Record<string, { url: string; type: string; bytes?: Buffer }> = {};
before(async () => {
  peel = await startPeel();
  for (const fmt of ["png", "jpg"] as const) {
    const res = await peel.api("POST", "/api/v1/jobs/createTask", {
      model: "nano-banana-pro",
      input: { prompt: `file ${fmt}`, output_format: fmt },
    });
    const rec = await peel.waitForTask(res.json.data.taskId);
    assert.equal(rec.state, "success");
    urls[`result ${fmt}`] = { url: JSON.parse(rec.resultJson).resultUrls[0], type: fmt === "png" ? "image/png" : "image/jpeg" };
  }
  const up = await peel.api("POST", "/api/file-base64-upload", {
    base64Data: TINY_PNG_B64,
    uploadPath: "images/user-uploads",
    fileName: "sketch.png",
  });
  assert.equal(up.json.success, true);
  urls["upload png"] = { url: up.json.data.fileUrl, type: "image/png", bytes: Buffer.from(TINY_PNG_B64, "base64") };
});
after(() => peel.close());

/** A bare request: only the headers node:http itself needs (Host, Connection). */
function bare(
  method: "GET" | "HEAD",
  url: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; sent: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), sent: req.getHeaderNames() }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("GET and HEAD without auth or User-Agent", () => {
  for (const kind of ["result png", "result jpg", "upload png"]) {
    test(`${kind}: GET`, async () => {
      const f = urls[kind];
      const res = await bare("GET", f.url);
      assert.ok(!res.sent.includes("user-agent") && !res.sent.includes("authorization"), `sent ${res.sent}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-type"], f.type);
      assert.equal(Number(res.headers["content-length"]), res.body.length);
      assert.ok(res.body.length > 0);
      if (f.type === "image/png") assert.deepEqual([...res.body.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      else assert.deepEqual([...res.body.subarray(0, 3)], [0xff, 0xd8, 0xff]);
      if (f.bytes) assert.deepEqual(res.body, f.bytes);
      assert.equal(res.headers["content-disposition"], undefined, "inline, not an attachment");
      assert.ok(res.headers["x-request-id"]);
    });

    test(`${kind}: HEAD has the same headers and no body`, async () => {
      const f = urls[kind];
      const [get, head] = [await bare("GET", f.url), await bare("HEAD", f.url)];
      assert.equal(head.status, 200);
      assert.equal(head.headers["content-type"], f.type);
      assert.equal(head.headers["content-length"], get.headers["content-length"]);
      assert.equal(head.body.length, 0);
    });
  }

  test("the file name extension matches the bytes (§11)", () => {
    assert.match(urls["result png"].url, /\.png$/);
    assert.match(urls["result jpg"].url, /\.jpg$/);
  });
});

describe("unknown files → 404", () => {
  const cases = () => {
    const r = new URL(urls["result png"].url);
    const u = new URL(urls["upload png"].url);
    return [
      `${peel.url}/files/r/0123456789abcdef0123456789abcdef/nope.png`,
      `${r.origin}${r.pathname.replace(/\.png$/, ".jpg")}`,
      `${u.origin}${u.pathname.replace("sketch.png", "other.png")}`,
      `${peel.url}/files/u/not-a-token/images/user-uploads/sketch.png`,
      `${peel.url}/files/`,
      `${peel.url}/files/r/`,
      `${peel.url}/files/u/${peel.account.token}/images/user-uploads/%2e%2e%2f%2e%2e%2fsecret`,
    ];
  };
  test("GET", async () => {
    for (const url of cases()) {
      const res = await bare("GET", url);
      assert.equal(res.status, 404, url);
      assert.equal(res.headers["content-type"], "application/json; charset=utf-8");
      assert.deepEqual(JSON.parse(res.body.toString()), { code: 404, msg: "File not found", data: null });
    }
  });
  test("HEAD", async () => {
    for (const url of cases()) assert.equal((await bare("HEAD", url)).status, 404, url);
  });
});
