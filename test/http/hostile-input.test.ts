import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, utimesSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import sharp from "sharp";
import { KIE_ERRORS, UPLOAD_ERRORS } from "../../src/errors.js";
import { MAX_BODY_DEPTH } from "../../src/http/body.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { until } from "../helpers/polling.js";
import { httpRequest, rawRequest } from "../helpers/raw-http.js";

// Issue 10 §1: client mistakes that used to answer HTTP 500 — a createTask `input` nested
// thousands of levels deep (JSON.stringify overflowed after the task was charged), and multipart
// bodies without a boundary or cut short on /api/file-stream-upload.

let peel: TestPeel;
let port: number;
before(async () => {
  peel = await startPeel({ env: { PEEL_CREATE_LIMIT: "0" } });
  port = Number(new URL(peel.url).port);
});
after(() => peel.close());

/** `{"model":…,"input":{"prompt":"x","deep":[[…]]}}` whose deepest array sits at body level `depth`. */
function bodyOfDepth(depth: number): string {
  const arrays = depth - 2; // the body object and `input` are two levels
  return `{"model":"nano-banana-pro","input":{"prompt":"x","deep":${"[".repeat(arrays)}${"]".repeat(arrays)}}}`;
}

async function tasksAndCredit(): Promise<{ tasks: number; credit: number }> {
  const db = new Database(path.join(peel.dataDir, "peel.db"), { readonly: true });
  const tasks = (db.prepare("SELECT count(*) AS n FROM tasks").get() as { n: number }).n;
  db.close();
  const credit = (await peel.api("GET", "/api/v1/chat/credit")).json.data;
  return { tasks, credit };
}

describe("createTask input depth and size are bounded at parse time", () => {
  test("4,500 levels inside input → 422 body_too_deep; nothing stored, nothing charged", async () => {
    const start = await tasksAndCredit();
    for (const depth of [4_500, 50_000, MAX_BODY_DEPTH + 1]) {
      const res = await peel.api("POST", "/api/v1/jobs/createTask", undefined, {
        raw: bodyOfDepth(depth),
        headers: { "content-type": "application/json" },
      });
      assert.equal(res.status, 200, `depth ${depth}: ${res.text.slice(0, 200)}`);
      assert.deepEqual(res.json, { code: 422, msg: KIE_ERRORS.body_too_deep.msg, data: null }, `depth ${depth}`);
    }
    assert.deepEqual(await tasksAndCredit(), start);
  });

  test("exactly the bound is accepted (and stored as sent)", async () => {
    const raw = bodyOfDepth(MAX_BODY_DEPTH);
    const res = await peel.api("POST", "/api/v1/jobs/createTask", undefined, {
      raw,
      headers: { "content-type": "application/json" },
    });
    assert.equal(res.json.code, 200, res.text);
    const rec = await peel.waitForTask(res.json.data.taskId);
    assert.deepEqual(JSON.parse(rec.param).input, JSON.parse(raw).input);
  });

  test("more than 10,000 values → 422 body_too_many_values; nothing stored", async () => {
    const start = await tasksAndCredit();
    const raw = JSON.stringify({ model: "nano-banana-pro", input: { prompt: "x", junk: Array(10_001).fill(0) } });
    const res = await peel.api("POST", "/api/v1/jobs/createTask", undefined, { raw, headers: { "content-type": "text/plain" } });
    assert.deepEqual(res.json, { code: 422, msg: KIE_ERRORS.body_too_many_values.msg, data: null });
    assert.deepEqual(await tasksAndCredit(), start);
  });

  test("the bound applies after auth: without a key the answer is still 401", async () => {
    const res = await peel.api("POST", "/api/v1/jobs/createTask", undefined, {
      key: null,
      raw: bodyOfDepth(5_000),
      headers: { "content-type": "application/json" },
    });
    assert.equal(res.json.code, 401);
  });

  test("a deep body on the other JSON routes answers in the kie envelope too", async () => {
    for (const route of ["/api/v1/jobs/cancel", "/api/v1/common/download-url"]) {
      const res = await peel.api("POST", route, undefined, {
        raw: bodyOfDepth(3_000),
        headers: { "content-type": "application/json" },
      });
      assert.deepEqual(res.json, { code: 422, msg: KIE_ERRORS.body_too_deep.msg, data: null }, route);
    }
  });
});

describe("broken multipart on /api/file-stream-upload answers in the upload envelope", () => {
  const auth = () => ({ authorization: `Bearer ${peel.key}` });
  const MISSING = { success: false, code: UPLOAD_ERRORS.missing_file.code, msg: UPLOAD_ERRORS.missing_file.msg, data: null };
  const part = (body: string) =>
    `--XX\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n${body}`;

  const cases: [string, string, string][] = [
    ["multipart/form-data without a boundary", "multipart/form-data", `${part("abc")}\r\n--XX--\r\n`],
    ["a body cut short (no closing boundary)", "multipart/form-data; boundary=XX", part("abc")],
    ["a part without headers", "multipart/form-data; boundary=XX", "--XX\r\n\r\nabc\r\n--XX--\r\n"],
    ["a boundary that never appears", "multipart/form-data; boundary=YY", `${part("abc")}\r\n--XX--\r\n`],
    ["an empty body", "multipart/form-data; boundary=XX", ""],
  ];
  for (const [name, ct, body] of cases) {
    test(name, async () => {
      const res = await rawRequest(port, httpRequest("POST", "/api/file-stream-upload", { ...auth(), "content-type": ct }, body));
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.deepEqual(res.json, MISSING);
    });
  }
});

describe("multipart uploads are staged in the data directory", () => {
  test("the spill file lives under <data dir>/tmp while the upload streams, and is gone after", async (t) => {
    // its own server: the stale-folder sweep runs on the first upload of a process
    const peel = await startPeel();
    t.after(() => peel.close());
    const port = Number(new URL(peel.url).port);
    const tmp = path.join(peel.dataDir, "tmp");
    // a staging folder left by a killed process, two hours old: removed on first use
    mkdirSync(path.join(tmp, "peel-upload-crashed"), { recursive: true });
    const old = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(path.join(tmp, "peel-upload-crashed"), old, old);

    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#123456" } })
      .png()
      .toBuffer();
    const head = Buffer.from(
      `--XX\r\nContent-Disposition: form-data; name="file"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`,
    );
    const tail = Buffer.from("\r\n--XX--\r\n");
    const total = head.length + png.length + tail.length;
    const { connect } = await import("node:net");
    const sock = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    sock.on("data", (d) => chunks.push(d));
    const closed = new Promise((r) => sock.on("close", r));
    sock.write(
      `POST /api/file-stream-upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${peel.key}\r\n` +
        `Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: ${total}\r\nConnection: close\r\n\r\n`,
    );
    sock.write(Buffer.concat([head, png.subarray(0, 20)]));
    // while the file part is half sent, its staging folder exists in the data dir
    const deadline = Date.now() + 10_000;
    let staged: string[] = [];
    while (Date.now() < deadline) {
      staged = readdirSync(tmp).filter((n) => n.startsWith("peel-upload-"));
      if (staged.length === 1 && staged[0] !== "peel-upload-crashed") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(staged.length, 1, `staging folders: ${staged}`);
    assert.notEqual(staged[0], "peel-upload-crashed", "the stale folder was swept");
    // not end(): a half-closed socket may be torn down before the answer is written
    sock.write(Buffer.concat([png.subarray(20), tail]));
    await closed;
    const text = Buffer.concat(chunks).toString();
    const json = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
    assert.equal(json.code, 200, text);
    assert.match(json.data.fileName, /\.png$/);
    // removed right after the answer is sent
    await until("the staging folder to be removed", 5_000, async () =>
      readdirSync(tmp).every((n) => !n.startsWith("peel-upload-")),
    );
  });
});
