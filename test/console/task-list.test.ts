import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeReceiver, plans } from "../fakes/receiver.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { until } from "../helpers/polling.js";

/**
 * The account-scoped extensions behind the console: the task list, the credit ledger and a task's
 * callback deliveries — each in the kie envelope, each only ever the key's own account, and every
 * bad parameter a kie 422 (never a 500).
 */

async function create(peel: TestPeel, prompt: string, opts: { key?: string; model?: string; callBackUrl?: string } = {}) {
  const model = opts.model ?? "nano-banana-pro";
  const input: Record<string, unknown> = { prompt };
  if (model === "google/nano-banana-edit") input.image_urls = ["https://example.com/a.png"];
  const r = await peel.api("POST", "/api/v1/jobs/createTask", { model, input, callBackUrl: opts.callBackUrl }, { key: opts.key });
  assert.equal(r.json.code, 200, r.text);
  return r.json.data.taskId as string;
}

test("the task list: the account's tasks, newest first, paged and filtered, as recordInfo objects", async (t) => {
  const peel = await startPeel({ background: false, env: { PEEL_READ_LIMIT: "0" } });
  t.after(() => peel.close());
  const ids = [];
  for (const p of ["one", "two", "three"]) ids.push(await create(peel, p));
  const flash = await create(peel, "four", { model: "google/nano-banana" });
  const other = await peel.newKey();
  await create(peel, "not mine", { key: other.key });

  const all = await peel.api("GET", "/api/v1/jobs/list");
  assert.equal(all.status, 200);
  assert.equal(all.json.code, 200);
  assert.equal(all.json.msg, "success");
  assert.equal(all.json.data.total, 4);
  assert.deepEqual(
    all.json.data.list.map((r: { taskId: string }) => r.taskId),
    [flash, ...ids.reverse()],
  );
  assert.equal(all.json.data.pageNum, 1);
  assert.equal(all.json.data.pageSize, 20);
  const rec = (await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${flash}`)).json.data;
  assert.deepEqual(all.json.data.list[0], rec, "each item is exactly recordInfo's data");

  const p1 = (await peel.api("GET", "/api/v1/jobs/list?pageSize=3&pageNum=1")).json.data;
  const p2 = (await peel.api("GET", "/api/v1/jobs/list?pageSize=3&pageNum=2")).json.data;
  const p9 = (await peel.api("GET", "/api/v1/jobs/list?pageSize=3&pageNum=9")).json.data;
  assert.deepEqual([p1.list.length, p2.list.length, p9.list.length, p9.total], [3, 1, 0, 4]);

  const byModel = (await peel.api("GET", "/api/v1/jobs/list?model=google%2Fnano-banana")).json.data;
  assert.deepEqual(
    byModel.list.map((r: { taskId: string }) => r.taskId),
    [flash],
  );
  // run every task (the worker serves the two accounts in turn)
  while (await peel.runtime.worker!.runOnce());
  const done = (await peel.api("GET", "/api/v1/jobs/list?state=success&pageSize=2")).json.data;
  assert.equal(done.total, 4);
  assert.deepEqual(
    done.list.map((r: { state: string }) => r.state),
    ["success", "success"],
  );
  assert.equal((await peel.api("GET", "/api/v1/jobs/list?state=fail")).json.data.total, 0);
  assert.equal((await peel.api("GET", "/api/v1/jobs/list", undefined, { key: other.key })).json.data.total, 1);
});

test("bad list parameters answer kie 422 with the reason", async (t) => {
  const peel = await startPeel({ background: false, env: { PEEL_READ_LIMIT: "0" } });
  t.after(() => peel.close());
  const cases: [string, string][] = [
    ["pageNum=0", "pageNum must be a whole number from 1"],
    ["pageNum=-1", "pageNum must be a whole number from 1"],
    ["pageNum=1.5", "pageNum must be a whole number from 1"],
    ["pageNum=abc", "pageNum must be a whole number from 1"],
    ["pageNum=1&pageNum=2", "pageNum must be a whole number from 1"],
    ["pageNum=99999999999", "pageNum must be a whole number from 1"],
    ["pageSize=0", "pageSize must be a whole number from 1 to 100"],
    ["pageSize=101", "pageSize must be a whole number from 1 to 100"],
    ["pageSize=", "pageSize must be a whole number from 1 to 100"],
    ["state=done", "state must be one of waiting, queuing, generating, success, fail"],
    ["state=SUCCESS", "state must be one of waiting, queuing, generating, success, fail"],
    ["model=", "model must be a model id of at most 100 characters"],
    ["model=a%20b", "model must be a model id of at most 100 characters"],
    [`model=${"m".repeat(101)}`, "model must be a model id of at most 100 characters"],
    ["pageSize=500&state=done", "pageSize must be a whole number from 1 to 100"],
  ];
  for (const [q, msg] of cases) {
    const r = await peel.api("GET", `/api/v1/jobs/list?${q}`);
    assert.equal(r.status, 200, q);
    assert.deepEqual(r.json, { code: 422, msg, data: null }, q);
  }
  const anon = await peel.api("GET", "/api/v1/jobs/list", undefined, { key: null });
  assert.deepEqual(anon.json, { code: 401, msg: "You do not have access permissions", data: null });
  // unknown parameters are ignored
  assert.equal((await peel.api("GET", "/api/v1/jobs/list?foo=bar")).json.code, 200);
});

test("the credit ledger and a task's callback deliveries, for the account's own only", async (t) => {
  const peel = await startPeel({ env: { PEEL_READ_LIMIT: "0" } });
  const receiver = await FakeReceiver.start(plans.failThenSucceed(1, 503));
  t.after(async () => {
    await peel.close();
    await receiver.close();
  });
  const id = await create(peel, "with a callback", { callBackUrl: receiver.url("/hook") });
  await peel.waitForTask(id);

  const ledger = await peel.api("GET", "/api/v1/chat/credit/ledger");
  assert.equal(ledger.json.code, 200);
  const kinds = ledger.json.data.map((e: { kind: string }) => e.kind);
  assert.deepEqual(kinds, ["capture", "hold", "grant"], "newest first");
  assert.deepEqual(
    ledger.json.data.map((e: { amount: number }) => e.amount),
    [0, -18, 1000],
  );
  assert.equal(ledger.json.data[0].taskId, id);
  assert.equal((await peel.api("GET", "/api/v1/chat/credit/ledger?limit=1")).json.data.length, 1);
  for (const q of ["limit=0", "limit=201", "limit=x"]) {
    assert.deepEqual((await peel.api("GET", `/api/v1/chat/credit/ledger?${q}`)).json, {
      code: 422,
      msg: "limit must be a whole number from 1 to 200",
      data: null,
    });
  }
  const other = await peel.newKey();
  assert.deepEqual(
    (await peel.api("GET", "/api/v1/chat/credit/ledger", undefined, { key: other.key })).json.data.map(
      (e: { kind: string }) => e.kind,
    ),
    ["grant"],
  );

  // the first attempt gets a 503, the retry delivers
  const deliveries = await until("the callback to be delivered", 30_000, async () => {
    const d = (await peel.api("GET", `/api/v1/jobs/deliveries?taskId=${id}`)).json.data;
    return d?.[0]?.state === "delivered" ? d : null;
  });
  assert.equal(deliveries.length, 1);
  assert.equal(deliveries[0].url, receiver.url("/hook"));
  assert.deepEqual(
    deliveries[0].attempts.map((a: { statusCode: number }) => a.statusCode),
    [503, 200],
  );
  assert.equal(deliveries[0].accountId, undefined, "no internal ids");
  assert.deepEqual((await peel.api("GET", `/api/v1/jobs/deliveries?taskId=${id}`, undefined, { key: other.key })).json, {
    code: 422,
    msg: "recordInfo is null",
    data: null,
  });
  assert.deepEqual((await peel.api("GET", "/api/v1/jobs/deliveries")).json, {
    code: 400,
    msg: "taskId parameter is required",
    data: null,
  });
});
