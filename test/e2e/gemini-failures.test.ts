import { randomUUID } from "node:crypto";
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { startFakeGemini, type FakeGemini, type FakeRequest, type FakeScenario } from "../fakes/fake-gemini.js";
import { FakeReceiver } from "../fakes/receiver.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";

// Issue 3: every upstream outcome, provoked through the whole peel path (createTask → worker →
// GeminiEngine → fake Google → settle → callback), ends in the docs/kie-contract.md §6.3 state, failCode
// and failMsg after the number of upstream attempts docs/gemini.md#reading-a-reply and #retries prescribe, releases the
// held credits and sends a callback. No task stays in `generating`.

const BUSY = "Upstream service is busy, please try again later";
const INTERNAL = "Internal server error";
const NO_IMAGE = "Generation failed: the model returned no image";

interface Rig {
  fake: FakeGemini;
  receiver: FakeReceiver;
  peel: TestPeel;
}

async function startRig(env: Record<string, string> = {}): Promise<Rig & { close(): Promise<void> }> {
  const fake = await startFakeGemini({ imageMode: "tiny" });
  const receiver = await FakeReceiver.start();
  const peel = await startPeel({
    env: {
      PEEL_ENGINE: "gemini",
      GEMINI_API_KEY: "test-key",
      PEEL_GEMINI_BASE_URL: fake.url,
      PEEL_WORKER_CONCURRENCY: "16",
      PEEL_MAX_RUNNING_PER_ACCOUNT: "16",
      ...env,
    },
  });
  return {
    fake,
    receiver,
    peel,
    async close() {
      await peel.close();
      await receiver.close();
      await fake.close();
    },
  };
}

interface Outcome {
  rec: any;
  /** the upstream requests this task made, in order. */
  attempts: FakeRequest[];
  callback: any;
  /** the account's credits before the task and after it settled. */
  credits: { before: number; after: number };
}

/**
 * Runs one task on a fresh 100-credit account; `prompt` may carry a `[[fake:...]]` marker. A nonce
 * in the prompt ties upstream requests to the task.
 */
async function runTask(rig: Rig, prompt: string, input: Record<string, unknown> = {}): Promise<Outcome> {
  const { peel, fake, receiver } = rig;
  const { key } = await peel.newKey({ credits: 100, limits: { createMax: 0, readMax: 0 } });
  const credit = async () => (await peel.api("GET", "/api/v1/chat/credit", undefined, { key })).json.data as number;
  const nonce = randomUUID();
  const created = await peel.api(
    "POST",
    "/api/v1/jobs/createTask",
    {
      model: "nano-banana-pro",
      callBackUrl: receiver.url(`/hook/${nonce}`),
      input: { prompt: `${prompt} (${nonce})`, ...input },
    },
    { key },
  );
  assert.equal(created.json?.code, 200, created.text);
  const taskId: string = created.json.data.taskId;
  const rec = await peel.waitForTask(taskId, { key, timeoutMs: 30_000 });
  const callback = await waitFor(() => receiver.at(`/hook/${nonce}`)[0], `callback for ${taskId}`);
  return {
    rec,
    attempts: fake.requests.filter((r) => JSON.stringify(r.body).includes(nonce)),
    callback: JSON.parse(callback.body),
    credits: { before: 100, after: await credit() },
  };
}

async function waitFor<T>(get: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The checks every failed task must pass, whatever its cause. */
function assertFailed(o: Outcome, failCode: string, failMsg: string, attempts: number): void {
  assert.equal(o.rec.state, "fail");
  assert.equal(o.rec.failCode, failCode);
  assert.equal(o.rec.failMsg, failMsg);
  assert.equal(o.rec.consumeCredits, 0);
  assert.equal(o.attempts.length, attempts, `upstream attempts: ${o.attempts.map((a) => a.scenario).join(", ")}`);
  // callback (docs/kie-contract.md §7.2): code 501, the same failCode/failMsg, nothing charged
  assert.equal(o.callback.code, 501);
  assert.equal(o.callback.taskId, o.rec.taskId);
  assert.equal(o.callback.data.state, "fail");
  assert.equal(o.callback.data.failCode, failCode);
  assert.equal(o.callback.data.failMsg, failMsg);
  assert.equal(o.callback.data.consumeCredits, 0);
  assert.equal(o.callback.data.remainedCredits, 100);
  // the hold was released in full
  assert.equal(o.credits.after, o.credits.before);
}

let rig: Rig & { close(): Promise<void> };
before(async () => {
  // 1 s is the smallest attempt timeout config accepts; only `hang` ever reaches it.
  rig = await startRig({ PEEL_GEMINI_TIMEOUT_MS: "1000" });
});
after(() => rig.close());

test("a per-minute 429 is retried after RetryInfo's 2 s and then succeeds", async () => {
  // enqueue wins over markers: the first upstream call gets the 429, the next the default `ok`
  rig.fake.enqueue("rate_limit_minute");
  const o = await runTask(rig, "a lighthouse");
  assert.equal(o.rec.state, "success");
  assert.equal(o.rec.consumeCredits, 18);
  assert.deepEqual(
    o.attempts.map((a) => a.scenario),
    ["rate_limit_minute", "ok"],
  );
  const gap = o.attempts[1].receivedAt - o.attempts[0].receivedAt;
  assert.ok(gap >= 1950 && gap < 4000, `gap between attempts ${gap} ms (RetryInfo 2 s + ≤ 20 % jitter)`);
  assert.equal(o.callback.code, 200);
  assert.equal(o.credits.after, 100 - 18);
});

/** scenario → [failCode, failMsg, upstream attempts] */
const FAILURES: Array<[FakeScenario, string, string, number]> = [
  // content outcomes (docs/gemini.md#reading-a-reply): blocks are final, "no image" gets exactly one more try
  ["prompt_blocked", "422", "The prompt was blocked by the content policy", 1],
  ["image_safety", "422", "The generated image was blocked by the content policy", 1],
  ["no_image", "501", NO_IMAGE, 2],
  ["text_only", "501", NO_IMAGE, 2],
  // transient HTTP failures (§9.3): the whole budget of PEEL_GEMINI_ATTEMPTS = 3, then busy
  ["internal", "500", BUSY, 3],
  ["overloaded", "500", BUSY, 3],
  ["deadline", "500", BUSY, 3],
  ["rate_limit_minute", "500", BUSY, 3],
  // a request or configuration fault: no retry can help
  ["model_not_found", "500", INTERNAL, 1],
  ["bad_request", "500", INTERNAL, 1],
  // our own attempt timeout: retried once only (Google may still finish — and bill — the call)
  ["hang", "500", BUSY, 2],
];

test("each failure switch ends in its failCode and failMsg after the right number of attempts", {
  concurrency: true,
}, async (t: TestContext) => {
  await Promise.all(
    FAILURES.map(([scenario, failCode, failMsg, attempts]) =>
      t.test(`${scenario} → ${failCode} after ${attempts} attempt(s)`, async () => {
        const o = await runTask(rig, `a lighthouse [[fake:${scenario}]]`);
        assertFailed(o, failCode, failMsg, attempts);
        if (scenario === "rate_limit_minute") {
          for (let i = 1; i < o.attempts.length; i++) {
            const gap = o.attempts[i].receivedAt - o.attempts[i - 1].receivedAt;
            assert.ok(gap >= 1950, `attempt ${i + 1} came ${gap} ms after the previous one; RetryInfo says 2 s`);
          }
        }
      }),
    ),
  );
  // nothing left behind: every task of this file is terminal
  const counts = await rig.peel.runtime.store.countTasks();
  assert.equal((counts.waiting ?? 0) + (counts.queuing ?? 0) + (counts.generating ?? 0), 0, JSON.stringify(counts));
});

test("a per-day quota fails busy at once and the next task does not call Google at all", async (t) => {
  const day = await startRig();
  t.after(() => day.close());
  const first = await runTask(day, "a lighthouse [[fake:rate_limit_day]]");
  assertFailed(first, "500", BUSY, 1);
  const requestsSoFar = day.fake.requests.length;
  const second = await runTask(day, "a lighthouse, again");
  assertFailed(second, "500", BUSY, 0);
  assert.equal(day.fake.requests.length, requestsSoFar, "the exhausted daily quota is not hammered");
});

test("a rejected API key fails with Internal server error after one attempt", async (t) => {
  const bad = await startRig({ GEMINI_API_KEY: "wrong-key" });
  t.after(() => bad.close());
  const o = await runTask(bad, "a lighthouse");
  assertFailed(o, "500", INTERNAL, 1);
  assert.equal(o.attempts[0].headers["x-goog-api-key"], "[redacted]");
  assert.equal((bad.peel.runtime.engine as { healthy?: boolean }).healthy, false);
});

test("a task whose deadline passes while Google hangs fails as timed out, not stuck in generating", async (t) => {
  const slow = await startRig({ PEEL_TASK_DEADLINE_MS: "1500" });
  t.after(() => slow.close());
  const started = Date.now();
  const o = await runTask(slow, "a lighthouse [[fake:hang]]");
  assertFailed(o, "500", "Generation timed out, please try again later", 1);
  assert.ok(Date.now() - started < 5000);
});

test("a retired model id (404) fails with Internal server error after one attempt", async (t) => {
  const old = await startRig({ PEEL_GEMINI_MODEL: "gemini-3-pro-image-preview" });
  t.after(() => old.close());
  const o = await runTask(old, "a lighthouse");
  assertFailed(o, "500", INTERNAL, 1);
  assert.equal(o.attempts[0].model, "gemini-3-pro-image-preview");
  assert.match((old.peel.runtime.engine as { lastError?: string }).lastError ?? "", /gemini-3-pro-image-preview/);
});
