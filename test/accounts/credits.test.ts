import { test } from "node:test";
import assert from "node:assert/strict";
import { startPeel } from "../helpers/harness.js";
import { FakeReceiver } from "../fakes/receiver.js";
import {
  body,
  cancel,
  create,
  credit,
  failingEngine,
  ledger,
  ledgerSum,
  record,
  ScriptedEngine,
  waitFor,
  waitForState,
} from "./helpers.js";

// Issue 1: the credit ledger. The balance is always the sum of the append-only ledger; a task's
// price is held at create, captured on success, released in full on fail or cancel.

test("200 simultaneous createTask on an account with credit for 50 accept exactly 50", async (t) => {
  const peel = await startPeel();
  t.after(() => peel.close());
  const { key, account } = await peel.newKey({ credits: 50 * 18, limits: { createMax: 0 } });

  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      fetch(`${peel.url}/api/v1/jobs/createTask`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body(`flood ${i}`)),
      }).then(async (r) => ({ status: r.status, json: (await r.json()) as any })),
    ),
  );
  const codes = results.map((r) => r.json.code);
  assert.ok(results.every((r) => r.status === 200));
  assert.equal(codes.filter((c) => c === 200).length, 50);
  assert.equal(codes.filter((c) => c === 402).length, 150);
  for (const r of results.filter((r) => r.json.code === 402)) {
    assert.deepEqual(r.json, { code: 402, msg: "The current credits are insufficient. Please top up.", data: null });
  }
  const ids = new Set(results.filter((r) => r.json.code === 200).map((r) => r.json.data.taskId));
  assert.equal(ids.size, 50);

  assert.equal(await credit(peel, key), 0);
  const counts = await peel.runtime.store.countTasks({ accountId: account.id });
  assert.equal(
    Object.values(counts).reduce((a, b) => a + b, 0),
    50,
  );
  assert.equal(await ledgerSum(peel, account.id), 0);
  const entries = await ledger(peel, account.id);
  assert.equal(entries.filter((e) => e.kind === "hold").length, 50);
  assert.ok(entries.filter((e) => e.kind === "hold").every((e) => ids.has(e.taskId!) && e.amount === -18));
});

test("402 stores nothing and charges nothing; a grant makes the next create succeed", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const { key, account } = await peel.newKey({ credits: 17 });
  const r = await create(peel, body(), { key });
  assert.deepEqual(r.json, { code: 402, msg: "The current credits are insufficient. Please top up.", data: null });
  assert.equal(await credit(peel, key), 17);
  assert.deepEqual(Object.values(await peel.runtime.store.countTasks({ accountId: account.id })), [0, 0, 0, 0, 0]);
  assert.equal((await ledger(peel, account.id)).length, 1);

  await peel.admin.grant(account.id, 1, "top-up");
  const ok = await create(peel, body(), { key });
  assert.equal(ok.json.code, 200);
  assert.equal(await credit(peel, key), 0);
});

test("a failing engine leaves the balance unchanged (hold, then release in full)", async (t) => {
  const peel = await startPeel({ engine: failingEngine });
  t.after(() => peel.close());
  const before = await credit(peel);
  const ids: string[] = [];
  for (const res of ["1K", "2K", "4K"]) {
    const r = await create(peel, body("anything", { resolution: res }));
    assert.equal(r.json.code, 200);
    ids.push(r.json.data.taskId);
  }
  for (const id of ids) {
    const rec = await peel.waitForTask(id);
    assert.equal(rec.state, "fail");
    assert.equal(rec.failCode, "422");
    assert.equal(rec.consumeCredits, 0);
    assert.equal(rec.creditsConsumed, 0);
  }
  assert.equal(await credit(peel), before);
  assert.equal(await ledgerSum(peel, peel.account.id), before);
  for (const id of ids) {
    const kinds = (await ledger(peel, peel.account.id)).filter((e) => e.taskId === id).map((e) => [e.kind, e.amount]);
    const price = id === ids[2] ? 24 : 18;
    assert.deepEqual(kinds, [
      ["hold", -price],
      ["release", price],
    ]);
  }
});

test("retryable engine failures that use up the retries also release the hold", async (t) => {
  const peel = await startPeel({ engine: new ScriptedEngine() });
  t.after(() => peel.close());
  const r = await create(peel, body("busy forever"));
  const rec = await peel.waitForTask(r.json.data.taskId);
  assert.equal(rec.state, "fail");
  assert.equal(rec.failCode, "500");
  assert.equal(await credit(peel), 1000);
});

test("mixed successes, failures and cancels end with balance = grants - captured prices", async (t) => {
  const engine = new ScriptedEngine({ slowMs: 10_000 });
  const peel = await startPeel({
    engine,
    env: { PEEL_WORKER_CONCURRENCY: "8", PEEL_MAX_RUNNING_PER_ACCOUNT: "8", PEEL_LEASE_MS: "600" },
  });
  t.after(() => peel.close());
  const { key, account } = await peel.newKey({ credits: 300, limits: { createMax: 0 } });
  await peel.admin.grant(account.id, 200.5, "second grant");
  const grants = 500.5;

  const plan = [
    ...Array.from({ length: 6 }, (_, i) => ({ prompt: `ok ${i}`, res: "1K" })),
    ...Array.from({ length: 2 }, (_, i) => ({ prompt: `ok big ${i}`, res: "4K" })),
    ...Array.from({ length: 4 }, (_, i) => ({ prompt: `fail ${i}`, res: i % 2 ? "4K" : "2K" })),
    ...Array.from({ length: 3 }, (_, i) => ({ prompt: `slow ${i}`, res: "1K" })),
  ];
  const ids = await Promise.all(
    plan.map(async (p) => {
      const r = await create(peel, body(p.prompt, { resolution: p.res }), { key });
      assert.equal(r.json.code, 200, r.text);
      return r.json.data.taskId as string;
    }),
  );
  // cancel the slow ones while they generate
  const slow = ids.slice(12);
  for (const id of slow) await waitForState(peel, id, "generating");
  for (const id of slow) assert.equal((await cancel(peel, id, key)).json.code, 200);

  const recs = await Promise.all(ids.map((id) => peel.waitForTask(id, { key })));
  assert.deepEqual(
    recs.map((r) => r.state),
    [...Array(8).fill("success"), ...Array(7).fill("fail")],
  );
  assert.deepEqual(
    recs.slice(12).map((r) => r.failCode),
    ["canceled", "canceled", "canceled"],
  );
  const captured = recs.reduce((s, r) => s + r.consumeCredits, 0);
  assert.equal(captured, 6 * 18 + 2 * 24);
  assert.equal(await credit(peel, key), grants - captured);
  assert.equal(await ledgerSum(peel, account.id), grants - captured);

  // every task has exactly one hold and exactly one capture (success) or release (fail)
  const entries = await ledger(peel, account.id);
  for (const [i, id] of ids.entries()) {
    const mine = entries.filter((e) => e.taskId === id);
    const price = plan[i].res === "4K" ? 24 : 18;
    const settle = recs[i].state === "success" ? ["capture", 0] : ["release", price];
    assert.deepEqual(
      mine.map((e) => [e.kind, e.amount]),
      [["hold", -price], settle],
      `ledger of ${plan[i].prompt}`,
    );
  }
  // canceling again changes nothing
  for (const id of slow) assert.equal((await cancel(peel, id, key)).json.data.state, "fail");
  assert.equal(await ledgerSum(peel, account.id), grants - captured);
});

test("recordInfo and callbacks carry consumeCredits, creditsConsumed and remainedCredits", async (t) => {
  const receiver = await FakeReceiver.start();
  t.after(() => receiver.close());
  const peel = await startPeel({ engine: new ScriptedEngine() });
  t.after(() => peel.close());

  const ok = await create(peel, body("fine", {}, { callBackUrl: receiver.url("/ok") }));
  const okRec = await peel.waitForTask(ok.json.data.taskId);
  assert.equal(okRec.consumeCredits, 18);
  assert.equal(okRec.creditsConsumed, 18);
  const okCb = await waitFor(() => receiver.at("/ok")[0], "success callback");
  const okData = JSON.parse(okCb.body).data;
  assert.deepEqual([okData.consumeCredits, okData.creditsConsumed, okData.remainedCredits], [18, 18, 982]);

  // while a task runs, its price is held: the balance excludes it
  const bad = await create(peel, body("fail please", { resolution: "4K" }, { callBackUrl: receiver.url("/bad") }));
  const badRec = await peel.waitForTask(bad.json.data.taskId);
  assert.deepEqual([badRec.consumeCredits, badRec.creditsConsumed], [0, 0]);
  const badCb = await waitFor(() => receiver.at("/bad")[0], "fail callback");
  const badData = JSON.parse(badCb.body).data;
  assert.deepEqual([badData.consumeCredits, badData.creditsConsumed, badData.remainedCredits], [0, 0, 982]);
  assert.equal(await credit(peel), 982);
});

test("the price table: 18 at 1K and 2K, 24 at 4K by default; PEEL_PRICES overrides it", async (t) => {
  const prices = JSON.stringify({ "nano-banana-pro": { "1K": 5, "2K": 7.5, "4K": 11 } });
  const custom = await startPeel({ env: { PEEL_PRICES: prices }, engine: new ScriptedEngine() });
  t.after(() => custom.close());
  const standard = await startPeel({ engine: new ScriptedEngine() });
  t.after(() => standard.close());

  for (const [peel, want] of [
    [standard, { "1K": 18, "2K": 18, "4K": 24 }],
    [custom, { "1K": 5, "2K": 7.5, "4K": 11 }],
  ] as const) {
    let spent = 0;
    for (const res of ["1K", "2K", "4K"] as const) {
      const r = await create(peel, body("priced", { resolution: res }));
      assert.equal(r.json.code, 200);
      const rec = await peel.waitForTask(r.json.data.taskId);
      assert.equal(rec.consumeCredits, want[res], `${res}`);
      spent += want[res];
      const task = await peel.runtime.store.getTask(r.json.data.taskId);
      assert.equal(task!.price, want[res]);
    }
    assert.equal(await credit(peel), 1000 - spent);
  }
  // the default resolution (1K) is priced like 1K
  const r = await create(custom, body("default res"));
  assert.equal((await custom.waitForTask(r.json.data.taskId)).consumeCredits, 5);
});

test("an unmetered account reports the fixed balance, never gets 402 and writes no holds", async (t) => {
  const peel = await startPeel({ engine: new ScriptedEngine() });
  t.after(() => peel.close());
  const { key, account } = await peel.newKey({ credits: 0, unmetered: true });
  assert.equal(await credit(peel, key), 1_000_000);
  const r = await create(peel, body("free", { resolution: "4K" }), { key });
  assert.equal(r.json.code, 200);
  const rec = await peel.waitForTask(r.json.data.taskId, { key });
  assert.equal(rec.state, "success");
  assert.equal(rec.consumeCredits, 0);
  assert.equal((await ledger(peel, account.id)).length, 0);
});

test("the balance is per account: keys of one account share it, other accounts are untouched", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const a = await peel.newKey({ credits: 100 });
  const a2 = await peel.newKey({ accountId: a.account.id });
  const b = await peel.newKey({ credits: 100 });
  assert.equal((await create(peel, body(), { key: a.key })).json.code, 200);
  assert.equal((await create(peel, body(), { key: a2.key })).json.code, 200);
  assert.equal(await credit(peel, a.key), 64);
  assert.equal(await credit(peel, a2.key), 64);
  assert.equal(await credit(peel, b.key), 100);
  // a task of a is not readable through b's key
  const r = await create(peel, body(), { key: a.key });
  assert.deepEqual((await record(peel, r.json.data.taskId, b.key)).json, { code: 422, msg: "recordInfo is null", data: null });
});
