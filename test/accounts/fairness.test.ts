import { test } from "node:test";
import assert from "node:assert/strict";
import { startPeel } from "../helpers/harness.js";
import { body, ScriptedEngine, waitFor, waitForState } from "./helpers.js";

// Issue 2: a cap on tasks running at once per account, and fair scheduling across accounts.

async function flood(url: string, key: string, n: number): Promise<string[]> {
  const res = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      fetch(`${url}/api/v1/jobs/createTask`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify(body(`flood ${i}`)),
      }).then((r) => r.json() as Promise<any>),
    ),
  );
  assert.ok(
    res.every((r) => r.code === 200),
    "every flood create accepted",
  );
  return res.map((r) => r.data.taskId);
}

test("one account's flood of 300 queued tasks does not starve another account's task", async (t) => {
  // 300 tasks × 100 ms on 2 workers is 15 s of work for A; B must not wait for it
  const engine = new ScriptedEngine({ delayMs: 100 });
  const peel = await startPeel({ engine, env: { PEEL_WORKER_CONCURRENCY: "2" } });
  t.after(() => peel.close());
  const a = await peel.newKey({ credits: 300 * 18, limits: { createMax: 0 } });
  const b = await peel.newKey({ credits: 18 });

  const aIds = new Set(await flood(peel.url, a.key, 300));
  const res = await fetch(`${peel.url}/api/v1/jobs/createTask`, {
    method: "POST",
    headers: { authorization: `Bearer ${b.key}` },
    body: JSON.stringify(body("b's only task")),
  }).then((r) => r.json() as Promise<any>);
  assert.equal(res.code, 200);
  const bId = res.data.taskId;
  // A's tasks have been running while the flood was being accepted; count from B's acceptance on
  const finishedBefore = engine.finished.length;

  await waitForState(peel, bId, "success", 15_000);
  const aBefore = engine.finished.slice(finishedBefore, engine.finished.indexOf(bId)).filter((id) => aIds.has(id)).length;
  // With 2 workers and round-robin across accounts, B's task is claimed at the first free slot
  // after it was accepted: only the A tasks already running (2, plus one claimed in the same loop
  // pass) finish first. Far below A's 10th task.
  assert.ok(aBefore <= 4, `${aBefore} of A's tasks finished between B's create and B's finish`);
  // A's flood is still far from done: B did not wait for it
  const aCounts = await peel.runtime.store.countTasks({ accountId: a.account.id });
  assert.ok(aCounts.waiting + aCounts.queuing > 100, `A has ${aCounts.waiting + aCounts.queuing} tasks left`);
});

test("never more than PEEL_MAX_RUNNING_PER_ACCOUNT tasks of one account generate at once", async (t) => {
  const engine = new ScriptedEngine({ delayMs: 60 });
  const peel = await startPeel({ engine, env: { PEEL_WORKER_CONCURRENCY: "8", PEEL_MAX_RUNNING_PER_ACCOUNT: "2" } });
  t.after(() => peel.close());
  const a = await peel.newKey({ credits: 10_000, limits: { createMax: 0 } });
  const c = await peel.newKey({ credits: 10_000, limits: { createMax: 0 } });
  // c's own maxRunning (1) wins over the default
  await peel.runtime.store.updateAccount(c.account.id, { maxRunning: 1 });
  peel.runtime.ctx.auth.forget();

  const ids = [...(await flood(peel.url, a.key, 24)), ...(await flood(peel.url, c.key, 12))];
  let maxA = 0;
  let maxC = 0;
  let maxAll = 0;
  await waitFor(
    async () => {
      const ca = await peel.runtime.store.countTasks({ accountId: a.account.id });
      const cc = await peel.runtime.store.countTasks({ accountId: c.account.id });
      maxA = Math.max(maxA, ca.generating);
      maxC = Math.max(maxC, cc.generating);
      maxAll = Math.max(maxAll, ca.generating + cc.generating);
      return ca.success + cc.success === ids.length;
    },
    "all tasks to finish",
    20_000,
    5,
  );
  assert.equal(maxA, 2, "account A used exactly its 2 slots");
  assert.equal(maxC, 1, "account C used exactly its 1 slot");
  assert.ok(maxAll <= 3);
});
