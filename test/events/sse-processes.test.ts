import assert from "node:assert/strict";
import { after, test, type TestContext } from "node:test";
import { PG_SKIP, PG_URL, createSchema, dropSchema, endAdmin, urlWith } from "../store/postgres-fixture.js";
import { Cluster } from "./cluster.js";
import { openSse } from "./sse-reader.js";

/**
 * Events across processes: an API process serves the stream, a separate worker process runs the
 * task. The worker polls only once a minute here, so the task starting within seconds shows that
 * the created event woke it; the stream reaching `success` shows that the worker's events reached
 * the API process. PostgreSQL LISTEN/NOTIFY, Redis pub/sub, and SQLite without either (the API
 * process then re-reads watched tasks itself).
 */

const REDIS_URL = process.env.PEEL_TEST_REDIS_URL ?? null;
const BODY = {
  model: "nano-banana-pro",
  input: { prompt: "a harbour at night", aspect_ratio: "16:9", resolution: "1K", output_format: "png" },
};

async function runThrough(t: TestContext, cluster: Cluster, opts: { workerPollMs: string }) {
  t.after(async () => {
    if ((t as TestContext & { passed?: boolean }).passed === false) for (const l of cluster.logs().split("\n")) t.diagnostic(l);
    await cluster.stop();
  });
  await cluster.start("api");
  await cluster.start("worker", { PEEL_POLL_MS: opts.workerPollMs, PEEL_SANDBOX_DELAY_MS: "300" });
  const key = await cluster.newKey();
  // the worker has done its first (empty) pass and now sleeps for its long poll interval
  await new Promise((r) => setTimeout(r, 500));
  const started = Date.now();
  const created = await fetch(`${cluster.url}/api/v1/jobs/createTask`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(BODY),
  }).then((r) => r.json() as Promise<{ code: number; data: { taskId: string } }>);
  assert.equal(created.code, 200);
  const id = created.data.taskId;
  const s = await openSse(`${cluster.url}/api/v1/jobs/events?taskId=${id}`, { authorization: `Bearer ${key}` });
  assert.equal(s.status, 200);
  assert.match(s.headers.get("content-type") ?? "", /^text\/event-stream/);
  const success = await s.next((e) => e.event === "state" && JSON.parse(e.data).state === "success", 30_000);
  await s.next((e) => e.event === "end");
  await s.closed;
  const view = JSON.parse(success.data);
  assert.equal(view.taskId, id);
  const url = JSON.parse(view.resultJson).resultUrls[0];
  assert.equal((await fetch(url)).status, 200, "the API process serves the worker's result");
  return {
    elapsedMs: Date.now() - started,
    states: s.events.filter((e) => e.event === "state").map((e) => JSON.parse(e.data).state),
  };
}

if (PG_URL) after(endAdmin);

test("PostgreSQL LISTEN/NOTIFY: api and worker processes", { skip: PG_URL ? false : PG_SKIP }, async (t) => {
  const schema = await createSchema();
  t.after(() => dropSchema(schema));
  const cluster = new Cluster({ PEEL_DATABASE_URL: urlWith({ schema, pool_size: "4" }) });
  const { elapsedMs, states } = await runThrough(t, cluster, { workerPollMs: "60000" });
  assert.ok(elapsedMs < 30_000, `woken by the event, not the 60 s poll (${elapsedMs} ms)`);
  assert.ok(states.includes("generating"), states.join());
});

test("Redis pub/sub: api and worker processes on PostgreSQL", {
  skip: !PG_URL ? PG_SKIP : !REDIS_URL ? "PEEL_TEST_REDIS_URL is not set; Redis events test skipped" : false,
}, async (t) => {
  const schema = await createSchema();
  t.after(() => dropSchema(schema));
  const cluster = new Cluster({
    PEEL_DATABASE_URL: urlWith({ schema, pool_size: "4" }),
    PEEL_REDIS_URL: REDIS_URL!,
  });
  const { elapsedMs } = await runThrough(t, cluster, { workerPollMs: "60000" });
  assert.ok(elapsedMs < 30_000, `woken by the event, not the 60 s poll (${elapsedMs} ms)`);
});

test("SQLite with api and worker processes and no Redis: the stream still ends", async (t) => {
  const cluster = new Cluster({});
  cluster.env.PEEL_DATABASE_URL = `sqlite:${cluster.dataDir}/peel.db`;
  await runThrough(t, cluster, { workerPollMs: "200" });
});
