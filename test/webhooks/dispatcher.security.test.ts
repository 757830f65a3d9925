import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { FakeReceiver, plans, type RecordedRequest } from "../fakes/receiver.js";
import { systemClock } from "../../src/clock.js";
import { BLOCKED_ERROR } from "../../src/webhooks/dispatcher.js";
import { generateSigningSecret } from "../../src/webhooks/sign.js";
import { verifyKieSignature, verifyStandardWebhook } from "../../src/webhooks/verify.js";
import { eventually, harness } from "./harness.js";

/**
 * An independent re-implementation of the Standard Webhooks reference verifier
 * (standard-webhooks: libraries/javascript/src/index.ts, `Webhook.verify`): lower-cased headers,
 * key = base64 after `whsec_`, HMAC-SHA256 over `${id}.${ts}.${payload}`, any `v1` entry matches.
 */
function referenceVerify(payload: string, headers: IncomingHttpHeaders, secret: string, nowSec: number): boolean {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = String(v);
  const id = h["webhook-id"],
    sig = h["webhook-signature"],
    ts = h["webhook-timestamp"];
  if (!id || !sig || !ts) return false;
  const t = parseInt(ts, 10);
  if (Number.isNaN(t) || nowSec - t > 300 || t > nowSec + 300) return false;
  const key = Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
  const expected = createHmac("sha256", key).update(`${id}.${t}.${payload}`).digest("base64");
  const enc = new TextEncoder();
  return sig.split(" ").some((vs) => {
    const [version, s] = vs.split(",");
    if (version !== "v1") return false;
    const a = enc.encode(s),
      b = enc.encode(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  });
}

/** kie's documented receiver snippet (docs/kie-contract.md §7.3). */
function kieDocumentedVerify(body: any, headers: Record<string, string>, hmacKey: string): boolean {
  const ts = headers["x-webhook-timestamp"];
  const sig = headers["x-webhook-signature"];
  const id = body?.data?.taskId ?? body?.data?.task_id ?? body?.taskId;
  if (!ts || !sig || !id) return false;
  const want = createHmac("sha256", hmacKey).update(`${id}.${ts}`).digest();
  const got = Buffer.from(sig, "base64");
  return got.length === want.length && timingSafeEqual(got, want);
}

const nowSecOf = (r: RecordedRequest) => Number(r.headers["webhook-timestamp"]);

test("signatures verify with verifyStandardWebhook, the reference algorithm and kie's algorithm", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());
  const d = await h.addDelivery(rx.url());
  await h.dispatcher.runOnce();
  const [r] = rx.requests;
  const nowSec = Math.floor(h.clock.now() / 1000);
  assert.equal(nowSecOf(r), nowSec);
  assert.equal(r.body, d.payload);
  assert.equal(verifyStandardWebhook(r.body, r.headers, h.secret, { nowSec }), true);
  assert.equal(referenceVerify(r.body, r.headers, h.secret, nowSec), true);
  assert.equal(verifyKieSignature(r.body, r.headers, h.hmacKey, { nowSec }), true);
  assert.equal(kieDocumentedVerify(JSON.parse(r.body), r.headers as Record<string, string>, h.hmacKey), true);
  // and they mean something
  assert.equal(referenceVerify(r.body.replace("982", "983"), r.headers, h.secret, nowSec), false);
  assert.equal(verifyStandardWebhook(r.body, r.headers, generateSigningSecret(), { nowSec }), false);
  assert.equal(kieDocumentedVerify(JSON.parse(r.body), r.headers as Record<string, string>, "whk_wrong"), false);
});

test("secret rotation: old and new both verify during the overlap, only the new one after", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());
  const oldSecret = h.secret;
  const newSecret = generateSigningSecret();
  const overlapMs = 24 * 3600_000;
  await h.store.rotateSigningSecret(h.account.id, newSecret, h.clock.now() + overlapMs, h.clock.now());

  await h.addDelivery(rx.url());
  await h.dispatcher.runOnce();
  const during = rx.requests[0];
  assert.equal(String(during.headers["webhook-signature"]).split(" ").length, 2);
  for (const s of [oldSecret, newSecret]) {
    assert.equal(verifyStandardWebhook(during.body, during.headers, s, { nowSec: nowSecOf(during) }), true);
    assert.equal(referenceVerify(during.body, during.headers, s, nowSecOf(during)), true);
  }

  h.clock.advance(overlapMs);
  await h.addDelivery(rx.url());
  await h.dispatcher.runOnce();
  const after = rx.requests[1];
  assert.equal(String(after.headers["webhook-signature"]).split(" ").length, 1);
  assert.equal(verifyStandardWebhook(after.body, after.headers, newSecret, { nowSec: nowSecOf(after) }), true);
  assert.equal(verifyStandardWebhook(after.body, after.headers, oldSecret, { nowSec: nowSecOf(after) }), false);
  assert.equal(referenceVerify(after.body, after.headers, oldSecret, nowSecOf(after)), false);
});

test("an account without secrets gets unsigned callbacks (but still a webhook-id)", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());
  const bare = await h.store.createAccount({ name: "no secrets" }, h.clock.now());
  const d = await h.store.createDelivery({
    id: "dlv_bare",
    taskId: null,
    accountId: bare.id,
    url: rx.url(),
    payload: '{"a":1}',
    webhookId: "msg_bare",
    createdAt: h.clock.now(),
  });
  await h.dispatcher.runOnce();
  assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
  const [r] = rx.requests;
  assert.equal(r.headers["webhook-id"], "msg_bare");
  for (const k of ["webhook-signature", "webhook-timestamp", "x-webhook-signature", "x-webhook-timestamp"]) {
    assert.equal(r.headers[k], undefined, k);
  }
});

test("no request reaches a forbidden address; allow-listing 127.0.0.1 lets it through", async (t) => {
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());

  const closed = await harness(t, { allow: [] });
  const d1 = await closed.addDelivery(rx.url());
  const d2 = await closed.addDelivery(`http://localhost:${new URL(rx.origin).port}/hook`);
  assert.equal(await closed.dispatcher.runOnce(), 2);
  for (const d of [d1, d2]) {
    const row = (await closed.store.getDelivery(d.id))!;
    assert.equal(row.state, "failed");
    assert.equal(row.lastError, BLOCKED_ERROR);
    const [a] = await closed.store.listDeliveryAttempts(d.id);
    assert.equal(a.statusCode, null);
    assert.equal(a.nextAttemptAt, null);
  }
  assert.equal(rx.requests.length, 0);

  const open = await harness(t, { allow: ["127.0.0.1"] });
  const d3 = await open.addDelivery(rx.url());
  await open.dispatcher.runOnce();
  assert.equal((await open.store.getDelivery(d3.id))!.state, "delivered");
  assert.equal(rx.requests.length, 1);
});

test("concurrency bound: 50 deliveries to a slow receiver never exceed 4 in flight", async (t) => {
  const h = await harness(t, { concurrency: 4, pollMs: 10 });
  const rx = await FakeReceiver.start(plans.slow(50));
  t.after(() => rx.close());
  const ds = await Promise.all(Array.from({ length: 50 }, () => h.addDelivery(rx.url())));
  h.dispatcher.start();
  await eventually(async () => (await h.store.listDeliveries({ state: "delivered", limit: 100 })).length === 50, 20_000);
  assert.equal(rx.requests.length, 50);
  assert.equal(rx.maxInFlight, 4);
  assert.deepEqual(new Set(rx.requests.map((r) => r.headers["webhook-id"])), new Set(ds.map((d) => d.webhookId)));
});

test("per-origin bound: no receiver sees more than perOriginLimit requests at once", async (t) => {
  // Deliveries beyond the limit are deferred by a second or two of clock time: a real clock here.
  const h = await harness(t, { concurrency: 6, perOriginLimit: 2, pollMs: 10, clock: systemClock });
  const slow = await FakeReceiver.start(plans.slow(60));
  const other = await FakeReceiver.start(plans.slow(60));
  t.after(() => Promise.all([slow.close(), other.close()]));
  for (let i = 0; i < 12; i++) await h.addDelivery(slow.url());
  for (let i = 0; i < 12; i++) await h.addDelivery(other.url());
  h.dispatcher.start();
  await eventually(async () => (await h.store.listDeliveries({ state: "delivered", limit: 100 })).length === 24, 20_000);
  assert.ok(slow.maxInFlight <= 2 && other.maxInFlight <= 2, `${slow.maxInFlight} ${other.maxInFlight}`);
});

test("notify() wakes an idle loop at once; stop() waits for the send in flight", async (t) => {
  const h = await harness(t, { pollMs: 60_000 });
  const rx = await FakeReceiver.start(plans.slow(200));
  t.after(() => rx.close());
  h.dispatcher.start();
  await new Promise((r) => setTimeout(r, 50)); // the loop is now asleep for a minute
  const d = await h.addDelivery(rx.url());
  h.dispatcher.notify();
  await eventually(() => rx.inFlight === 1, 2_000);
  await h.dispatcher.stop();
  assert.equal((await h.store.getDelivery(d.id))!.state, "delivered");
});

test("sendTestEvent: one signed POST of a peel.test event, nothing stored, not retried", async (t) => {
  const h = await harness(t);
  const rx = await FakeReceiver.start(plans.status(500));
  t.after(() => rx.close());
  const failed = await h.dispatcher.sendTestEvent({ url: rx.url(), accountId: h.account.id });
  assert.equal(failed.outcome, "failed");
  assert.equal(failed.statusCode, 500);
  rx.plan = plans.ok();
  const ok = await h.dispatcher.sendTestEvent({ url: rx.url(), accountId: h.account.id });
  assert.equal(ok.outcome, "delivered");
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.error, null);
  const r = rx.requests[1];
  const body = JSON.parse(r.body);
  assert.equal(body.type, "peel.test");
  assert.equal(body.timestamp, new Date(h.clock.now()).toISOString());
  assert.equal(r.headers["webhook-id"], ok.webhookId);
  const nowSec = Math.floor(h.clock.now() / 1000);
  assert.equal(verifyStandardWebhook(r.body, r.headers, h.secret, { nowSec }), true);
  assert.equal(verifyKieSignature(r.body, r.headers, h.hmacKey, { nowSec }), true);
  assert.equal((await h.store.listDeliveries({})).length, 0);

  const blocked = await (await harness(t, { allow: [] })).dispatcher.sendTestEvent({ url: rx.url(), accountId: h.account.id });
  assert.equal(blocked.error, BLOCKED_ERROR);
  assert.equal(rx.requests.length, 2);
});
