import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import {
  buildCallbackHeaders,
  DEFAULT_USER_AGENT,
  generateHmacKey,
  generateSigningSecret,
  kieSignature,
  kieSubjectIdOf,
  standardSignature,
} from "../../src/webhooks/sign.js";
import { verifyKieSignature, verifyStandardWebhook } from "../../src/webhooks/verify.js";

// docs/kie-contract.md §7.3 test vector.
const KIE = {
  key: "whk_peel_example_0001",
  taskId: "3f9c2b7e8a614d0f9b1e5c7a2d4f6081",
  ts: 1767225631,
  sig: "+8csOvsQl7NygctmULkvLOQD7mAl3xYDNwtRUTvX2PU=",
};

// The Standard Webhooks reference vector (libraries' "sign function works" test).
const SW = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  ts: 1614265330,
  body: '{"test": 2432232314}',
  sig: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

/** kie's documented receiver snippet (docs/kie-contract.md §7.3), verbatim apart from the name. */
function kieDocumentedVerify(body: any, headers: Record<string, string>, hmacKey: string): boolean {
  const ts = headers["x-webhook-timestamp"];
  const sig = headers["x-webhook-signature"];
  const id = body?.data?.taskId ?? body?.data?.task_id ?? body?.taskId;
  if (!ts || !sig || !id) return false;
  const want = createHmac("sha256", hmacKey).update(`${id}.${ts}`).digest();
  const got = Buffer.from(sig, "base64");
  return got.length === want.length && timingSafeEqual(got, want);
}

test("kie signature reproduces the contract's test vector", () => {
  assert.equal(kieSignature(KIE.key, KIE.taskId, KIE.ts), KIE.sig);
  assert.equal(KIE.sig.length, 44);
});

test("Standard Webhooks signature reproduces the reference vector", () => {
  assert.equal(standardSignature(SW.secret, SW.id, SW.ts, SW.body), SW.sig);
});

test("verifyStandardWebhook accepts the reference vector and rejects tampering", () => {
  const headers = { "webhook-id": SW.id, "webhook-timestamp": String(SW.ts), "webhook-signature": SW.sig };
  const opts = { nowSec: SW.ts + 10 };
  assert.equal(verifyStandardWebhook(SW.body, headers, SW.secret, opts), true);
  assert.equal(verifyStandardWebhook(Buffer.from(SW.body), headers, [generateSigningSecret(), SW.secret], opts), true);
  // a re-serialized body (space dropped) no longer matches: receivers must verify raw bytes
  assert.equal(verifyStandardWebhook(JSON.stringify(JSON.parse(SW.body)), headers, SW.secret, opts), false);
  assert.equal(verifyStandardWebhook(SW.body, { ...headers, "webhook-id": "msg_other" }, SW.secret, opts), false);
  assert.equal(verifyStandardWebhook(SW.body, { ...headers, "webhook-timestamp": String(SW.ts + 1) }, SW.secret, opts), false);
  assert.equal(verifyStandardWebhook(SW.body, headers, generateSigningSecret(), opts), false);
  assert.equal(
    verifyStandardWebhook(SW.body, { ...headers, "webhook-signature": "v1a," + SW.sig.slice(3) }, SW.secret, opts),
    false,
  );
  assert.equal(verifyStandardWebhook(SW.body, { ...headers, "webhook-signature": "" }, SW.secret, opts), false);
  // case-insensitive header names, several entries in the header, fetch Headers
  const mixed = { "Webhook-Id": SW.id, "WEBHOOK-TIMESTAMP": String(SW.ts), "webhook-signature": `v1,AAAA ${SW.sig}` };
  assert.equal(verifyStandardWebhook(SW.body, mixed, SW.secret, opts), true);
  assert.equal(verifyStandardWebhook(SW.body, new Headers(headers), SW.secret, opts), true);
});

test("verifyStandardWebhook enforces the timestamp tolerance (5 min default)", () => {
  const headers = { "webhook-id": SW.id, "webhook-timestamp": String(SW.ts), "webhook-signature": SW.sig };
  assert.equal(verifyStandardWebhook(SW.body, headers, SW.secret, { nowSec: SW.ts + 300 }), true);
  assert.equal(verifyStandardWebhook(SW.body, headers, SW.secret, { nowSec: SW.ts + 301 }), false);
  assert.equal(verifyStandardWebhook(SW.body, headers, SW.secret, { nowSec: SW.ts - 301 }), false);
  assert.equal(verifyStandardWebhook(SW.body, headers, SW.secret, { nowSec: SW.ts + 3600, toleranceSec: 3600 }), true);
  // real "now" is years after the vector
  assert.equal(verifyStandardWebhook(SW.body, headers, SW.secret), false);
});

test("verifyStandardWebhook throws on an empty secret instead of reporting a forgery", () => {
  const headers = { "webhook-id": SW.id, "webhook-timestamp": String(SW.ts), "webhook-signature": SW.sig };
  assert.throws(() => verifyStandardWebhook(SW.body, headers, "whsec_", { nowSec: SW.ts }));
});

test("verifyKieSignature matches kie's documented algorithm, raw or parsed body", () => {
  const body = { taskId: KIE.taskId, code: 200, data: { taskId: KIE.taskId, task_id: KIE.taskId } };
  const headers = { "x-webhook-timestamp": String(KIE.ts), "x-webhook-signature": KIE.sig };
  const opts = { nowSec: KIE.ts };
  assert.equal(kieDocumentedVerify(body, headers, KIE.key), true);
  assert.equal(verifyKieSignature(body, headers, KIE.key, opts), true);
  assert.equal(verifyKieSignature(JSON.stringify(body), headers, KIE.key, opts), true);
  assert.equal(verifyKieSignature(Buffer.from(JSON.stringify(body)), headers, KIE.key, opts), true);
  assert.equal(verifyKieSignature(body, headers, "whk_other", opts), false);
  assert.equal(verifyKieSignature({ data: { taskId: "0".repeat(32) } }, headers, KIE.key, opts), false);
  assert.equal(verifyKieSignature("not json", headers, KIE.key, opts), false);
  assert.equal(verifyKieSignature(body, { "x-webhook-timestamp": String(KIE.ts) }, KIE.key, opts), false);
  // stale timestamps are refused by default; opt out with a large tolerance
  assert.equal(verifyKieSignature(body, headers, KIE.key, { nowSec: KIE.ts + 301 }), false);
  assert.equal(verifyKieSignature(body, headers, KIE.key, { nowSec: KIE.ts + 10_000, toleranceSec: Infinity }), true);
});

test("buildCallbackHeaders: content headers always, each scheme only when configured", () => {
  const base = { payload: SW.body, webhookId: SW.id, kieSubjectId: KIE.taskId, timestampSec: KIE.ts };
  const plain = buildCallbackHeaders({ ...base, hmacKey: null, signingSecrets: [] });
  assert.deepEqual(plain, { "content-type": "application/json", "user-agent": DEFAULT_USER_AGENT, "webhook-id": SW.id });
  assert.match(DEFAULT_USER_AGENT, /^peel\/\d+\.\d+\.\d+/);

  const kie = buildCallbackHeaders({ ...base, hmacKey: KIE.key, signingSecrets: [], userAgent: "peel/test" });
  assert.equal(kie["x-webhook-signature"], KIE.sig);
  assert.equal(kie["x-webhook-timestamp"], String(KIE.ts));
  assert.equal(kie["user-agent"], "peel/test");
  assert.equal(kie["webhook-signature"], undefined);

  const both = buildCallbackHeaders({ ...base, hmacKey: KIE.key, signingSecrets: [SW.secret, generateSigningSecret()] });
  const entries = both["webhook-signature"].split(" ");
  assert.equal(entries.length, 2);
  assert.equal(entries[0], standardSignature(SW.secret, SW.id, KIE.ts, SW.body));
  assert.equal(both["webhook-timestamp"], String(KIE.ts));
  assert.equal(verifyStandardWebhook(SW.body, both, SW.secret, { nowSec: KIE.ts }), true);

  // no id to sign → no kie headers even with a key
  const noSubject = buildCallbackHeaders({ ...base, kieSubjectId: null, hmacKey: KIE.key, signingSecrets: [] });
  assert.equal(noSubject["x-webhook-signature"], undefined);
});

test("kieSubjectIdOf prefers the task id, then the body's ids", () => {
  assert.equal(kieSubjectIdOf("abc", "{}"), "abc");
  assert.equal(kieSubjectIdOf(null, '{"data":{"taskId":"t1"}}'), "t1");
  assert.equal(kieSubjectIdOf(null, '{"data":{"task_id":"t2"}}'), "t2");
  assert.equal(kieSubjectIdOf(null, '{"taskId":"t3"}'), "t3");
  assert.equal(kieSubjectIdOf(null, '{"type":"x"}'), null);
  assert.equal(kieSubjectIdOf(null, "nope"), null);
});

test("generated secrets have the documented shapes", () => {
  const s = generateSigningSecret();
  assert.match(s, /^whsec_[A-Za-z0-9+/]+=*$/);
  const raw = Buffer.from(s.slice(6), "base64");
  assert.ok(raw.length >= 24 && raw.length <= 64);
  assert.notEqual(generateSigningSecret(), s);
  const k = generateHmacKey();
  assert.match(k, /^whk_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(generateHmacKey(), k);
});
