import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.js";
import { startPeel } from "../helpers/harness.js";
import { body, cancel, create, record } from "./helpers.js";

// Issue 2: per-key rate limits (HTTP 429 + Retry-After, refused calls do not count) and usage caps
// (433). A ManualClock drives the windows; background loops are off so tasks stay put.

const RATE_LIMITED = { code: 429, msg: "Rate limit exceeded", data: null };
const capMsg = (w: string) => `The current number of points used by apiKey has exceeded the ${w} limit`;

function retryAfter(r: { headers: Headers }): number {
  const v = r.headers.get("retry-after");
  assert.ok(v !== null, "Retry-After header present");
  assert.match(v, /^\d+$/);
  return Number(v);
}

test("the 21st create in 10 s is refused with HTTP 429 and Retry-After; refused calls do not count", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false, credits: 100_000 });
  t.after(() => peel.close());

  for (let i = 0; i < 20; i++) {
    clock.advance(100);
    // both paths share one window
    const r = await create(peel, body(`n${i}`), { playground: i % 2 === 1 });
    assert.equal(r.json.code, 200, `create ${i + 1}`);
  }
  const refused = await create(peel);
  assert.equal(refused.status, 429);
  assert.deepEqual(refused.json, RATE_LIMITED);
  // the oldest admission (t0+100) leaves the window at t0+10100; now is t0+2000
  assert.equal(retryAfter(refused), 9);
  const viaAlias = await create(peel, body(), { playground: true });
  assert.equal(viaAlias.status, 429);

  // keep knocking (refused) until just before the first admission leaves the window
  for (let i = 0; i < 8; i++) {
    clock.advance(1000);
    const r = await create(peel);
    assert.equal(r.status, 429);
    assert.ok(retryAfter(r) >= 1);
  }
  clock.set(clock.now() + 100); // t0 + 10100: the first admission has left
  assert.equal((await create(peel)).json.code, 200);
  assert.equal((await create(peel)).status, 429);
  // 10 s after the last admission everything has left: the refused calls above never counted
  clock.advance(10_000);
  for (let i = 0; i < 20; i++) assert.equal((await create(peel)).json.code, 200, `after window ${i}`);
  assert.equal((await create(peel)).status, 429);
});

test("admitted calls count even when they fail validation", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false });
  t.after(() => peel.close());
  for (let i = 0; i < 20; i++) {
    const r = await create(peel, { model: "nano-banana-pro", input: { prompt: "x", resolution: "1k" } });
    assert.equal(r.json.code, 422);
  }
  const r = await create(peel);
  assert.equal(r.status, 429);
  assert.equal(retryAfter(r), 10);
});

test("the 11th recordInfo in 1 s gets 429; jobs and playground share the window", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false });
  t.after(() => peel.close());
  const id = (await create(peel)).json.data.taskId;
  for (let i = 0; i < 10; i++) {
    const p = i % 2 ? "/api/v1/playground/recordInfo" : "/api/v1/jobs/recordInfo";
    const r = await peel.api("GET", `${p}?taskId=${id}`);
    assert.equal(r.json.code, 200, `read ${i + 1}`);
  }
  const r = await record(peel, id);
  assert.equal(r.status, 429);
  assert.deepEqual(r.json, RATE_LIMITED);
  assert.equal(retryAfter(r), 1);
  // other keys and other endpoints are not affected
  const other = await peel.newKey();
  assert.equal((await record(peel, id, other.key)).json.code, 422);
  assert.equal((await peel.api("GET", "/api/v1/chat/credit")).json.code, 200);
  clock.advance(1000);
  assert.equal((await record(peel, id)).json.code, 200);
});

test("per-key overrides: a key's own create and read limits replace the defaults", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false, credits: 10_000 });
  t.after(() => peel.close());
  const slow = await peel.newKey({ limits: { createMax: 3, createWindowMs: 60_000, readMax: 2 } });
  for (let i = 0; i < 3; i++) assert.equal((await create(peel, body(), { key: slow.key })).json.code, 200);
  const r = await create(peel, body(), { key: slow.key });
  assert.equal(r.status, 429);
  assert.equal(retryAfter(r), 60);

  const id = (await create(peel)).json.data.taskId;
  const mine = (await peel.newKey({ accountId: peel.account.id, limits: { readMax: 2 } })).key;
  assert.equal((await record(peel, id, mine)).json.code, 200);
  assert.equal((await record(peel, id, mine)).json.code, 200);
  assert.equal((await record(peel, id, mine)).status, 429);

  // createMax 0 = unlimited
  const free = await peel.newKey({ credits: 10_000, limits: { createMax: 0 } });
  for (let i = 0; i < 40; i++) assert.equal((await create(peel, body(), { key: free.key })).json.code, 200);

  // limits changed through the admin ops apply to the key (after the auth cache drops it)
  await peel.admin.setKeyLimits(free.keyId, { createMax: 1 });
  peel.runtime.ctx.auth.forget();
  clock.advance(1);
  assert.equal((await create(peel, body(), { key: free.key })).json.code, 200);
  assert.equal((await create(peel, body(), { key: free.key })).status, 429);
});

test("hourly, daily and total usage caps answer 433 with the exact msg and a Retry-After", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false, credits: 100_000 });
  t.after(() => peel.close());

  // hourly: 2 tasks of 18 fit in 36
  const h = await peel.newKey({ credits: 10_000, limits: { createMax: 0, hourlyCap: 36 } });
  assert.equal((await create(peel, body(), { key: h.key })).json.code, 200);
  clock.advance(20 * 60_000);
  assert.equal((await create(peel, body(), { key: h.key })).json.code, 200);
  clock.advance(10 * 60_000);
  const hr = await create(peel, body(), { key: h.key });
  assert.equal(hr.status, 200);
  assert.deepEqual(hr.json, { code: 433, msg: capMsg("hourly"), data: null });
  // the first task (30 min old) leaves the hourly window in 30 min
  assert.equal(retryAfter(hr), 30 * 60);
  // a 4K task (24) does not fit either; nothing was stored or charged
  assert.equal((await create(peel, body("x", { resolution: "4K" }), { key: h.key })).json.code, 433);
  assert.equal((await peel.runtime.store.countTasks({ accountId: h.account.id })).waiting, 2);
  assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: h.key })).json.data, 10_000 - 36);
  clock.advance(30 * 60_000);
  assert.equal((await create(peel, body(), { key: h.key })).json.code, 200);

  // daily
  const d = await peel.newKey({ credits: 10_000, limits: { createMax: 0, dailyCap: 40 } });
  assert.equal((await create(peel, body("x", { resolution: "4K" }), { key: d.key })).json.code, 200);
  clock.advance(2 * 3_600_000);
  assert.equal((await create(peel, body(), { key: d.key })).json.code, 433);
  const dr = await create(peel, body(), { key: d.key });
  assert.deepEqual(dr.json, { code: 433, msg: capMsg("daily"), data: null });
  assert.equal(retryAfter(dr), 22 * 3600);

  // total: never frees up by itself; the answer still carries a Retry-After
  const tk = await peel.newKey({ credits: 10_000, limits: { createMax: 0, totalCap: 18 } });
  assert.equal((await create(peel, body(), { key: tk.key })).json.code, 200);
  clock.advance(400 * 86_400_000);
  const tr = await create(peel, body(), { key: tk.key });
  assert.deepEqual(tr.json, { code: 433, msg: capMsg("total"), data: null });
  assert.ok(retryAfter(tr) >= 1);

  // caps are per key: another key of the same account is not capped
  const other = await peel.newKey({ accountId: tk.account.id });
  assert.equal((await create(peel, body(), { key: other.key })).json.code, 200);
});

test("a 433's Retry-After is when enough of the oldest usage has left the window", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false });
  t.after(() => peel.close());
  const k = await peel.newKey({ limits: { createMax: 0, hourlyCap: 40 } });
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200); // 18 at T
  clock.advance(10 * 60_000);
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200); // 18 at T+10m
  clock.advance(10 * 60_000);
  // a 4K task (24) needs 20 credits freed: both tasks must leave, the second at T+70m
  const big = await create(peel, body("x", { resolution: "4K" }), { key: k.key });
  assert.equal(big.json.code, 433);
  assert.equal(retryAfter(big), 50 * 60);
  // a 1K task (18) fits once the first leaves, at T+60m
  const small = await create(peel, body(), { key: k.key });
  assert.equal(retryAfter(small), 40 * 60);
  // a price above the cap never fits: the window's length is the answer
  const tiny = await peel.newKey({ limits: { hourlyCap: 10 } });
  assert.equal(retryAfter(await create(peel, body(), { key: tiny.key })), 3600);
});

test("caps count only tasks that did not fail", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false });
  t.after(() => peel.close());
  const k = await peel.newKey({ limits: { hourlyCap: 36, dailyCap: 36, totalCap: 36 } });
  const first = (await create(peel, body(), { key: k.key })).json.data.taskId;
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200);
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 433);
  // a canceled (failed) task no longer counts against any cap
  assert.equal((await cancel(peel, first, k.key)).json.data.failCode, "canceled");
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200);
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 433);
});

test("a refused create (429, 433, 402) stores nothing", async (t) => {
  const clock = new ManualClock();
  const peel = await startPeel({ clock, background: false });
  t.after(() => peel.close());
  const k = await peel.newKey({ credits: 18, limits: { createMax: 2, hourlyCap: 100 } });
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 200);
  assert.equal((await create(peel, body(), { key: k.key })).json.code, 402);
  assert.equal((await create(peel, body(), { key: k.key })).status, 429);
  const counts = await peel.runtime.store.countTasks({ accountId: k.account.id });
  assert.equal(counts.waiting, 1);
  assert.equal((await peel.runtime.store.listLedger(k.account.id)).length, 2);
});
