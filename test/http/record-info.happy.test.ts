import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { startFileServer } from "./kie-endpoints.js";

/**
 * recordInfo for real tasks that run on the sandbox engine (docs/kie-contract.md §5, §6, §13, §14.5–7):
 * the exact record shape in every state, a success and a failure, and the credits each leaves.
 */

let peel: TestPeel;
let files: Awaited<ReturnType<typeof startFileServer>>;
before(async () => {
  // A short engine delay makes `generating` observable to a fast poller.
  peel = await startPeel({ env: { PEEL_READ_LIMIT: "0", PEEL_CREATE_LIMIT: "0", PEEL_SANDBOX_DELAY_MS: "300" } });
  files = await startFileServer({ "/not-an-image.png": { status: 200, type: "image/png", body: "hello, not a png" } });
});
after(async () => {
  await peel.close();
  await files.close();
});

const RECORD_KEYS = [
  "taskId",
  "model",
  "state",
  "param",
  "resultJson",
  "failCode",
  "failMsg",
  "costTime",
  "completeTime",
  "createTime",
  "updateTime",
  "consumeCredits",
  "creditsConsumed",
];
const STATES = ["waiting", "queuing", "generating", "success", "fail"];

async function create(body: unknown, key = peel.key): Promise<string> {
  const res = await peel.api("POST", "/api/v1/jobs/createTask", body, { key });
  assert.equal(res.json.code, 200, JSON.stringify(res.json));
  return res.json.data.taskId;
}

async function credit(key = peel.key): Promise<number> {
  const res = await peel.api("GET", "/api/v1/chat/credit", undefined, { key });
  assert.equal(res.json.code, 200);
  return res.json.data;
}

/** Checks the field set and types every record has, whatever its state (§5.1). */
function assertRecordShape(rec: any): void {
  assert.deepEqual(Object.keys(rec).sort(), [...RECORD_KEYS].sort());
  assert.match(rec.taskId, /^[0-9a-f]{32}$/);
  assert.equal(rec.model, "nano-banana-pro");
  assert.ok(STATES.includes(rec.state), rec.state);
  for (const k of ["param", "resultJson", "failCode", "failMsg"]) assert.equal(typeof rec[k], "string", k);
  for (const k of ["costTime", "createTime", "updateTime"]) assert.ok(Number.isInteger(rec[k]), `${k} integer`);
  assert.ok(rec.completeTime === null || Number.isInteger(rec.completeTime));
  assert.equal(typeof rec.consumeCredits, "number");
  assert.equal(rec.creditsConsumed, rec.consumeCredits);
  assert.ok(rec.updateTime >= rec.createTime);
  assert.doesNotThrow(() => JSON.parse(rec.param));
  const terminal = rec.state === "success" || rec.state === "fail";
  if (!terminal) {
    assert.equal(rec.completeTime, null, "completeTime is null before a terminal state");
    assert.equal(rec.resultJson, "");
    assert.equal(rec.failCode, "");
    assert.equal(rec.failMsg, "");
    assert.equal(rec.costTime, 0);
    assert.equal(rec.consumeCredits, 0);
  }
}

describe("a successful task", () => {
  test("moves forward only, updateTime moves only with the state, and the success record is exact", async () => {
    const before = await credit();
    const body = {
      model: "nano-banana-pro",
      input: { prompt: "a paper-cut lighthouse", aspect_ratio: "16:9", output_format: "jpg" },
    };
    const id = await create(body);
    const seen: any[] = [];
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      const res = await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${id}`);
      assert.equal(res.status, 200);
      assert.equal(res.json.code, 200);
      assert.equal(res.json.msg, "success");
      assertRecordShape(res.json.data);
      seen.push(res.json.data);
      if (res.json.data.state === "success" || res.json.data.state === "fail") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const rec = seen.at(-1);
    assert.equal(rec.state, "success", JSON.stringify(rec));
    assert.ok(
      seen.some((r) => r.state === "generating"),
      "the poller saw generating",
    );

    // states only move forward; updateTime changes exactly when the state changes (§6.1)
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1], seen[i]];
      assert.ok(STATES.indexOf(b.state) >= STATES.indexOf(a.state), `${a.state} → ${b.state}`);
      if (a.state === b.state) assert.equal(b.updateTime, a.updateTime, `updateTime moved within ${a.state}`);
      else assert.ok(b.updateTime >= a.updateTime);
      assert.equal(b.createTime, a.createTime);
      assert.equal(b.param, a.param);
    }

    // the success record (§5.1, §5.2)
    assert.equal(rec.taskId, id);
    assert.equal(rec.param, JSON.stringify(body));
    assert.equal(rec.failCode, "");
    assert.equal(rec.failMsg, "");
    assert.equal(rec.consumeCredits, 18);
    assert.equal(rec.creditsConsumed, 18);
    assert.ok(rec.costTime > 0, "costTime > 0 on success");
    assert.ok(rec.costTime >= 250, `costTime ${rec.costTime} covers the engine delay`);
    assert.ok(Number.isInteger(rec.completeTime));
    assert.equal(rec.updateTime, rec.completeTime);
    assert.ok(rec.completeTime - rec.createTime >= rec.costTime);
    const result = JSON.parse(rec.resultJson);
    assert.deepEqual(Object.keys(result), ["resultUrls"]);
    assert.equal(result.resultUrls.length, 1);
    const url = new URL(result.resultUrls[0]);
    assert.equal(url.origin, peel.url);
    assert.match(url.pathname, new RegExp(`^/files/r/${id}/[^/]+\\.jpg$`));
    const img = await fetch(url);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get("content-type"), "image/jpeg");
    const bytes = Buffer.from(await img.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff], "JPEG bytes for output_format jpg");

    // terminal states are final: a later read is identical
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual((await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${id}`)).json.data, rec);
    // the playground alias reads the same record
    assert.deepEqual((await peel.api("GET", `/api/v1/playground/recordInfo?taskId=${id}`)).json.data, rec);
    // the price was captured
    assert.equal(await credit(), before - 18);
  });
});

describe("a failed task", () => {
  test("image_input that is a 404 → failCode 422, Invalid image_input: <url>, nothing charged", async () => {
    const key = await peel.newKey({ credits: 100 });
    const bad = `${files.url}/missing.png`;
    const id = await create({ model: "nano-banana-pro", input: { prompt: "edit this", image_input: [bad] } }, key.key);
    assert.equal(await credit(key.key), 82, "held while running");
    const rec = await peel.waitForTask(id, { key: key.key });
    assertRecordShape(rec);
    assert.equal(rec.state, "fail");
    assert.equal(rec.failCode, "422");
    assert.equal(rec.failMsg, `Invalid image_input: ${bad}`);
    assert.equal(rec.resultJson, "");
    assert.equal(rec.costTime, 0);
    assert.equal(rec.consumeCredits, 0);
    assert.equal(rec.creditsConsumed, 0);
    assert.ok(Number.isInteger(rec.completeTime));
    assert.equal(rec.updateTime, rec.completeTime);
    assert.equal(await credit(key.key), 100, "the hold was released in full");
  });

  test("image_input that is not an image → failCode 422 with the URL", async () => {
    const key = await peel.newKey({ credits: 100 });
    const bad = `${files.url}/not-an-image.png`;
    const id = await create({ model: "nano-banana-pro", input: { prompt: "edit this", image_input: [bad] } }, key.key);
    const rec = await peel.waitForTask(id, { key: key.key });
    assert.equal(rec.state, "fail");
    assert.equal(rec.failCode, "422");
    assert.equal(rec.failMsg, `Invalid image_input: ${bad}`);
    assert.equal(await credit(key.key), 100);
  });

  test("a canceled waiting task reads as fail with its hold released", async () => {
    const key = await peel.newKey({ credits: 200 });
    // The account's running share is 4: the fifth task waits, so it can be canceled before it runs.
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await create({ model: "nano-banana-pro", input: { prompt: `t${i}` } }, key.key));
    const last = ids.at(-1)!;
    const res = await peel.api("POST", "/api/v1/jobs/cancel", { taskId: last }, { key: key.key });
    assert.equal(res.json.code, 200, JSON.stringify(res.json));
    assertRecordShape(res.json.data);
    const rec = await peel.waitForTask(last, { key: key.key });
    assert.equal(rec.state, "fail");
    assert.equal(rec.failCode, "canceled");
    assert.equal(rec.failMsg, "Task canceled by the client");
    assert.equal(rec.consumeCredits, 0);
    for (const id of ids) await peel.waitForTask(id, { key: key.key });
    const settled = await Promise.all(
      ids.map(
        async (id) => (await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${id}`, undefined, { key: key.key })).json.data,
      ),
    );
    const charged = settled.reduce((s, r) => s + r.consumeCredits, 0);
    assert.equal(charged, 5 * 18);
    assert.equal(await credit(key.key), 200 - charged, "only successes are charged");
  });
});
