import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { assertKieError, TINY_PNG_B64 } from "./kie-endpoints.js";

/**
 * Tenancy (docs/kie-contract.md §1 Ownership, §5.3, §9): account B can neither read, cancel nor get
 * download links for account A's tasks and files, and learns nothing about their existence: the
 * answers are exactly those for ids and URLs that do not exist.
 */

let peel: TestPeel;
let A: { key: string; accountId: string };
let B: { key: string; accountId: string };
let taskId: string;
let resultUrl: string;
let uploadUrl: string;

before(async () => {
  peel = await startPeel({ env: { PEEL_SANDBOX_DELAY_MS: "400", PEEL_READ_LIMIT: "0" } });
  A = { key: peel.key, accountId: peel.account.id };
  const b = await peel.newKey();
  B = { key: b.key, accountId: b.account.id };
  const res = await peel.api(
    "POST",
    "/api/v1/jobs/createTask",
    { model: "nano-banana-pro", input: { prompt: "A's secret" } },
    { key: A.key },
  );
  taskId = res.json.data.taskId;
  const rec = await peel.waitForTask(taskId, { key: A.key });
  assert.equal(rec.state, "success");
  resultUrl = JSON.parse(rec.resultJson).resultUrls[0];
  const up = await peel.api(
    "POST",
    "/api/file-base64-upload",
    { base64Data: TINY_PNG_B64, uploadPath: "private", fileName: "a.png" },
    { key: A.key },
  );
  assert.equal(up.json.success, true);
  uploadUrl = up.json.data.downloadUrl;
});
after(() => peel.close());

describe("B cannot read A's task", () => {
  for (const prefix of ["/api/v1/jobs", "/api/v1/playground"]) {
    test(`${prefix}/recordInfo → 422 recordInfo is null, same as an unknown id`, async () => {
      const theirs = await peel.api("GET", `${prefix}/recordInfo?taskId=${taskId}`, undefined, { key: B.key });
      assertKieError(theirs, 422, "recordInfo is null");
      const unknown = await peel.api("GET", `${prefix}/recordInfo?taskId=0123456789abcdef0123456789abcdef`, undefined, {
        key: B.key,
      });
      assert.deepEqual(theirs.json, unknown.json);
      // control: A reads it
      assert.equal((await peel.api("GET", `${prefix}/recordInfo?taskId=${taskId}`, undefined, { key: A.key })).json.code, 200);
    });
  }
});

describe("B cannot cancel A's task", () => {
  test("cancel → 422 recordInfo is null, and A's task runs to success", async () => {
    const res = await peel.api(
      "POST",
      "/api/v1/jobs/createTask",
      { model: "nano-banana-pro", input: { prompt: "A again" } },
      { key: A.key },
    );
    const id = res.json.data.taskId;
    for (const prefix of ["/api/v1/jobs", "/api/v1/playground"]) {
      assertKieError(await peel.api("POST", `${prefix}/cancel`, { taskId: id }, { key: B.key }), 422, "recordInfo is null");
    }
    const rec = await peel.waitForTask(id, { key: A.key });
    assert.equal(rec.state, "success");
    assert.equal(rec.failCode, "");
  });

  test("cancel of A's finished task by B → the same 422", async () => {
    assertKieError(await peel.api("POST", "/api/v1/jobs/cancel", { taskId }, { key: B.key }), 422, "recordInfo is null");
  });
});

describe("B cannot get download links for A's files", () => {
  test("A's result URL → 422 External file URLs are not supported", async () => {
    assertKieError(
      await peel.api("POST", "/api/v1/common/download-url", { url: resultUrl }, { key: B.key }),
      422,
      "External file URLs are not supported",
    );
    assert.equal((await peel.api("POST", "/api/v1/common/download-url", { url: resultUrl }, { key: A.key })).json.code, 200);
  });

  test("A's upload URL → 422 External file URLs are not supported", async () => {
    assertKieError(
      await peel.api("POST", "/api/v1/common/download-url", { url: uploadUrl }, { key: B.key }),
      422,
      "External file URLs are not supported",
    );
    assert.equal((await peel.api("POST", "/api/v1/common/download-url", { url: uploadUrl }, { key: A.key })).json.code, 200);
  });
});

describe("B's uploads never touch A's files", () => {
  test("the same uploadPath and fileName give B its own URL; A's bytes are unchanged", async () => {
    const before = Buffer.from(await (await fetch(uploadUrl)).arrayBuffer());
    // B uploads under the same uploadPath and fileName
    const other = await peel.api(
      "POST",
      "/api/file-base64-upload",
      { base64Data: TINY_PNG_B64, uploadPath: "private", fileName: "a.png" },
      { key: B.key },
    );
    assert.equal(other.json.success, true);
    assert.notEqual(other.json.data.downloadUrl, uploadUrl);
    assert.ok(
      !other.json.data.downloadUrl.includes(A.accountId) && !uploadUrl.includes(A.accountId),
      "URLs carry a token, not the account id",
    );
    const after = Buffer.from(await (await fetch(uploadUrl)).arrayBuffer());
    assert.deepEqual(after, before);
  });

  test("a path that tries to climb into another folder is refused", async () => {
    const res = await peel.api(
      "POST",
      "/api/file-base64-upload",
      { base64Data: TINY_PNG_B64, uploadPath: "../../u/x", fileName: "a.png" },
      { key: B.key },
    );
    assert.deepEqual(res.json, { success: false, code: 400, msg: "Invalid uploadPath", data: null });
  });
});

describe("balances are per account", () => {
  test("A's charges do not show in B's credit", async () => {
    assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: B.key })).json.data, 1000);
    assert.ok((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: A.key })).json.data < 1000);
  });
});
