import { test } from "node:test";
import assert from "node:assert/strict";
import { startPeel } from "../helpers/harness.js";
import { FakeReceiver } from "../fakes/receiver.js";
import { body, cancel, create, credit, ledger, ScriptedEngine, waitFor, waitForState } from "./helpers.js";

// Issue 5: POST /api/v1/jobs/cancel (peel extension). A task not yet generating fails at once with
// failCode `canceled` and its hold is released; a generating task is canceled as soon as the
// engine allows and is charged only if its result was delivered.

const NOT_FOUND = { code: 422, msg: "recordInfo is null", data: null };

test("a task that is not generating yet fails at once with `canceled`, is released and called back", async (t) => {
  const receiver = await FakeReceiver.start();
  t.after(() => receiver.close());
  const engine = new ScriptedEngine({ slowMs: 20_000 });
  // one worker slot, kept busy by a slow task, so the second task cannot start
  const peel = await startPeel({ engine, env: { PEEL_WORKER_CONCURRENCY: "1", PEEL_LEASE_MS: "600" } });
  t.after(() => peel.close());

  const slow = (await create(peel, body("slow one"))).json.data.taskId;
  await waitForState(peel, slow, "generating");
  const q = (await create(peel, body("never runs", {}, { callBackUrl: receiver.url("/q") }))).json.data.taskId;
  assert.equal(await credit(peel), 1000 - 36);

  const r = await cancel(peel, q);
  assert.equal(r.json.code, 200);
  assert.equal(r.json.data.taskId, q);
  assert.equal(r.json.data.state, "fail");
  assert.equal(r.json.data.failCode, "canceled");
  assert.equal(r.json.data.failMsg, "Task canceled by the client");
  assert.equal(r.json.data.consumeCredits, 0);
  assert.equal(typeof r.json.data.completeTime, "number");
  assert.equal(await credit(peel), 1000 - 18);
  assert.deepEqual(
    (await ledger(peel, peel.account.id)).filter((e) => e.taskId === q).map((e) => [e.kind, e.amount]),
    [
      ["hold", -18],
      ["release", 18],
    ],
  );
  assert.ok(!engine.started.includes(q), "the engine never saw the canceled task");

  const cb = await waitFor(() => receiver.at("/q")[0], "cancel callback");
  const payload = JSON.parse(cb.body);
  assert.equal(payload.code, 501);
  assert.equal(payload.msg, "Playground task failed.");
  assert.equal(payload.data.taskId, q);
  assert.equal(payload.data.state, "fail");
  assert.equal(payload.data.failCode, "canceled");
  assert.equal(payload.data.consumeCredits, 0);
  assert.equal(payload.data.remainedCredits, 1000 - 18);

  // canceling again is harmless: same record, no second release
  const again = await cancel(peel, q);
  assert.equal(again.json.data.state, "fail");
  assert.equal(await credit(peel), 1000 - 18);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(receiver.at("/q").length, 1);
  // the slow one is generating: a cancel stops it now (no waiting for the engine's 20 s)
  await cancel(peel, slow);
  assert.equal((await waitForState(peel, slow, "fail", 2_000)).failCode, "canceled");
  assert.equal(await credit(peel), 1000);
});

test("a waiting task (no worker) is canceled; concurrent cancels release exactly once", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const id = (await create(peel)).json.data.taskId;
  const all = await Promise.all(Array.from({ length: 10 }, () => cancel(peel, id)));
  assert.ok(all.every((r) => r.json.code === 200 && r.json.data.failCode === "canceled"));
  assert.equal(await credit(peel), 1000);
  const entries = (await ledger(peel, peel.account.id)).filter((e) => e.taskId === id);
  assert.deepEqual(
    entries.map((e) => e.kind),
    ["hold", "release"],
  );
  // the playground alias works too
  const id2 = (await create(peel)).json.data.taskId;
  const viaAlias = await peel.api("POST", "/api/v1/playground/cancel", { taskId: id2 });
  assert.equal(viaAlias.json.data.failCode, "canceled");
});

test("a generating task is canceled promptly and not charged", async (t) => {
  const receiver = await FakeReceiver.start();
  t.after(() => receiver.close());
  const peel = await startPeel({ env: { PEEL_SANDBOX_DELAY_MS: "2000" } });
  t.after(() => peel.close());
  const id = (await create(peel, body("generating", {}, { callBackUrl: receiver.url("/g") }))).json.data.taskId;
  await waitForState(peel, id, "generating");

  const started = Date.now();
  const r = await cancel(peel, id);
  assert.equal(r.json.code, 200);
  // the engine owns the task right now: the answer shows it still generating
  assert.equal(r.json.data.state, "generating");
  const settled = await waitForState(peel, id, "fail", 5_000);
  const took = Date.now() - started;
  // this process's worker is aborted at once (a worker elsewhere notices within a heartbeat)
  assert.ok(took < 1_500, `canceled after ${took} ms (sandbox would take 2000 ms)`);
  assert.equal(settled.failCode, "canceled");
  assert.equal(settled.consumedCredits, 0);
  assert.equal(await credit(peel), 1000);
  assert.deepEqual(
    (await ledger(peel, peel.account.id)).filter((e) => e.taskId === id).map((e) => e.kind),
    ["hold", "release"],
  );
  const cb = await waitFor(() => receiver.at("/g")[0], "callback");
  assert.equal(JSON.parse(cb.body).data.failCode, "canceled");
  // no result file was kept for it
  assert.equal((await peel.runtime.store.listFiles({ accountId: peel.account.id, kind: "result" })).length, 0);
});

test("a generating task waiting between engine retries is canceled at once", async (t) => {
  const engine = new ScriptedEngine();
  const peel = await startPeel({ engine });
  t.after(() => peel.close());
  const id = (await create(peel, body("later please"))).json.data.taskId;
  // the first attempt failed with "retry in 60 s": generating, no worker holds it
  await waitFor(async () => {
    const t = await peel.runtime.store.getTask(id);
    return t?.state === "generating" && t.attempts === 1 && engine.started.length === 1;
  }, "first attempt");
  await new Promise((res) => setTimeout(res, 50));
  const started = Date.now();
  await cancel(peel, id);
  const settled = await waitForState(peel, id, "fail", 10_000);
  // the next attempt was due in 60 s: anything well below that is the cancel acting at once
  assert.ok(Date.now() - started < 5_000, `canceled after ${Date.now() - started} ms`);
  assert.equal(settled.failCode, "canceled");
  assert.equal(await credit(peel), 1000);
});

test("a task that finished first stays success and is charged", async (t) => {
  const peel = await startPeel({ engine: new ScriptedEngine() });
  t.after(() => peel.close());
  const id = (await create(peel)).json.data.taskId;
  const done = await peel.waitForTask(id);
  assert.equal(done.state, "success");
  const r = await cancel(peel, id);
  assert.equal(r.json.code, 200);
  assert.equal(r.json.data.state, "success");
  assert.equal(r.json.data.consumeCredits, 18);
  assert.equal(r.json.data.resultJson, done.resultJson);
  assert.equal(await credit(peel), 982);
  assert.deepEqual(
    (await ledger(peel, peel.account.id)).filter((e) => e.taskId === id).map((e) => e.kind),
    ["hold", "capture"],
  );
});

test("unknown ids and other accounts' tasks answer `recordInfo is null`; bad requests are refused", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const other = await peel.newKey();
  const theirs = (await create(peel, body(), { key: other.key })).json.data.taskId;

  assert.deepEqual((await cancel(peel, "0".repeat(32))).json, NOT_FOUND);
  assert.deepEqual((await cancel(peel, theirs)).json, NOT_FOUND);
  assert.equal((await peel.runtime.store.getTask(theirs))!.state, "waiting");
  assert.equal(await credit(peel, other.key), 982);

  assert.deepEqual((await cancel(peel, undefined)).json, { code: 422, msg: "taskId is required", data: null });
  assert.deepEqual((await cancel(peel, 42)).json, { code: 422, msg: "taskId is required", data: null });
  const notObject = await peel.api("POST", "/api/v1/jobs/cancel", undefined, { raw: "[1]" });
  assert.equal(notObject.json.code, 422);
  assert.deepEqual((await cancel(peel, theirs, "peel_nope")).json, {
    code: 401,
    msg: "You do not have access permissions",
    data: null,
  });
});
