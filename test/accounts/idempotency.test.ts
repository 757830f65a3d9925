import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.js";
import { startPeel } from "../helpers/harness.js";
import { body, create, credit, ledger } from "./helpers.js";

// Issue 4: `Idempotency-Key` on createTask (peel extension). Same key + same body replays the
// original taskId and charges once; same key + other body is refused; keys live 24 h; uniqueness
// is per account and enforced by the store's unique constraint.

const CONFLICT = { code: 422, msg: "Idempotency-Key has already been used with a different request body", data: null };
const idem = (k: string) => ({ headers: { "idempotency-key": k } });

test("the same key with the same body returns the original taskId, marked replayed, and charges once", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const first = await create(peel, body("same"), idem("order-1"));
  assert.equal(first.json.code, 200);
  assert.equal(first.headers.get("idempotency-replayed"), null);
  const again = await create(peel, body("same"), idem("order-1"));
  assert.deepEqual(again.json, first.json);
  assert.equal(again.headers.get("idempotency-replayed"), "true");
  // the playground alias is the same endpoint
  const alias = await create(peel, body("same"), { ...idem("order-1"), playground: true });
  assert.equal(alias.json.data.taskId, first.json.data.taskId);
  assert.equal(alias.headers.get("idempotency-replayed"), "true");

  assert.equal(await credit(peel), 1000 - 18);
  assert.equal((await peel.runtime.store.countTasks({ accountId: peel.account.id })).waiting, 1);
  assert.equal((await ledger(peel, peel.account.id)).filter((e) => e.kind === "hold").length, 1);

  // without the header, identical bodies are separate tasks (docs/kie-contract.md §4.4)
  const a = await create(peel, body("same"));
  const b = await create(peel, body("same"));
  assert.notEqual(a.json.data.taskId, b.json.data.taskId);
  assert.equal(await credit(peel), 1000 - 54);
});

test("the same key with a different body is refused with a clear message and charges nothing", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const first = await create(peel, body("one"), idem("k-2"));
  assert.equal(first.json.code, 200);
  const other = await create(peel, body("two"), idem("k-2"));
  assert.equal(other.status, 200);
  assert.deepEqual(other.json, CONFLICT);
  assert.equal(other.headers.get("idempotency-replayed"), null);
  assert.equal(await credit(peel), 1000 - 18);
  // the original still replays
  assert.equal((await create(peel, body("one"), idem("k-2"))).json.data.taskId, first.json.data.taskId);
  // an invalid key is refused before anything is stored
  const long = await create(peel, body("x"), idem("x".repeat(256)));
  assert.deepEqual(long.json, { code: 422, msg: "Idempotency-Key must be 1-255 printable ASCII characters", data: null });
  assert.equal((await peel.runtime.store.countTasks({ accountId: peel.account.id })).waiting, 1);
});

test("concurrent creates with one key make one task and one hold", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const k = await peel.newKey({ credits: 1000, limits: { createMax: 0 } });
  const results = await Promise.all(
    Array.from({ length: 30 }, () =>
      fetch(`${peel.url}/api/v1/jobs/createTask`, {
        method: "POST",
        headers: { authorization: `Bearer ${k.key}`, "idempotency-key": "burst" },
        body: JSON.stringify(body("burst")),
      }).then(async (r) => ({ replayed: r.headers.get("idempotency-replayed"), json: (await r.json()) as any })),
    ),
  );
  assert.ok(results.every((r) => r.json.code === 200));
  assert.equal(new Set(results.map((r) => r.json.data.taskId)).size, 1);
  assert.equal(results.filter((r) => r.replayed !== "true").length, 1, "exactly one original");
  assert.equal(await credit(peel, k.key), 1000 - 18);
  assert.equal((await peel.runtime.store.countTasks({ accountId: k.account.id })).waiting, 1);
});

test("keys are per account: another account may use the same key; keys of one account share it", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const other = await peel.newKey();
  const sibling = await peel.newKey({ accountId: peel.account.id });
  const mine = await create(peel, body("shared"), idem("dup"));
  const theirs = await create(peel, body("shared"), { ...idem("dup"), key: other.key });
  assert.equal(theirs.json.code, 200);
  assert.notEqual(theirs.json.data.taskId, mine.json.data.taskId);
  assert.equal(theirs.headers.get("idempotency-replayed"), null);
  const viaSibling = await create(peel, body("shared"), { ...idem("dup"), key: sibling.key });
  assert.equal(viaSibling.json.data.taskId, mine.json.data.taskId);
  assert.equal(viaSibling.headers.get("idempotency-replayed"), "true");
});

test("a key lives 24 h: it replays just before, and is free for a new task after", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false });
  t.after(() => peel.close());
  const first = (await create(peel, body("daily"), idem("day"))).json.data.taskId;
  clock.advance(24 * 3_600_000 - 1);
  assert.equal((await create(peel, body("daily"), idem("day"))).json.data.taskId, first);
  assert.deepEqual((await create(peel, body("other"), idem("day"))).json, CONFLICT);
  clock.advance(1);
  const next = await create(peel, body("other"), idem("day"));
  assert.equal(next.json.code, 200);
  assert.notEqual(next.json.data.taskId, first);
  assert.equal(next.headers.get("idempotency-replayed"), null);
  assert.equal((await create(peel, body("other"), idem("day"))).json.data.taskId, next.json.data.taskId);
  assert.equal(await credit(peel), 1000 - 36);
});

test("a refused create (402, 433) does not burn the key; a replay survives an empty balance", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false });
  t.after(() => peel.close());
  const k = await peel.newKey({ credits: 0, limits: { hourlyCap: 18 } });
  assert.equal((await create(peel, body("p"), { ...idem("pay"), key: k.key })).json.code, 402);
  await peel.admin.grant(k.account.id, 18, null);
  const ok = await create(peel, body("p"), { ...idem("pay"), key: k.key });
  assert.equal(ok.json.code, 200);
  assert.equal(ok.headers.get("idempotency-replayed"), null);
  // balance is now 0 and the hourly cap is used up, yet the replay still answers with the task
  const again = await create(peel, body("p"), { ...idem("pay"), key: k.key });
  assert.equal(again.json.data.taskId, ok.json.data.taskId);
  assert.equal((await create(peel, body("q"), { ...idem("cap"), key: k.key })).json.code, 433);
  await peel.admin.grant(k.account.id, 18, null);
  clock.advance(3_600_000);
  assert.equal((await create(peel, body("q"), { ...idem("cap"), key: k.key })).json.code, 200);
});
