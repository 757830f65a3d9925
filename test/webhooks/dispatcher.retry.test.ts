import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeReceiver, plans } from "../fakes/receiver.js";
import { MAX_ATTEMPTS, SCHEDULE_MS } from "../../src/webhooks/schedule.js";
import { harness } from "./harness.js";

test("fails 3 times then succeeds: 4 attempts, same body and webhook-id, fresh timestamps", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.failThenSucceed(3, 500));
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  await h.drive([d.id]);

  const attempts = await h.store.listDeliveryAttempts(d.id);
  assert.deepEqual(
    attempts.map((a) => a.statusCode),
    [500, 500, 500, 200],
  );
  assert.deepEqual(
    attempts.map((a) => a.error),
    ["HTTP 500", "HTTP 500", "HTTP 500", null],
  );
  assert.equal(attempts.at(-1)!.nextAttemptAt, null);
  // waits between attempts follow the schedule (jitter pinned to 0)
  for (let i = 1; i < attempts.length; i++) {
    assert.equal(attempts[i].attemptedAt - attempts[i - 1].attemptedAt, SCHEDULE_MS[i]);
    assert.equal(attempts[i - 1].nextAttemptAt, attempts[i].attemptedAt);
  }
  const row = (await h.store.getDelivery(d.id))!;
  assert.equal(row.state, "delivered");
  assert.equal(row.attemptCount, 4);

  assert.equal(rx.requests.length, 4);
  for (const r of rx.requests) {
    assert.equal(r.method, "POST");
    assert.equal(r.body, d.payload);
    assert.equal(r.headers["webhook-id"], d.webhookId);
    assert.equal(r.headers["content-type"], "application/json");
    assert.match(String(r.headers["user-agent"]), /^peel\/\d/);
  }
  const stamps = rx.requests.map((r) => r.headers["webhook-timestamp"]);
  assert.equal(new Set(stamps).size, 4, "every attempt is stamped afresh");
  assert.deepEqual(
    rx.requests.map((r) => r.headers["x-webhook-timestamp"]),
    stamps,
  );
});

test("receiver down for an hour of controlled time, then back: every callback arrives", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());
  await rx.down();
  const start = h.clock.now();
  const ds = await Promise.all([1, 2, 3].map(() => h.addDelivery(rx.url())));
  let down = true;
  await h.drive(
    ds.map((d) => d.id),
    {
      beforePass: async () => {
        if (down && h.clock.now() - start >= 60 * 60_000) {
          await rx.up();
          down = false;
        }
      },
    },
  );
  assert.equal(down, false);
  for (const d of ds) {
    const attempts = await h.store.listDeliveryAttempts(d.id);
    // refused at 0 s, 5 s, 5 min 5 s and 35 min 5 s; delivered at 2 h 35 min 5 s
    assert.deepEqual(
      attempts.map((a) => a.statusCode),
      [null, null, null, null, 200],
    );
    assert.ok(
      attempts.slice(0, 4).every((a) => a.error?.startsWith("network:")),
      JSON.stringify(attempts[0]),
    );
    assert.equal(attempts[4].attemptedAt - start, 2 * 3600_000 + 35 * 60_000 + 5_000);
    assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
  }
  assert.deepEqual(rx.requests.map((r) => r.body).sort(), ds.map((d) => d.payload).sort());
});

test("a receiver slower than the timeout is recorded as a timeout and retried", async (t) => {
  const h = await harness(t, { timeoutMs: 300 });
  const rx = await FakeReceiver.start((_r, n) => (n === 0 ? { status: 200, delayMs: 2_000 } : { status: 200 }));
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  const began = Date.now();
  assert.equal(await h.dispatcher.runOnce(), 1);
  assert.ok(Date.now() - began < 1_500, "the attempt ended at the timeout, not when the receiver answered");
  const [first] = await h.store.listDeliveryAttempts(d.id);
  assert.equal(first.statusCode, null);
  assert.match(first.error!, /^timeout/);
  assert.ok(first.latencyMs >= 250 && first.latencyMs < 1_500, String(first.latencyMs));
  assert.equal(first.nextAttemptAt, h.clock.now() + 5_000);

  h.clock.advance(4_999);
  assert.equal(await h.dispatcher.runOnce(), 0, "not due before the schedule says");
  h.clock.advance(1);
  assert.equal(await h.dispatcher.runOnce(), 1);
  assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
  assert.equal(rx.requests.length, 2);
});

test("redirects are not followed: a 3xx is a failed attempt and the target receives nothing", async (t) => {
  const h = await harness(t);
  const target = await FakeReceiver.start(plans.ok());
  const rx = await FakeReceiver.start(plans.redirect(target.url("/moved"), 307));
  t.after(() => Promise.all([rx.close(), target.close()]));
  const d = await h.addDelivery(rx.url());
  await h.dispatcher.runOnce();
  const [a] = await h.store.listDeliveryAttempts(d.id);
  assert.equal(a.statusCode, 307);
  assert.match(a.error!, /redirects are not followed/);
  const row = (await h.store.getDelivery(d.id))!;
  assert.equal(row.state, "pending");
  assert.equal(row.nextAttemptAt, h.clock.now() + 5_000);
  assert.equal(target.requests.length, 0);
});

test("410 stops the delivery after one attempt", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.status(410));
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  assert.equal(await h.dispatcher.runOnce(), 1);
  const row = (await h.store.getDelivery(d.id))!;
  assert.equal(row.state, "stopped");
  assert.equal(row.lastStatus, 410);
  h.clock.advance(3 * 24 * 3600_000);
  assert.equal(await h.dispatcher.runOnce(), 0);
  assert.equal(rx.requests.length, 1);
});

test("429 with Retry-After in seconds pushes the next attempt out", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.retryAfterOnce("120", 429));
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  await h.dispatcher.runOnce();
  const [a] = await h.store.listDeliveryAttempts(d.id);
  assert.equal(a.statusCode, 429);
  assert.equal(a.nextAttemptAt, h.clock.now() + 120_000, "120 s, not the schedule's 5 s");
  h.clock.advance(5_000);
  assert.equal(await h.dispatcher.runOnce(), 0);
  h.clock.advance(115_000);
  assert.equal(await h.dispatcher.runOnce(), 1);
  assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
});

test("503 with an HTTP-date Retry-After is honoured too; a sooner one never beats the schedule", async (t) => {
  const h = await harness(t);
  const later = new Date(h.clock.now() + 10 * 60_000).toUTCString();
  const rx = await FakeReceiver.start((_r, n) =>
    n === 0
      ? { status: 503, headers: { "retry-after": later } }
      : n === 1
        ? { status: 503, headers: { "retry-after": "1" } }
        : { status: 200 },
  );
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  await h.drive([d.id]);
  const attempts = await h.store.listDeliveryAttempts(d.id);
  assert.deepEqual(
    attempts.map((a) => a.statusCode),
    [503, 503, 200],
  );
  assert.equal(attempts[1].attemptedAt - attempts[0].attemptedAt, 10 * 60_000);
  assert.equal(attempts[2].attemptedAt - attempts[1].attemptedAt, SCHEDULE_MS[2], "Retry-After: 1 < 5 min step");
});

test("schedule exhausted: 10 attempts, then failed", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.status(500));
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  await h.drive([d.id]);
  const attempts = await h.store.listDeliveryAttempts(d.id);
  assert.equal(attempts.length, 10);
  assert.equal(attempts.at(-1)!.nextAttemptAt, null);
  assert.equal(
    attempts.at(-1)!.attemptedAt - attempts[0].attemptedAt,
    SCHEDULE_MS.reduce((a, b) => a + b, 0),
  );
  const row = (await h.store.getDelivery(d.id))!;
  assert.equal(row.state, "failed");
  assert.equal(row.attemptCount, 10);
  h.clock.advance(7 * 24 * 3600_000);
  assert.equal(await h.dispatcher.runOnce(), 0);
  assert.equal(rx.requests.length, 10);
});

test("replay delivers again with the same webhook-id and body, on a fresh schedule", async (t) => {
  const h = await harness(t);
  let failing = true;
  const rx = await FakeReceiver.start(() => ({ status: failing ? 500 : 200 }));
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  await h.drive([d.id]);
  assert.equal((await h.store.getDelivery(d.id))!.state, "failed");

  // replayed while still failing: a fresh schedule, so one failure is a retry, not the end
  assert.equal(await h.store.replayDelivery(d.id, h.clock.now()), true);
  await h.dispatcher.runOnce();
  const afterReplay = (await h.store.getDelivery(d.id))!;
  assert.equal(afterReplay.state, "pending");
  assert.equal(afterReplay.nextAttemptAt, h.clock.now() + SCHEDULE_MS[1]);

  failing = false;
  await h.drive([d.id]);
  assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
  assert.equal(await h.store.replayDelivery(d.id, h.clock.now()), true);
  await h.dispatcher.runOnce();
  assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
  assert.equal(rx.requests.length, MAX_ATTEMPTS + 3);
  assert.ok(rx.requests.every((r) => r.headers["webhook-id"] === d.webhookId && r.body === d.payload));
});

test("a large 2xx answer is delivered; only a few KB of it are read", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(() => ({ status: 200, body: "x".repeat(2 * 1024 * 1024) }));
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  await h.dispatcher.runOnce();
  const [a] = await h.store.listDeliveryAttempts(d.id);
  assert.equal(a.statusCode, 200);
  assert.equal(a.error, null);
  assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
});

test("a claim left by a crashed dispatcher is sent once its lease lapses", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  const [claimed] = await h.store.claimDueDeliveries({ workerId: "wrk_crashed", now: h.clock.now(), limit: 10, leaseMs: 60_000 });
  assert.equal(claimed.id, d.id);
  assert.equal(await h.dispatcher.runOnce(), 0, "still leased");
  h.clock.advance(60_000);
  assert.equal(await h.dispatcher.runOnce(), 1);
  assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
  assert.equal(rx.requests.length, 1);
});

test("claim errors back off instead of spinning", async (t) => {
  const h = await harness(t);
  let calls = 0;
  const broken = Object.create(h.store) as typeof h.store;
  broken.claimDueDeliveries = async () => {
    calls++;
    throw new Error("database is locked");
  };
  const { DeliveryDispatcher } = await import("../../src/webhooks/dispatcher.js");
  const { AddressPolicy } = await import("../../src/net/address-guard.js");
  const errors: object[] = [];
  const dispatcher = new DeliveryDispatcher({
    store: broken,
    policy: new AddressPolicy([]),
    clock: h.clock,
    workerId: "wrk_b",
    timeoutMs: 1_000,
    concurrency: 2,
    pollMs: 1,
    logger: { info: () => {}, warn: () => {}, error: (obj) => errors.push(obj) },
  });
  dispatcher.start();
  const until = Date.now() + 700;
  while (Date.now() < until) {
    dispatcher.notify(); // traffic must not cut a backoff short
    await new Promise((r) => setTimeout(r, 5));
  }
  await dispatcher.stop();
  // backoff 200, 400, 800 ms… → about 3 claims in 700 ms, not hundreds
  assert.ok(calls >= 2 && calls <= 5, `claims: ${calls}`);
  assert.equal(errors.length, calls);
});
