import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { body, create, credit } from "./helpers.js";

// Issue 6: the admin API manages accounts, keys, credits, caps, switches and the ledger; changes
// apply to the kie API at once (no restart, no cache wait).

const TOKEN = "adm_happy_test_token_0123456789abcdef";

async function admin(peel: TestPeel, method: string, path: string, b?: unknown) {
  const res = await fetch(peel.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(b === undefined ? {} : { "content-type": "application/json" }) },
    body: b === undefined ? undefined : JSON.stringify(b),
  });
  return { status: res.status, json: (await res.json()) as any };
}

test("accounts, keys, credits and the ledger through the admin API", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());

  const acc = await admin(peel, "POST", "/admin/v1/accounts", { name: "acme", credits: 40 });
  assert.equal(acc.status, 201);
  const accountId = acc.json.data.id;
  const k = await admin(peel, "POST", "/admin/v1/keys", { name: "acme-1", accountId, limits: { createMax: 0 } });
  assert.equal(k.status, 201);
  const key = k.json.data.key;
  assert.equal(await credit(peel, key), 40);

  const g = await admin(peel, "POST", `/admin/v1/accounts/${accountId}/credits`, { amount: 14, note: "promo" });
  assert.equal(g.json.data.balance, 54);
  assert.equal(await credit(peel, key), 54);
  const task = (await create(peel, body(), { key })).json.data.taskId;
  const shown = await admin(peel, "GET", `/admin/v1/accounts/${accountId}`);
  assert.equal(shown.json.data.balance, 36);
  const ledger = (await admin(peel, "GET", `/admin/v1/accounts/${accountId}/ledger`)).json.data;
  assert.deepEqual(
    ledger.map((e: any) => [e.kind, e.amount, e.taskId]),
    [
      ["hold", -18, task],
      ["grant", 14, null],
      ["grant", 40, null],
    ],
  );
  const one = (await admin(peel, "GET", `/admin/v1/accounts/${accountId}/ledger?taskId=${task}`)).json.data;
  assert.equal(one.length, 1);
  // a manual debit is a negative grant
  assert.equal((await admin(peel, "POST", `/admin/v1/accounts/${accountId}/credits`, { amount: -36 })).json.data.balance, 0);
  assert.equal((await create(peel, body(), { key })).json.code, 402);

  // operator mistakes are 4xx in peel's envelope
  assert.equal((await admin(peel, "POST", `/admin/v1/accounts/${accountId}/credits`, { amount: 0 })).status, 400);
  assert.equal((await admin(peel, "POST", `/admin/v1/accounts/${accountId}/credits`, { amount: "5" })).status, 400);
  const missing = await admin(peel, "POST", "/admin/v1/accounts/acc_nope/credits", { amount: 5 });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, "account_not_found");
  assert.equal(
    (await admin(peel, "PATCH", `/admin/v1/keys/${k.json.data.apiKey.id}`, { limits: { createMax: -1 } })).status,
    400,
  );

  // the task is visible to the operator with its price
  const rec = await admin(peel, "GET", `/admin/v1/tasks/${task}`);
  assert.deepEqual([rec.json.data.price, rec.json.data.accountId, rec.json.data.state], [18, accountId, "waiting"]);
});

test("key limits and caps set through the admin API apply to the next request", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  const k = await peel.newKey({ credits: 1000 });
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200);

  const patched = await admin(peel, "PATCH", `/admin/v1/keys/${k.keyId}`, { limits: { createMax: 1, dailyCap: 36 } });
  assert.equal(patched.status, 200);
  assert.deepEqual(patched.json.data.limits, { createMax: 1, dailyCap: 36 });
  clock.advance(20_000);
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200);
  assert.equal((await create(peel, body(), { key: k.key })).status, 429);
  clock.advance(20_000);
  const capped = await create(peel, body(), { key: k.key });
  assert.equal(capped.json.code, 433);
  assert.match(capped.json.msg, /daily limit/);

  // disabling the account locks out every key at once; enabling lets them back in
  assert.equal((await admin(peel, "PATCH", `/admin/v1/accounts/${k.account.id}`, { disabled: true })).status, 200);
  assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: k.key })).json.code, 401);
  await admin(peel, "PATCH", `/admin/v1/accounts/${k.account.id}`, { disabled: false });
  assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: k.key })).json.code, 200);
});
