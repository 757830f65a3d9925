import { test } from "node:test";
import assert from "node:assert/strict";
import { systemClock } from "../../src/clock.js";
import type { Delivery } from "../../src/domain/types.js";
import { AddressPolicy } from "../../src/net/address-guard.js";
import { DeliveryDispatcher } from "../../src/webhooks/dispatcher.js";
import { FakeReceiver, plans } from "../fakes/receiver.js";
import { eventually, harness } from "./harness.js";

// One slow receiver with a backlog must not hold the dispatcher's global slots while its
// deliveries wait for a per-origin slot: they are deferred (given back to the store, no attempt)
// and other receivers' callbacks go out at once.

const SLOW_MS = 2_000;
const PER_ORIGIN = 2;
const CONCURRENCY = 4;

test("a slow receiver's backlog does not delay another receiver; deferrals are not attempts", async (t) => {
  const h = await harness(t);
  const slow = await FakeReceiver.start(plans.slow(SLOW_MS));
  const fast = await FakeReceiver.start(plans.ok());
  t.after(() => Promise.all([slow.close(), fast.close()]));

  // 20 for the slow receiver first, then 5 for the fast one: oldest first, the backlog is ahead.
  const slowDs: Delivery[] = [];
  for (let i = 0; i < 20; i++) {
    h.clock.advance(1);
    slowDs.push(await h.addDelivery(slow.url()));
  }
  const fastDs: Delivery[] = [];
  for (let i = 0; i < 5; i++) {
    h.clock.advance(1);
    fastDs.push(await h.addDelivery(fast.url()));
  }

  // The real store, counting deferrals; a real clock, since a deferral is a second or two of it.
  let deferrals = 0;
  const store = Object.create(h.store) as typeof h.store;
  store.deferDelivery = async (id, workerId, until) => {
    deferrals++;
    return h.store.deferDelivery(id, workerId, until);
  };
  const dispatcher = new DeliveryDispatcher({
    store,
    policy: new AddressPolicy(["127.0.0.1"]),
    clock: systemClock,
    workerId: "wrk_fair",
    timeoutMs: 3_000,
    concurrency: CONCURRENCY,
    perOriginLimit: PER_ORIGIN,
    pollMs: 20,
    logger: { info: () => {}, warn: (obj, msg) => console.warn(msg, obj), error: (obj, msg) => console.error(msg, obj) },
  });
  t.after(() => dispatcher.stop());

  // Both receivers' requests together never exceed the global bound.
  let maxTotal = 0;
  const sampler = setInterval(() => (maxTotal = Math.max(maxTotal, slow.inFlight + fast.inFlight)), 2);
  t.after(() => clearInterval(sampler));

  const began = Date.now();
  dispatcher.start();
  await eventually(() => fast.requests.length === 5, 10_000);
  const fastDoneMs = Date.now() - began;
  // Before any slow send has been answered (2 s); the old dispatcher made them wait for the
  // whole backlog to be claimed, about 20 / 2 × 2 s = 18 s.
  assert.ok(fastDoneMs < SLOW_MS, `fast receiver served after ${fastDoneMs} ms`);
  assert.equal(slow.requests.length, PER_ORIGIN, "the slow receiver got its 2 and the others were deferred");
  assert.ok(deferrals >= 20 - PER_ORIGIN, `deferrals: ${deferrals}`);
  await eventually(
    async () => (await Promise.all(fastDs.map((d) => h.store.getDelivery(d.id)))).every((d) => d!.state === "delivered"),
    2_000,
  );

  // The backlog still drains, never more than perOriginLimit at once at the slow receiver.
  await eventually(async () => (await h.store.listDeliveries({ state: "delivered", limit: 100 })).length === 25, 60_000);
  const drainMs = Date.now() - began;
  await dispatcher.stop();
  assert.equal(slow.maxInFlight, PER_ORIGIN);
  assert.ok(maxTotal <= CONCURRENCY, `in flight at once: ${maxTotal}`);
  // 10 rounds of 2 at 2 s each is the floor; deferral gaps may add a little, not a lot.
  assert.ok(drainMs < 1.5 * (20 / PER_ORIGIN) * SLOW_MS, `backlog drained in ${drainMs} ms`);

  // Exactly one request per delivery, and exactly one attempt row for it: deferrals left no trace.
  assert.equal(slow.requests.length, 20);
  assert.deepEqual(new Set(slow.requests.map((r) => r.headers["webhook-id"])), new Set(slowDs.map((d) => d.webhookId)));
  for (const d of [...slowDs, ...fastDs]) {
    const row = (await h.store.getDelivery(d.id))!;
    assert.equal(row.state, "delivered");
    assert.equal(row.attemptCount, 1, `${d.id} attempt count`);
    const attempts = await h.store.listDeliveryAttempts(d.id);
    assert.equal(attempts.length, 1, `${d.id} attempts`);
    assert.equal(attempts[0].statusCode, 200);
    assert.equal(attempts[0].error, null);
    assert.equal(attempts[0].nextAttemptAt, null);
  }
  for (const d of slowDs.slice(PER_ORIGIN)) {
    // a deferred delivery waited for its slot outside the 3 s deadline: none timed out
    const [a] = await h.store.listDeliveryAttempts(d.id);
    assert.ok(a.latencyMs >= SLOW_MS - 50 && a.latencyMs < 3_000, `latency ${a.latencyMs}`);
  }
});

test("deferral is not an attempt: a delivery due while its origin is full keeps its schedule", async (t) => {
  // ManualClock: the deferred delivery is due again 1–2 s later; the retry schedule is untouched.
  const h = await harness(t, { concurrency: 4, perOriginLimit: 1, timeoutMs: 2_000 });
  let failFirst = true;
  const rx = await FakeReceiver.start(() => {
    if (failFirst) {
      failFirst = false;
      return { status: 500, delayMs: 100 };
    }
    return { status: 200 };
  });
  t.after(() => rx.close());
  const a = await h.addDelivery(rx.url());
  h.clock.advance(1);
  const b = await h.addDelivery(rx.url());
  const now = h.clock.now();

  // One claim gets both; the origin takes one at a time, so `b` is deferred, not sent.
  assert.equal(await h.dispatcher.runOnce(), 1);
  assert.equal(rx.requests.length, 1);
  const deferred = (await h.store.getDelivery(b.id))!;
  assert.equal(deferred.state, "pending");
  assert.equal(deferred.attemptCount, 0);
  assert.deepEqual(await h.store.listDeliveryAttempts(b.id), []);
  assert.ok(
    deferred.nextAttemptAt! >= now + 1_000 && deferred.nextAttemptAt! <= now + 2_000,
    `due again at +${deferred.nextAttemptAt! - now} ms`,
  );

  // `a` failed once: its retry is on the schedule (5 s), nothing else moved it.
  const aRow = (await h.store.getDelivery(a.id))!;
  assert.equal(aRow.attemptCount, 1);
  assert.equal(aRow.nextAttemptAt, now + 5_000);

  assert.equal(await h.dispatcher.runOnce(), 0, "not due again yet");
  h.clock.set(deferred.nextAttemptAt!);
  assert.equal(await h.dispatcher.runOnce(), 1);
  const sent = (await h.store.getDelivery(b.id))!;
  assert.equal(sent.state, "delivered");
  assert.equal(sent.attemptCount, 1, "its first real attempt is attempt 1");
  const [attempt] = await h.store.listDeliveryAttempts(b.id);
  assert.equal(attempt.attemptedAt, deferred.nextAttemptAt);
  assert.equal(rx.requests.length, 2);
});
