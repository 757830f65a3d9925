import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { test, type TestContext } from "node:test";
import sharp from "sharp";
import { AdminOps } from "../../src/admin/operations.js";
import { loadConfig } from "../../src/config.js";
import { buildApp } from "../../src/http/app.js";
import { createLogger } from "../../src/ops/logger.js";
import { createRuntime } from "../../src/runtime.js";
import { FakeReceiver } from "../fakes/receiver.js";
import { until } from "../helpers/polling.js";
import { freePort } from "../helpers/ports.js";

/** Collects what a logger writes, line by line. */
class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString("utf8");
    done();
  }
  lines(): string[] {
    return this.text.split("\n").filter(Boolean);
  }
}

const ESC = String.fromCharCode(27);
const ANSI = new RegExp(`${ESC}\\[[0-9;]*m`, "g");

const cfg = (format: "auto" | "json" | "pretty") => ({ logLevel: "info", logFormat: format }) as const;

test("log format: JSON by default and when forced, readable lines on a terminal or when asked", () => {
  const cases: { format: "auto" | "json" | "pretty"; isTTY: boolean; json: boolean }[] = [
    { format: "auto", isTTY: false, json: true },
    { format: "auto", isTTY: true, json: false },
    { format: "json", isTTY: true, json: true },
    { format: "pretty", isTTY: false, json: false },
  ];
  for (const c of cases) {
    const out = new Capture();
    const log = createLogger(cfg(c.format), { stream: out, isTTY: c.isTTY });
    log.info({ event: "task:success", taskId: "abc123", apiKey: "peel_secret_value" }, "task succeeded");
    const line = out.lines()[0];
    assert.ok(line, `${JSON.stringify(c)} wrote nothing`);
    assert.ok(!line.includes("peel_secret_value"), `${JSON.stringify(c)} leaked: ${line}`);
    if (c.json) {
      const o = JSON.parse(line);
      assert.equal(o.msg, "task succeeded");
      assert.equal(o.taskId, "abc123");
      assert.equal(o.apiKey, "[redacted]");
    } else {
      assert.throws(() => JSON.parse(line), `${JSON.stringify(c)} should be readable, not JSON: ${line}`);
      assert.equal(out.text.includes(ESC), c.isTTY, "colours only on a terminal");
      const plain = out.text.replace(ANSI, "");
      assert.match(plain, /INFO: task succeeded/);
      assert.match(plain, /taskId: "abc123"/);
      assert.match(plain, /apiKey: "\[redacted\]"/);
    }
  }
});

/** A real server whose logger writes into `out` at `level`. */
async function serveWithLog(t: TestContext, level: string, out: Capture, env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-logs-"));
  const port = await freePort();
  const config = loadConfig({
    PORT: String(port),
    HOST: "127.0.0.1",
    PEEL_DATA_DIR: dataDir,
    PEEL_PUBLIC_URL: `http://127.0.0.1:${port}`,
    PEEL_LOG_LEVEL: level,
    PEEL_LOG_FORMAT: "json",
    PEEL_POLL_MS: "20",
    PEEL_CALLBACK_POLL_MS: "20",
    PEEL_OUTBOUND_ALLOW: "127.0.0.1",
    PEEL_ADMIN_TOKEN: "admin-token-0123456789-must-not-leak",
    PEEL_SECRET: "link-secret-0123456789-must-not-leak",
    PEEL_SHUTDOWN_GRACE_MS: "2000",
    ...env,
  });
  const runtime = await createRuntime(config, { logger: createLogger(config, { stream: out, isTTY: false }) });
  const app = await buildApp(runtime.ctx);
  await app.listen({ port, host: "127.0.0.1" });
  runtime.startBackground();
  t.after(async () => {
    await app.close();
    await runtime.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const admin = new AdminOps({ store: runtime.store, config, now: () => Date.now() });
  const account = await admin.createAccount({ name: "logs", credits: 1000 });
  const { key } = await admin.createKey({ name: "logs-key", accountId: account.id });
  const url = `http://127.0.0.1:${port}`;
  const call = async (method: string, p: string, body?: unknown, auth = `Bearer ${key}`) => {
    const res = await fetch(url + p, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json().catch(() => null)) as any };
  };
  return { config, runtime, admin, account, key, url, call };
}

test("logs: request lines carry the task and the account; no key, token, secret or signature in any line", async (t) => {
  const out = new Capture();
  const receiver = await FakeReceiver.start();
  t.after(() => receiver.close());
  const peel = await serveWithLog(t, "debug", out);
  const secrets = [peel.key, peel.config.adminToken!, peel.config.secret!];
  secrets.push(await peel.admin.rotateSigningSecret(peel.account.id, 0));
  secrets.push((await peel.admin.setHmacKey(peel.account.id))!);
  const wrongKey = "peel_guessed0123456789abcdefghij";
  secrets.push(wrongKey);

  // A task with a signed callback, read back, its result's download link fetched.
  const created = await peel.call("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: receiver.url("/hook"),
    input: { prompt: "a lighthouse" },
  });
  const taskId: string = created.json.data.taskId;
  const record = await until("the task to succeed", 20_000, async () => {
    const r = await peel.call("GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`);
    return r.json.data.state === "success" ? r.json.data : null;
  });
  await until("the callback", 10_000, async () => receiver.requests.length >= 1);
  const resultUrl: string = JSON.parse(record.resultJson).resultUrls[0];
  const link = await peel.call("POST", "/api/v1/common/download-url", { url: resultUrl });
  assert.match(link.json.data, /sig=[0-9a-f]{32}/);
  secrets.push(new URL(link.json.data).searchParams.get("sig")!);
  assert.equal((await fetch(link.json.data)).status, 200);
  // An upload, whose URL carries the account's file token.
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#fa0" } })
    .png()
    .toBuffer();
  const up = await peel.call("POST", "/api/file-base64-upload", {
    base64Data: `data:image/png;base64,${png.toString("base64")}`,
    uploadPath: "logs",
    fileName: "a.png",
  });
  assert.equal(up.json.code, 200, JSON.stringify(up.json));
  // The admin API, a rejected key, a cancel.
  assert.equal((await peel.call("GET", "/admin/v1/accounts", undefined, `Bearer ${peel.config.adminToken}`)).status, 200);
  assert.equal((await peel.call("GET", "/api/v1/chat/credit", undefined, `Bearer ${wrongKey}`)).json.code, 401);
  await peel.call("POST", "/api/v1/jobs/cancel", { taskId });
  await new Promise((r) => setTimeout(r, 100));

  const lines = out.lines();
  const all = lines.map((l) => JSON.parse(l) as Record<string, any>);
  for (const s of secrets) assert.ok(!out.text.includes(s), `a secret reached the log: ${s.slice(0, 6)}…`);
  assert.ok(!/\/files\/u\/[^/"]+\//.test(out.text), "no upload URL (account file token) in the log");

  const requests = all.filter((l) => l.event === "http:request");
  const byRoute = (route: string) => requests.filter((l) => l.route === route);
  const create = byRoute("/api/v1/jobs/createTask");
  assert.equal(create.length, 1);
  assert.equal(create[0].level, 30, "createTask is logged at info");
  assert.equal(create[0].taskId, taskId);
  assert.equal(create[0].accountId, peel.account.id);
  assert.equal(create[0].status, 200);
  const reads = byRoute("/api/v1/jobs/recordInfo");
  assert.ok(reads.length >= 1);
  for (const r of reads) {
    assert.equal(r.level, 20, "recordInfo is logged at debug");
    assert.equal(r.taskId, taskId);
    assert.equal(r.accountId, peel.account.id);
  }
  const cancel = byRoute("/api/v1/jobs/cancel");
  assert.equal(cancel[0].taskId, taskId);
  assert.equal(byRoute("/api/v1/chat/credit")[0].status, 200);
  assert.equal(byRoute("/api/v1/chat/credit")[0].accountId, undefined, "a rejected key has no account");
  const download = requests.find((l) => l.route.startsWith("/files/"));
  assert.ok(download && !download.route.includes(taskId), `the download is logged by its route pattern: ${download?.route}`);
  // The task's own lines carry its id too.
  assert.ok(all.some((l) => l.event === "task:success" && l.taskId === taskId));
});

test("logs: at info, the polling path (recordInfo) writes no request lines; createTask does", async (t) => {
  const out = new Capture();
  const peel = await serveWithLog(t, "info", out);
  const created = await peel.call("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt: "x" } });
  for (let i = 0; i < 5; i++) await peel.call("GET", `/api/v1/jobs/recordInfo?taskId=${created.json.data.taskId}`);
  const requests = out
    .lines()
    .map((l) => JSON.parse(l))
    .filter((l) => l.event === "http:request");
  assert.deepEqual(
    requests.map((l) => l.route),
    ["/api/v1/jobs/createTask"],
  );
});

test("logs: the generated link-signing secret file is not what the log shows either", async (t) => {
  const out = new Capture();
  const peel = await serveWithLog(t, "debug", out, { PEEL_SECRET: "" });
  await peel.call("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt: "x" } });
  const secret = readFileSync(path.join(peel.config.dataDir, "secret"), "utf8").trim();
  assert.ok(secret.length >= 32);
  assert.ok(!out.text.includes(secret));
});
