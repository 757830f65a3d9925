import { test } from "node:test";
import assert from "node:assert/strict";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { body, create } from "./helpers.js";

// Issue 6: the admin API sits behind its own token (PEEL_ADMIN_TOKEN), never an API key.

const TOKEN = "adm_security_test_token_abcdefghijklmnop";

/** Every admin route, taken from the app's OpenAPI document so that new routes are covered too. */
function adminRoutes(peel: TestPeel): { method: string; path: string }[] {
  const doc = peel.app.swagger() as { paths: Record<string, Record<string, unknown>> };
  const out: { method: string; path: string }[] = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    if (!p.startsWith("/admin/")) continue;
    const concrete = p.replace(/\{[^}]+\}/g, (m) => (m === "{*}" || m === "{wildcard}" ? "nano-banana-pro" : "acc_x"));
    for (const m of Object.keys(ops)) out.push({ method: m.toUpperCase(), path: concrete });
  }
  return out;
}

async function call(peel: TestPeel, method: string, path: string, authorization?: string) {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  const hasBody = method !== "GET" && method !== "DELETE";
  if (hasBody) headers["content-type"] = "application/json";
  const res = await fetch(peel.url + path, {
    method,
    headers,
    body: hasBody ? JSON.stringify({ on: true, amount: 5, name: "x" }) : undefined,
  });
  return { status: res.status, json: (await res.json().catch(() => null)) as any };
}

test("every admin route refuses no token, a wrong token and an API key with 401", async (t) => {
  const peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  const routes = adminRoutes(peel);
  assert.ok(routes.length >= 20, `found ${routes.length} admin routes`);
  const creditsBefore = await peel.runtime.store.getBalance(peel.account.id);

  for (const { method, path } of routes) {
    for (const auth of [
      undefined,
      `Bearer ${peel.key}`,
      peel.key,
      "Bearer wrong",
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Basic ${TOKEN}`,
      TOKEN,
    ]) {
      const r = await call(peel, method, path, auth);
      assert.equal(r.status, 401, `${method} ${path} with ${auth === undefined ? "no auth" : auth.slice(0, 12)}`);
      assert.equal(r.json?.error?.code, "unauthorized");
    }
  }
  // nothing changed: no grant, no maintenance, no new accounts or keys
  assert.equal(await peel.runtime.store.getBalance(peel.account.id), creditsBefore);
  assert.equal((await peel.runtime.store.getSwitches()).maintenance, false);
  assert.equal((await peel.runtime.store.listAccounts()).length, 1);

  // the token itself works, with "bearer" in any case
  const ok = await call(peel, "GET", "/admin/v1/accounts", `bearer ${TOKEN}`);
  assert.equal(ok.status, 200);
  assert.equal(ok.json.data.length, 1);
});

test("the admin token is not an API key on the kie routes", async (t) => {
  const peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  const denied = { code: 401, msg: "You do not have access permissions", data: null };
  assert.deepEqual((await create(peel, body(), { key: TOKEN })).json, denied);
  assert.deepEqual((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: TOKEN })).json, denied);
  assert.deepEqual((await peel.api("GET", "/api/v1/jobs/recordInfo?taskId=x", undefined, { key: TOKEN })).json, denied);
});

test("without PEEL_ADMIN_TOKEN the admin API is off: every route answers 401 whatever the token", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const routes = adminRoutes(peel);
  assert.ok(routes.length >= 20);
  for (const { method, path } of routes) {
    for (const auth of [undefined, "Bearer ", `Bearer ${peel.key}`, "Bearer undefined", "Bearer null"]) {
      assert.equal((await call(peel, method, path, auth)).status, 401, `${method} ${path}`);
    }
  }
});

test("admin answers never reveal key hashes, and a created key works on the kie API", async (t) => {
  const peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  const post = await fetch(`${peel.url}/admin/v1/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "via-admin", accountId: peel.account.id }),
  });
  assert.equal(post.status, 201);
  const created = (await post.json()) as any;
  assert.equal(created.data.apiKey.hash, undefined);
  assert.match(created.data.key, /^peel_/);
  const list = (await call(peel, "GET", "/admin/v1/keys", `Bearer ${TOKEN}`)).json.data;
  assert.ok(list.length >= 2);
  assert.ok(list.every((k: any) => k.hash === undefined));
  const text = JSON.stringify(list);
  assert.ok(!text.includes(created.data.key) && !text.includes(peel.key), "full keys are never listed");
  assert.equal((await create(peel, body(), { key: created.data.key })).json.code, 200);

  // a revoked key stops working at once when revoked through the admin API
  const del = await call(peel, "DELETE", `/admin/v1/keys/${created.data.apiKey.id}`, `Bearer ${TOKEN}`);
  assert.equal(del.status, 200);
  assert.equal((await create(peel, body(), { key: created.data.key })).json.code, 401);
});
