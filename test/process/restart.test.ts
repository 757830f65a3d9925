import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import sharp from "sharp";
import { FakeReceiver, plans, type RecordedRequest } from "../fakes/receiver.js";
import { sleep, until } from "../helpers/polling.js";
import { freePort } from "../helpers/ports.js";

/**
 * Crash recovery with real processes (docs/kie-contract.md §6.1: "a process restart never loses or rewinds
 * a task"; §7.1: callbacks are durable). Each case runs `peel serve` as a child process, kills it
 * with SIGKILL at a chosen moment, starts it again on the same data directory and checks that the
 * outcome is the same as without the crash: the task succeeds, is charged once, and its callback
 * arrives.
 *
 * The CLI runs from source through tsx (`node --import tsx src/cli.ts`), so no build step is needed
 * and the loader lives in the same process: the pid we SIGKILL is the server itself.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ADMIN_TOKEN = "restart-test-admin-token";
const PRICE = 18;
const INITIAL_CREDITS = 1000;
const TERMINAL = new Set(["success", "fail"]);
const STATE_ORDER = ["waiting", "queuing", "generating", "success", "fail"];

/** A peel data directory, port and environment shared by every process of one case. */
class PeelInstance {
  readonly dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-restart-"));
  readonly url: string;
  private readonly children = new Set<ChildProcess>();
  /** the tail of every child's output, printed when a case fails. */
  private readonly output: string[] = [];

  private constructor(
    readonly port: number,
    private readonly extraEnv: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async create(t: TestContext, extraEnv: Record<string, string> = {}): Promise<PeelInstance> {
    const peel = new PeelInstance(await freePort(), extraEnv);
    // Registered before anything can throw, so children never outlive the test.
    t.after(async () => {
      await peel.killAll();
      // On failure, the children's output tells what the servers did.
      // `passed` exists since Node 20.12; @types/node 20 does not declare it yet.
      if (!(t as TestContext & { passed?: boolean }).passed)
        for (const line of peel.logs().split("\n")) if (line) t.diagnostic(line);
      rmSync(peel.dataDir, { recursive: true, force: true });
    });
    return peel;
  }

  env(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    // A minimal environment: a GEMINI_API_KEY or PEEL_DATABASE_URL in the caller's shell must not
    // change which engine or database the child uses.
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      PORT: String(this.port),
      HOST: "127.0.0.1",
      PEEL_PUBLIC_URL: this.url,
      PEEL_DATA_DIR: this.dataDir,
      PEEL_ENGINE: "sandbox",
      PEEL_ADMIN_TOKEN: ADMIN_TOKEN,
      PEEL_OUTBOUND_ALLOW: "127.0.0.1",
      PEEL_LEASE_MS: "1500",
      PEEL_POLL_MS: "100",
      PEEL_CALLBACK_POLL_MS: "100",
      PEEL_READ_LIMIT: "0", // the test polls recordInfo faster than kie's 10/s
      PEEL_INITIAL_CREDITS: String(INITIAL_CREDITS),
      PEEL_LOG_LEVEL: "info",
      PEEL_METRICS_PORT: "0", // several servers run at once on this machine: no shared default port
      ...this.extraEnv,
      ...overrides,
    };
  }

  private spawnCli(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line) this.output.push(`[${args[0]} ${child.pid}] ${line}`);
      if (this.output.length > 300) this.output.splice(0, this.output.length - 300);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    return child;
  }

  /** `peel keys create --name t`: the key is printed alone on the last line. */
  async createKey(): Promise<{ key: string; accountId: string }> {
    const child = this.spawnCli(["keys", "create", "--name", "t"], this.env());
    let stdout = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    assert.equal(code, 0, `keys create failed:\n${this.logs()}`);
    const lines = stdout.trim().split("\n");
    const key = lines[lines.length - 1].trim();
    assert.match(key, /^peel_[0-9a-z]+$/);
    const accountId = /^account:\s+(\S+)/m.exec(stdout)?.[1];
    assert.ok(accountId, `no account id in:\n${stdout}`);
    return { key, accountId };
  }

  /** Starts `peel serve` and resolves once /healthz answers. */
  async serve(env: Record<string, string> = {}): Promise<ChildProcess> {
    const child = this.spawnCli(["serve"], this.env(env));
    let exited = false;
    child.once("exit", () => (exited = true));
    await until("peel serve to answer /healthz", 20_000, async () => {
      if (exited) throw new Error(`peel serve exited early:\n${this.logs()}`);
      try {
        return (await fetch(`${this.url}/healthz`)).ok;
      } catch {
        return false;
      }
    });
    return child;
  }

  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(child.pid!, "SIGKILL");
    await exited;
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.kill(c)));
  }

  logs(): string {
    return this.output.join("\n");
  }

  async api(key: string, method: string, p: string, body?: unknown): Promise<any> {
    const res = await fetch(this.url + p, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.equal(res.status, 200, `${method} ${p} → HTTP ${res.status}`);
    return res.json();
  }

  async admin(p: string): Promise<any> {
    const res = await fetch(this.url + p, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200, `GET ${p} → HTTP ${res.status}`);
    return ((await res.json()) as { data: any }).data;
  }

  async createTask(key: string, callBackUrl: string, prompt: string): Promise<string> {
    const res = await this.api(key, "POST", "/api/v1/jobs/createTask", {
      model: "nano-banana-pro",
      callBackUrl,
      input: { prompt, aspect_ratio: "16:9", resolution: "1K", output_format: "png" },
    });
    assert.equal(res.code, 200, JSON.stringify(res));
    return res.data.taskId;
  }

  async record(key: string, taskId: string): Promise<any> {
    const res = await this.api(key, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`);
    assert.equal(res.code, 200, JSON.stringify(res));
    return res.data;
  }

  /** The task's state straight from the database file (the server is dead; WAL makes this safe). */
  statesOnDisk(): Map<string, string> {
    const db = new Database(path.join(this.dataDir, "peel.db"), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT id, state FROM tasks").all() as { id: string; state: string }[];
      return new Map(rows.map((r) => [r.id, r.state]));
    } finally {
      db.close();
    }
  }
}

/** Watches one task through recordInfo, recording every state seen, so a rewind shows up. */
class StateLog {
  readonly seen: string[] = [];
  constructor(
    private peel: PeelInstance,
    private key: string,
    readonly taskId: string,
  ) {}

  async poll(): Promise<any> {
    const rec = await this.peel.record(this.key, this.taskId);
    if (this.seen[this.seen.length - 1] !== rec.state) this.seen.push(rec.state);
    return rec;
  }

  waitFor(state: string, timeoutMs: number): Promise<any> {
    return until(`task ${this.taskId} to reach ${state} (seen: ${this.seen.join(" → ")})`, timeoutMs, async () => {
      const rec = await this.poll();
      if (rec.state === state) return rec;
      if (TERMINAL.has(rec.state)) throw new Error(`task ${this.taskId} ended ${rec.state}: ${rec.failCode} ${rec.failMsg}`);
      return null;
    });
  }

  assertForwardOnly(): void {
    const idx = this.seen.map((s) => STATE_ORDER.indexOf(s));
    for (let i = 1; i < idx.length; i++) {
      assert.ok(idx[i] > idx[i - 1], `state went backwards: ${this.seen.join(" → ")}`);
    }
  }
}

/** Result URL serves a PNG of the 16:9 1K size (docs/gemini.md#ratios-and-sizes: 1376×768). */
async function assertResultImage(rec: any): Promise<void> {
  const urls: string[] = JSON.parse(rec.resultJson).resultUrls;
  assert.equal(urls.length, 1);
  const res = await fetch(urls[0]);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["png", 1376, 768]);
}

/** Exactly one hold and one capture per task, never a second charge or a release. */
async function assertChargedOnce(peel: PeelInstance, key: string, accountId: string, taskIds: string[]): Promise<void> {
  const credit = await peel.api(key, "GET", "/api/v1/chat/credit");
  assert.equal(credit.data, INITIAL_CREDITS - PRICE * taskIds.length);
  const ledger: { taskId: string | null; kind: string; amount: number }[] = await peel.admin(
    `/admin/v1/accounts/${accountId}/ledger?limit=1000`,
  );
  for (const id of taskIds) {
    const entries = ledger
      .filter((e) => e.taskId === id)
      .map((e) => `${e.kind}:${e.amount}`)
      .sort();
    assert.deepEqual(entries, ["capture:0", `hold:${-PRICE}`], `ledger of ${id}`);
  }
}

/** The success callback body of docs/kie-contract.md §7.2, checked against the task's record. */
function assertSuccessCallback(req: RecordedRequest, rec: any, remainedCredits: number): void {
  assert.equal(req.method, "POST");
  assert.match(String(req.headers["content-type"]), /^application\/json/);
  assert.match(String(req.headers["user-agent"]), /^peel\//);
  const body = JSON.parse(req.body);
  assert.equal(body.taskId, rec.taskId);
  assert.equal(body.code, 200);
  assert.equal(body.msg, "Playground task completed successfully.");
  const d = body.data;
  assert.equal(d.taskId, rec.taskId);
  assert.equal(d.task_id, rec.taskId);
  assert.equal(d.callbackType, "task_completed");
  assert.equal(d.state, "success");
  assert.equal(d.failCode, null);
  assert.equal(d.failMsg, null);
  assert.equal(d.consumeCredits, PRICE);
  assert.equal(d.creditsConsumed, PRICE);
  assert.equal(d.remainedCredits, remainedCredits);
  // Committed before the callback is sent, so a receiver calling recordInfo sees the same thing.
  for (const f of ["model", "param", "resultJson", "costTime", "completeTime", "createTime", "updateTime"]) {
    assert.deepEqual(d[f], rec[f], `callback data.${f}`);
  }
}

test("SIGKILL mid-generation: after restart the task succeeds, is charged once, and calls back once", async (t) => {
  const receiver = await FakeReceiver.start(plans.ok());
  t.after(() => receiver.close());
  const peel = await PeelInstance.create(t, { PEEL_SANDBOX_DELAY_MS: "3000" });
  const { key, accountId } = await peel.createKey();

  const first = await peel.serve();
  const log = new StateLog(peel, key, await peel.createTask(key, receiver.url("/hook"), "a lighthouse at dusk"));
  await log.waitFor("generating", 10_000);
  await peel.kill(first);
  const killedAt = Date.now();
  assert.equal(peel.statesOnDisk().get(log.taskId), "generating");
  assert.equal(receiver.requests.length, 0);

  await peel.serve();
  const rec = await log.waitFor("success", 20_000);
  log.assertForwardOnly();
  // The first run's 3 s of sandbox work was lost, so success comes at least one full run later.
  assert.ok(Date.now() - killedAt >= 3000);
  await assertResultImage(rec);
  assert.equal(rec.consumeCredits, PRICE);
  await assertChargedOnce(peel, key, accountId, [log.taskId]);

  await until("the callback", 10_000, async () => receiver.requests.length > 0);
  // The callback row is written only when the task settles, and the first process died before
  // that: nothing of its run can be sent again, so exactly one delivery with one attempt. (A crash
  // between a POST and the recording of its outcome could repeat it — §7.1 is at-least-once.)
  await until(
    "the delivery to be recorded",
    5_000,
    async () => (await peel.admin(`/admin/v1/deliveries?taskId=${log.taskId}`))[0]?.state === "delivered",
  );
  await sleep(300); // room for a duplicate to show up, if there were one
  assert.equal(receiver.requests.length, 1);
  assertSuccessCallback(receiver.requests[0], rec, INITIAL_CREDITS - PRICE);
  const deliveries = await peel.admin(`/admin/v1/deliveries?taskId=${log.taskId}`);
  assert.equal(deliveries.length, 1);
  assert.equal(deliveries[0].attemptCount, 1);
});

test("SIGKILL right after createTask: accepted tasks (waiting and generating) all complete after restart", async (t) => {
  const receiver = await FakeReceiver.start(plans.ok());
  t.after(() => receiver.close());
  // Five tasks against the default 4 running per account: at the kill, some are claimed and one
  // is still waiting or queuing.
  const peel = await PeelInstance.create(t, { PEEL_SANDBOX_DELAY_MS: "1500" });
  const { key, accountId } = await peel.createKey();

  const first = await peel.serve();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await peel.createTask(key, receiver.url(`/hook/${i}`), `task ${i}`));
  await peel.kill(first);

  const onDisk = peel.statesOnDisk();
  // Every 200 answer was committed before it was sent.
  assert.deepEqual([...onDisk.keys()].sort(), [...ids].sort());
  const states = ids.map((id) => onDisk.get(id)!);
  t.diagnostic(`states at the kill: ${states.join(", ")}`);
  assert.ok(
    states.every((s) => !TERMINAL.has(s)),
    `already terminal: ${states}`,
  );
  assert.ok(
    states.some((s) => s === "waiting" || s === "queuing"),
    `none still waiting: ${states}`,
  );

  await peel.serve();
  const logs = ids.map((id) => new StateLog(peel, key, id));
  const recs = await Promise.all(logs.map((l) => l.waitFor("success", 25_000)));
  for (const l of logs) l.assertForwardOnly();
  await assertResultImage(recs[4]);
  await assertChargedOnce(peel, key, accountId, ids);

  await until("five callbacks", 10_000, async () => receiver.requests.length >= 5);
  for (let i = 0; i < 5; i++) {
    const got = receiver.at(`/hook/${i}`);
    assert.equal(got.length, 1, `callbacks for task ${i}`);
    assert.equal(JSON.parse(got[0].body).taskId, ids[i]);
  }
});

test("SIGKILL while a callback waits for its retry: after restart the retry is delivered", async (t) => {
  // 500 on the first attempt; the schedule's next try is 5 s (±20 %) later (docs/kie-contract.md §7.1).
  const receiver = await FakeReceiver.start(plans.failThenSucceed(1, 500));
  t.after(() => receiver.close());
  const peel = await PeelInstance.create(t, { PEEL_SANDBOX_DELAY_MS: "0" });
  const { key } = await peel.createKey();

  const first = await peel.serve();
  const taskId = await peel.createTask(key, receiver.url("/hook"), "a retried callback");
  // Kill only once the failed attempt is recorded. Killed between the POST and that record, the
  // delivery would stay leased to the dead process (timeout × 3 + 30 s by default) before a retry.
  const pending = await until("the first attempt to be recorded", 15_000, async () => {
    const [d] = await peel.admin(`/admin/v1/deliveries?taskId=${taskId}`);
    return d && d.attemptCount === 1 && d.state === "pending" ? d : null;
  });
  assert.equal(pending.lastStatus, 500);
  await peel.kill(first);
  assert.equal(receiver.requests.length, 1);
  assert.equal(receiver.requests[0].method, "POST");

  await peel.serve();
  await until("the retried callback", 15_000, async () => receiver.requests.length >= 2);
  const retryGap = receiver.requests[1].receivedAt - receiver.requests[0].receivedAt;
  assert.ok(retryGap >= 3500, `retry came after ${retryGap} ms, before the schedule's 5 s ±20 %`);
  // The body is identical on every attempt (§7.1).
  assert.equal(receiver.requests[1].body, receiver.requests[0].body);
  const rec = await peel.record(key, taskId);
  assert.equal(rec.state, "success");
  assertSuccessCallback(receiver.requests[1], rec, INITIAL_CREDITS - PRICE);
  const [d] = await until("the delivery to be marked delivered", 5_000, async () => {
    const list = await peel.admin(`/admin/v1/deliveries?taskId=${taskId}`);
    return list[0]?.state === "delivered" ? list : null;
  });
  assert.equal(d.attemptCount, 2);
  await sleep(300);
  assert.equal(receiver.requests.length, 2);
});
