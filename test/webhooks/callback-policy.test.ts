import assert from "node:assert/strict";
import { test } from "node:test";
import type { TaskRecord } from "../../src/domain/types.js";
import { callbackOnSettle } from "../../src/services/settlement.js";
import { CallbackPolicy, hostPatternProblems, type HostRules } from "../../src/webhooks/callback-policy.js";

// The callback destination policy (docs/webhooks.md): patterns, evaluation order, and the
// settlement hook that records a denied callback as skipped.

const DEFAULT: HostRules = { allow: [], deny: ["*.kie.ai"] };
const sends = (p: CallbackPolicy, url: string, account: HostRules | null = null) => p.decide(url, account).send;

test("default: *.kie.ai and kie.ai itself are denied, look-alikes are not", () => {
  const p = new CallbackPolicy(DEFAULT);
  for (const url of ["https://proxy.kie.ai/cb", "https://kie.ai/x", "http://a.b.KIE.ai./x", "https://api.kie.ai:8443/hook?t=1"]) {
    assert.equal(sends(p, url), false, url);
  }
  for (const url of [
    "https://notkie.ai/x",
    "https://kie.ai.evil.example/x",
    "https://hooks.example.com/x",
    "http://127.0.0.1:9/x",
  ]) {
    assert.equal(sends(p, url), true, url);
  }
  const d = p.decide("https://proxy.kie.ai/cb?token=secret", null);
  assert.deepEqual(d, {
    send: false,
    host: "proxy.kie.ai",
    reason: "callback host proxy.kie.ai is denied by PEEL_CALLBACK_DENY (*.kie.ai)",
  });
});

test("exact hosts, IPs and CIDRs; a CIDR matches IP literals only (also IPv4-mapped IPv6)", () => {
  const p = new CallbackPolicy({ allow: [], deny: ["localhost", "10.0.0.0/8", "fd00::/8", "::1", "203.0.113.7"] });
  assert.equal(sends(p, "http://localhost:9/x"), false);
  assert.equal(sends(p, "http://LOCALHOST./x"), false);
  assert.equal(sends(p, "http://app.localhost/x"), true, "an exact host is not a suffix");
  assert.equal(sends(p, "http://10.200.0.1/x"), false);
  assert.equal(sends(p, "http://[::ffff:10.0.0.1]/x"), false);
  assert.equal(sends(p, "http://[fd12::1]/x"), false);
  assert.equal(sends(p, "http://[::1]:8080/x"), false);
  assert.equal(sends(p, "http://203.0.113.7/x"), false);
  assert.equal(sends(p, "http://203.0.113.8/x"), true);
  assert.equal(sends(p, "http://11.0.0.1/x"), true);
  assert.equal(sends(p, "http://ten.example/x"), true, "no DNS lookup: a name is not in a CIDR");
});

test("PEEL_CALLBACK_ALLOW lists exceptions; deny * plus an allow list admits only those hosts", () => {
  const except = new CallbackPolicy({ allow: ["hooks.kie.ai"], deny: ["*.kie.ai"] });
  assert.equal(sends(except, "https://hooks.kie.ai/x"), true);
  assert.equal(sends(except, "https://proxy.kie.ai/x"), false);
  const only = new CallbackPolicy({ allow: ["hooks.example.com", "*.corp.example"], deny: ["*"] });
  assert.equal(sends(only, "https://hooks.example.com/x"), true);
  assert.equal(sends(only, "https://a.corp.example/x"), true);
  assert.equal(sends(only, "https://other.example.com/x"), false);
  const off = new CallbackPolicy({ allow: ["*"], deny: ["*.kie.ai"] });
  assert.equal(sends(off, "https://proxy.kie.ai/x"), true);
  assert.equal(sends(new CallbackPolicy({ allow: [], deny: [] }), "https://proxy.kie.ai/x"), true);
});

test("an account's lists come first: its allow overrides the operator's deny, its deny blocks what the operator allows", () => {
  const p = new CallbackPolicy(DEFAULT);
  const partner: HostRules = { allow: ["proxy.kie.ai"], deny: [] };
  assert.equal(sends(p, "https://proxy.kie.ai/x", partner), true);
  assert.equal(sends(p, "https://api.kie.ai/x", partner), false, "the rest of the operator's deny still applies");
  const strict: HostRules = { allow: ["hooks.acme.example"], deny: ["*"] };
  assert.equal(sends(p, "https://hooks.acme.example/x", strict), true, "allow wins over deny within the account");
  assert.deepEqual(p.decide("https://elsewhere.example/x", strict), {
    send: false,
    host: "elsewhere.example",
    reason: "callback host elsewhere.example is denied by the account's callback policy (*)",
  });
});

test("hostPatternProblems names every bad entry", () => {
  assert.deepEqual(hostPatternProblems(["a.example", "*.b.example", "10.0.0.0/8", "::1", "[::1]", "*", "x_y.internal"], "L"), []);
  const bad = hostPatternProblems(["https://x.example/", "a b", "10.0.0.0/40", "*.", "**.x", "", 7], "deny");
  assert.equal(bad.length, 7, bad.join("\n"));
  assert.match(bad[0], /^deny: "https:\/\/x.example\/" is not a host name, \*\.suffix pattern, IP address or CIDR$/);
});

function task(over: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: "0123456789abcdef0123456789abcdef",
    accountId: "acc_1",
    keyId: "key_1",
    model: "nano-banana-pro",
    state: "success",
    param: "{}",
    input: { prompt: "p", imageUrls: [], aspectRatio: "1:1", resolution: "1K", outputFormat: "png" },
    callbackUrl: "https://proxy.kie.ai/cb?token=s3cret",
    price: 18,
    resultUrls: ["http://127.0.0.1/files/r/x.png"],
    failCode: null,
    failMsg: null,
    createTime: 1,
    updateTime: 2,
    generatingSince: 1,
    completeTime: 2,
    deadline: 10,
    attempts: 1,
    cancelRequested: false,
    consumedCredits: 18,
    ...over,
  };
}

test("the settlement hook records a denied callback as skipped, logs one line without the URL", () => {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const policy = new CallbackPolicy(DEFAULT, { info: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) });
  const hook = callbackOnSettle({ account: { unmetered: false, callbackPolicy: null }, unmeteredBalance: 0, now: 5, policy });
  const d = hook(task(), 982)!;
  assert.equal(d.skipReason, "callback host proxy.kie.ai is denied by PEEL_CALLBACK_DENY (*.kie.ai)");
  assert.equal(d.url, "https://proxy.kie.ai/cb?token=s3cret", "the delivery keeps its URL (a replay can still send it)");
  assert.equal(JSON.parse(d.payload).data.remainedCredits, 982);
  // called again (a retried transaction): still skipped, still one log line
  assert.ok(hook(task(), 982)?.skipReason);
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0].obj, { event: "callback:skipped", taskId: task().id, deliveryId: d.id, host: "proxy.kie.ai" });
  assert.ok(!JSON.stringify(lines).includes("s3cret"));

  // allowed destinations get a plain pending delivery; the account's rules are applied
  const ok = callbackOnSettle({ account: null, unmeteredBalance: 0, now: 5, policy })(
    task({ callbackUrl: "https://hooks.example.com/x" }),
    0,
  );
  assert.equal(ok?.skipReason, undefined);
  const partner = callbackOnSettle({
    account: { unmetered: false, callbackPolicy: { allow: ["proxy.kie.ai"], deny: [] } },
    unmeteredBalance: 0,
    now: 5,
    policy,
  })(task(), 0);
  assert.equal(partner?.skipReason, undefined);
  assert.equal(callbackOnSettle({ account: null, unmeteredBalance: 0, now: 5, policy })(task({ callbackUrl: null }), 0), null);
});
