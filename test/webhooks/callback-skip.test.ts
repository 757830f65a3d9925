import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeReceiver } from "../fakes/receiver.js";
import { startPeel } from "../helpers/harness.js";
import { until } from "../helpers/polling.js";

// The default callback destination policy through a whole peel (sandbox engine): kie's own hosts
// never get callbacks, whichever path settles the task (worker, cancel, deadline sweeper).

test("default policy: a callBackUrl on *.kie.ai is accepted, the task settles, the callback is skipped", async (t) => {
  const peel = await startPeel();
  t.after(() => peel.close());
  const created = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: "https://proxy.kie.ai/api/callback?token=abc",
    input: { prompt: "p" },
  });
  assert.equal(created.json.code, 200, created.text);
  const taskId = created.json.data.taskId;
  assert.equal((await peel.waitForTask(taskId)).state, "success");
  const [d] = await peel.runtime.store.listDeliveries({ taskId, limit: 10 });
  assert.equal(d.state, "skipped");
  assert.equal(d.lastError, "callback host proxy.kie.ai is denied by PEEL_CALLBACK_DENY (*.kie.ai)");
  assert.equal(d.attemptCount, 0);
  assert.deepEqual(await peel.runtime.store.listDeliveryAttempts(d.id), []);
  // never claimed: the dispatcher finds nothing due
  assert.deepEqual(
    await peel.runtime.store.claimDueDeliveries({ workerId: "w", now: Date.now() + 86_400_000, limit: 10, leaseMs: 1000 }),
    [],
  );
});

test("a cancel and a deadline settle through the same policy", async (t) => {
  const receiver = await FakeReceiver.start();
  t.after(() => receiver.close());
  // the worker never picks tasks up (background off): cancel and the sweeper settle them
  const peel = await startPeel({ background: false, env: { PEEL_TASK_DEADLINE_MS: "1000", PEEL_CALLBACK_DENY: "127.0.0.1" } });
  t.after(() => peel.close());
  const make = async (path: string) => {
    const r = await peel.api("POST", "/api/v1/jobs/createTask", {
      model: "nano-banana-pro",
      callBackUrl: receiver.url(path),
      input: { prompt: "p" },
    });
    assert.equal(r.json.code, 200, r.text);
    return r.json.data.taskId as string;
  };
  const canceled = await make("/canceled");
  const overdue = await make("/overdue");
  assert.equal((await peel.api("POST", "/api/v1/jobs/cancel", { taskId: canceled })).json.data.state, "fail");
  await until("the deadline to pass", 5_000, async () => Date.now() > (await peel.runtime.store.getTask(overdue))!.deadline);
  assert.equal(await peel.runtime.sweeper!.runOnce(), 1);
  for (const taskId of [canceled, overdue]) {
    const [d] = await peel.runtime.store.listDeliveries({ taskId, limit: 10 });
    assert.equal(d?.state, "skipped", taskId);
    assert.match(d.lastError ?? "", /callback host 127\.0\.0\.1 is denied by PEEL_CALLBACK_DENY/);
  }
  assert.equal(receiver.requests.length, 0);
});
