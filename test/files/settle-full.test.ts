import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { FakeReceiver, plans } from "../fakes/receiver.js";
import { startPeel } from "../helpers/harness.js";
import { sleep, until } from "../helpers/polling.js";

// Issue 10 §4: when the database is full at the moment a task settles, neither the success nor
// the failure can be written. The task must stay retryable — not stuck in `generating`, not lost:
// its lease runs out, it is claimed again, and it settles once the database takes writes again,
// charged once, called back once. The failures are real SqliteError objects with SQLite's own
// SQLITE_FULL code, thrown by the store methods the worker calls (a full SQLite file cannot be
// made to fail exactly these two statements and no others).

test("SQLITE_FULL on the settle write and on the fail write leaves the task retryable; it succeeds once, with one callback", async (t) => {
  const receiver = await FakeReceiver.start(plans.ok());
  t.after(() => receiver.close());
  const peel = await startPeel({ background: false, env: { PEEL_LEASE_MS: "1000" } });
  t.after(() => peel.close());
  const store = peel.runtime.store;
  const full = () => new Database.SqliteError("database or disk is full", "SQLITE_FULL");
  let completeFailures = 1;
  let failFailures = 1;
  const completeTask = store.completeTask.bind(store);
  const failTask = store.failTask.bind(store);
  store.completeTask = async (...args) => {
    if (completeFailures-- > 0) throw full();
    return completeTask(...args);
  };
  store.failTask = async (...args) => {
    if (failFailures-- > 0) throw full();
    return failTask(...args);
  };
  peel.runtime.startBackground();

  const created = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: receiver.url("/hook"),
    input: { prompt: "settled on the second try" },
  });
  assert.equal(created.json.code, 200, created.text);
  const taskId = created.json.data.taskId;
  const rec = await peel.waitForTask(taskId, { timeoutMs: 20_000 });
  assert.equal(rec.state, "success", `${rec.failCode} ${rec.failMsg}`);
  assert.equal(completeFailures, -1, "the settle write failed once, then went through");
  assert.equal(failFailures, 0, "the fail write was tried once (and failed)");
  assert.equal((await store.getTask(taskId, peel.account.id))?.attempts, 2, "claimed again after the lease ran out");
  assert.equal((await peel.api("GET", "/api/v1/chat/credit")).json.data, 1000 - 18);
  await until("the callback", 10_000, async () => receiver.requests.length > 0);
  await sleep(300);
  assert.equal(receiver.requests.length, 1);
  assert.equal(JSON.parse(receiver.requests[0].body).data.state, "success");
});
