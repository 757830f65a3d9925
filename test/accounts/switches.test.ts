import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { body, cancel, create, create as createWith, credit, record } from "./helpers.js";

// Issue 3: runtime switches without restart — maintenance (455, reads still work) and per-model or
// per-feature disable (505). The CLI path is covered in cli.test.ts.

const TOKEN = "adm_switches_test_token_0123456789";
const MAINTENANCE = { code: 455, msg: "Service is under maintenance, please try again later", data: null };
const DISABLED = { code: 505, msg: "This feature is currently disabled", data: null };

async function admin(peel: TestPeel, method: string, path: string, b?: unknown) {
  const res = await fetch(peel.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(b === undefined ? {} : { "content-type": "application/json" }) },
    body: b === undefined ? undefined : JSON.stringify(b),
  });
  return { status: res.status, json: (await res.json()) as any };
}

test("maintenance on: createTask gets 455 on both paths, reads and cancel still work; off: creates work again", async (t) => {
  const peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  const before = (await create(peel)).json.data.taskId;
  const waiting = (await create(peel)).json.data.taskId;

  const on = await admin(peel, "PUT", "/admin/v1/maintenance", { on: true });
  assert.equal(on.status, 200);
  assert.equal(on.json.data.maintenance, true);
  assert.deepEqual((await admin(peel, "GET", "/admin/v1/switches")).json.data, { maintenance: true, disabledModels: [] });

  const r = await create(peel);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, MAINTENANCE);
  assert.deepEqual((await create(peel, body(), { playground: true })).json, MAINTENANCE);
  // maintenance comes before validation (docs/kie-contract.md §4.2 step 2)
  assert.deepEqual((await create(peel, { model: "nope" })).json, MAINTENANCE);
  // a bad key is still 401 first
  assert.equal((await create(peel, body(), { key: "peel_wrong" })).json.code, 401);

  assert.equal((await record(peel, before)).json.data.state, "waiting");
  assert.equal(await credit(peel), 1000 - 36);
  assert.equal((await cancel(peel, waiting)).json.data.failCode, "canceled");
  assert.equal(await credit(peel), 1000 - 18);
  assert.equal((await peel.runtime.store.countTasks({ accountId: peel.account.id })).waiting, 1);

  assert.equal((await admin(peel, "PUT", "/admin/v1/maintenance", { on: false })).json.data.maintenance, false);
  assert.equal((await create(peel)).json.code, 200);
});

test("calls refused with 455 do not use up the create rate limit", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  const k = await peel.newKey({ limits: { createMax: 2 } });
  await admin(peel, "PUT", "/admin/v1/maintenance", { on: true });
  for (let i = 0; i < 5; i++) assert.equal((await create(peel, body(), { key: k.key })).json.code, 455);
  await admin(peel, "PUT", "/admin/v1/maintenance", { on: false });
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200);
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200);
  assert.equal((await create(peel, body(), { key: k.key })).status, 429);
});

test("a disabled model answers 505; other models keep working; unknown models are still 422", async (t) => {
  const peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  const off = await admin(peel, "PUT", "/admin/v1/models/nano-banana-pro", { enabled: false });
  assert.equal(off.status, 200);
  assert.deepEqual(off.json.data.disabledModels, ["nano-banana-pro"]);

  assert.deepEqual((await create(peel)).json, DISABLED);
  assert.deepEqual((await create(peel, body(), { playground: true })).json, DISABLED);
  // validation comes first (§4.2 step 5 before 6)
  assert.equal((await create(peel, body("x", { resolution: "8K" }))).json.code, 422);
  assert.deepEqual((await create(peel, { model: "nano-banana-9", input: { prompt: "x" } })).json, {
    code: 422,
    msg: "The model name you specified is not supported",
    data: null,
  });
  // the switch wins over missing credits (505 before 402)
  const poor = await peel.newKey({ credits: 0 });
  assert.equal((await create(peel, body(), { key: poor.key })).json.code, 505);
  // a sibling model (with a slash in its id) is unaffected, and can be switched off on its own
  const sibling = { model: "google/nano-banana", input: { prompt: "x" } };
  assert.equal((await create(peel, sibling)).json.code, 200);
  await admin(peel, "PUT", "/admin/v1/models/google/nano-banana", { enabled: false });
  assert.deepEqual((await create(peel, sibling)).json, DISABLED);
  assert.equal(await credit(peel), 1000 - 4);

  const on = await admin(peel, "PUT", "/admin/v1/models/nano-banana-pro", { enabled: true });
  assert.deepEqual(on.json.data.disabledModels, ["google/nano-banana"]);
  assert.equal((await create(peel)).json.code, 200);

  // an unknown model or feature is refused by the admin API
  const bad = await admin(peel, "PUT", "/admin/v1/models/not-a-model", { enabled: false });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, "unknown_model");
});

test("feature switches: feature:4K refuses only 4K, feature:image_input only requests with images", async (t) => {
  const peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  await admin(peel, "PUT", "/admin/v1/models/feature:4K", { enabled: false });
  assert.deepEqual((await create(peel, body("x", { resolution: "4K" }))).json, DISABLED);
  assert.equal((await create(peel, body("x", { resolution: "2K" }))).json.code, 200);
  assert.equal((await create(peel, body("x"))).json.code, 200);

  await admin(peel, "PUT", "/admin/v1/models/feature:image_input", { enabled: false });
  const withImage = body("x", { image_input: ["https://example.com/a.png"] });
  assert.deepEqual((await create(peel, withImage)).json, DISABLED);
  assert.equal((await create(peel, body("x", { image_input: [] }))).json.code, 200);

  await admin(peel, "PUT", "/admin/v1/models/feature:4K", { enabled: true });
  assert.equal((await create(peel, body("x", { resolution: "4K" }))).json.code, 200);
  assert.deepEqual((await admin(peel, "GET", "/admin/v1/switches")).json.data.disabledModels, ["feature:image_input"]);
});

test("a switch flipped by another process applies within a second, without a restart", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  // The polling below creates a task every 50 ms until the switch shows: no rate limit for this
  // key, or a 429 would hide the switch behind a 10 s window.
  const { key } = await peel.newKey({ limits: { createMax: 0 } });
  const create = (p: typeof peel) => createWith(p, body(), { key });
  assert.equal((await create(peel)).json.code, 200);
  // another process (CLI, second server) writes the switch straight into the shared database
  await peel.runtime.store.setMaintenance(true);
  const start = Date.now();
  while ((await create(peel)).json.code !== 455) {
    assert.ok(Date.now() - start < 4_000, "maintenance applied within the 1 s cache TTL (slack for a loaded machine)");
    await new Promise((r) => setTimeout(r, 50));
  }
  await peel.runtime.store.setMaintenance(false);
  await peel.runtime.store.setModelEnabled("nano-banana-pro", false);
  const t2 = Date.now();
  while ((await create(peel)).json.code !== 505) {
    assert.ok(Date.now() - t2 < 4_000, "model switch applied within the 1 s cache TTL");
    await new Promise((r) => setTimeout(r, 50));
  }
});
