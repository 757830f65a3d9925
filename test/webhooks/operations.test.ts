import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { FakeReceiver, plans } from "../fakes/receiver.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { verifyKieSignature, verifyStandardWebhook } from "../../src/webhooks/verify.js";

/**
 * Callbacks through the whole product: createTask → settle → signed POST, the address policy at
 * createTask, and the operations surface (admin API and `peel deliveries` commands).
 */
const ADMIN = "admin-token-for-tests";

async function peelWithAdmin(t: import("node:test").TestContext, env: Record<string, string> = {}): Promise<TestPeel> {
  const peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: ADMIN, ...env } });
  t.after(() => peel.close());
  return peel;
}

async function admin(peel: TestPeel, method: string, path: string, body?: unknown) {
  const res = await fetch(peel.url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: (await res.json()) as any };
}

async function until<T>(fn: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a settled task's callback arrives signed with both schemes; the delivery and its attempts are listed", async (t) => {
  const peel = await peelWithAdmin(t);
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());
  const hmac = (await admin(peel, "PUT", `/admin/v1/accounts/${peel.account.id}/webhook-hmac-key`, {})).json.data.hmacKey;
  const whsec = (await admin(peel, "POST", `/admin/v1/accounts/${peel.account.id}/webhook-secret`, { overlapHours: 1 })).json.data
    .secret;
  assert.match(whsec, /^whsec_/);

  const created = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: rx.url("/kie"),
    input: { prompt: "a signed lighthouse" },
  });
  const taskId = created.json.data.taskId;
  await until(async () => rx.requests.length >= 1);
  const req = rx.requests[0];
  const body = JSON.parse(req.body);
  assert.equal(body.taskId, taskId);
  assert.equal(body.code, 200);
  assert.equal(body.data.task_id, taskId);
  assert.equal(body.data.state, "success");
  assert.equal(body.data.consumeCredits, 18);
  assert.equal(body.data.remainedCredits, 982);
  assert.equal(req.headers["content-type"], "application/json");
  assert.match(String(req.headers["user-agent"]), /^peel\//);
  assert.ok(verifyKieSignature(body, req.headers as Record<string, string>, hmac));
  assert.ok(verifyStandardWebhook(req.body, req.headers as Record<string, string>, whsec));
  assert.equal(verifyStandardWebhook(req.body + " ", req.headers as Record<string, string>, whsec), false);

  // the record matches what the callback said
  const rec = await peel.waitForTask(taskId);
  assert.equal(rec.state, "success");
  assert.equal(body.data.resultJson, rec.resultJson);

  const list = await until(async () => {
    const r = await admin(peel, "GET", `/admin/v1/deliveries?taskId=${taskId}`);
    return r.json.data.length === 1 && r.json.data[0].state === "delivered" ? r : undefined;
  });
  const dlv = list.json.data[0];
  assert.equal(dlv.webhookId, req.headers["webhook-id"]);
  const detail = await admin(peel, "GET", `/admin/v1/deliveries/${dlv.id}`);
  assert.equal(detail.json.data.attempts.length, 1);
  assert.equal(detail.json.data.attempts[0].statusCode, 200);
  assert.equal(typeof detail.json.data.attempts[0].latencyMs, "number");
  const byAccount = await admin(peel, "GET", `/admin/v1/deliveries?accountId=${peel.account.id}`);
  assert.ok(byAccount.json.data.some((d: { id: string }) => d.id === dlv.id));

  // replay: delivered again, same webhook-id, same body
  const replay = await admin(peel, "POST", `/admin/v1/deliveries/${dlv.id}/replay`);
  assert.equal(replay.status, 200);
  await until(async () => rx.requests.length >= 2);
  assert.equal(rx.requests[1].headers["webhook-id"], req.headers["webhook-id"]);
  assert.equal(rx.requests[1].body, req.body);
});

test("a failed task's callback carries code 501 and its failCode", async (t) => {
  const peel = await peelWithAdmin(t);
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());
  const missing = await FakeReceiver.start(plans.status(404));
  t.after(() => missing.close());
  const created = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: rx.url(),
    input: { prompt: "edit this", image_input: [missing.url("/nope.png")] },
  });
  await until(async () => rx.requests.length >= 1);
  const body = JSON.parse(rx.requests[0].body);
  assert.equal(body.taskId, created.json.data.taskId);
  assert.equal(body.code, 501);
  assert.equal(body.msg, "Playground task failed.");
  assert.equal(body.data.state, "fail");
  assert.equal(body.data.failCode, "422");
  assert.equal(body.data.failMsg, `Invalid image_input: ${missing.url("/nope.png")}`);
  assert.equal(body.data.resultJson, null);
  assert.equal(body.data.consumeCredits, 0);
  assert.equal(body.data.remainedCredits, 1000);
});

test("callBackUrl at a loopback, private, link-local or metadata address is refused at createTask", async (t) => {
  const peel = await startPeel({ env: { PEEL_OUTBOUND_ALLOW: "" } });
  t.after(() => peel.close());
  for (const url of [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://0.0.0.0/hook",
  ]) {
    const res = await peel.api("POST", "/api/v1/jobs/createTask", {
      model: "nano-banana-pro",
      callBackUrl: url,
      input: { prompt: "x" },
    });
    assert.equal(res.status, 200, url);
    assert.equal(res.json.code, 422, url);
    assert.match(res.json.msg, /^callBackUrl is not allowed/, url);
    assert.equal(res.json.data, null);
  }
  // nothing was created or charged
  assert.equal((await peel.api("GET", "/api/v1/chat/credit")).json.data, 1000);
  // a public host name is accepted (checked again after DNS at delivery time)
  const ok = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: "https://hooks.example.com/kie",
    input: { prompt: "x" },
  });
  assert.equal(ok.json.code, 200);
});

test("replay-failed re-sends every failed delivery since a time; test events reach a URL", async (t) => {
  const peel = await peelWithAdmin(t);
  let failing = true;
  const rx = await FakeReceiver.start(() => ({ status: failing ? 410 : 200 }));
  t.after(() => rx.close());
  const since = Date.now() - 1000;
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await peel.api("POST", "/api/v1/jobs/createTask", {
      model: "nano-banana-pro",
      callBackUrl: rx.url(),
      input: { prompt: `t${i}` },
    });
    ids.push(r.json.data.taskId);
  }
  // 410 stops each delivery after one attempt
  await until(async () => {
    const r = await admin(peel, "GET", `/admin/v1/deliveries?accountId=${peel.account.id}&state=stopped`);
    return r.json.data.length === 3;
  });
  assert.equal(rx.requests.length, 3);
  failing = false;
  const replay = await admin(peel, "POST", "/admin/v1/deliveries/replay-failed", { since, accountId: peel.account.id });
  assert.equal(replay.json.data.replayed, 3);
  await until(async () => rx.requests.length >= 6);
  const firstIds = rx.requests
    .slice(0, 3)
    .map((r) => r.headers["webhook-id"])
    .sort();
  const againIds = rx.requests
    .slice(3, 6)
    .map((r) => r.headers["webhook-id"])
    .sort();
  assert.deepEqual(againIds, firstIds);

  const testEvent = await admin(peel, "POST", "/admin/v1/webhooks/test", { url: rx.url("/test"), accountId: peel.account.id });
  assert.equal(testEvent.status, 200);
  assert.equal(testEvent.json.data.statusCode, 200);
  assert.equal(rx.requests.at(-1)!.path, "/test");
  assert.equal(JSON.parse(rx.requests.at(-1)!.body).type, "peel.test");

  // a test event to a forbidden address is refused and nothing is sent
  const blocked = await admin(peel, "POST", "/admin/v1/webhooks/test", {
    url: "http://169.254.169.254/",
    accountId: peel.account.id,
  });
  assert.equal(blocked.json.data.statusCode, null);
  assert.match(blocked.json.data.error, /refused/);
});

test("peel deliveries commands list, show and replay through the admin API", async (t) => {
  const peel = await peelWithAdmin(t);
  const rx = await FakeReceiver.start(plans.ok());
  t.after(() => rx.close());
  const created = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: rx.url(),
    input: { prompt: "cli" },
  });
  const taskId = created.json.data.taskId;
  await until(async () => rx.requests.length >= 1);
  const env = {
    ...process.env,
    PEEL_ADMIN_URL: peel.url,
    PEEL_ADMIN_TOKEN: ADMIN,
    PEEL_DATA_DIR: peel.dataDir,
    PEEL_LOG_LEVEL: "silent",
  };
  // Asynchronous: the CLI talks to the server living in this very process.
  const cli = async (...args: string[]) =>
    (await promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { env })).stdout;
  const list = JSON.parse(await cli("deliveries", "list", "--task", taskId));
  assert.equal(list.length, 1);
  const shown = JSON.parse(await cli("deliveries", "show", list[0].id));
  assert.equal(shown.attempts.length, 1);
  await cli("deliveries", "replay", list[0].id);
  await until(async () => rx.requests.length >= 2);
  assert.equal(rx.requests[1].headers["webhook-id"], rx.requests[0].headers["webhook-id"]);
});
