import assert from "node:assert/strict";
import { test } from "node:test";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { sleep, until } from "../helpers/polling.js";
import { openSse, type SseEvent } from "./sse-reader.js";

/**
 * GET /api/v1/jobs/events on embedded SQLite (in-process events): the stream a client sees, its
 * ids and resume, its end, its errors, and each place that publishes a state change.
 */

const BODY = (prompt = "a lighthouse") => ({
  model: "nano-banana-pro",
  input: { prompt, aspect_ratio: "1:1", resolution: "1K", output_format: "png" },
});

async function create(peel: TestPeel, key?: string): Promise<string> {
  const r = await peel.api("POST", "/api/v1/jobs/createTask", BODY(), { key });
  assert.equal(r.json.code, 200, r.text);
  return r.json.data.taskId;
}

const events = (peel: TestPeel, query: string, headers: Record<string, string> = {}, key = peel.key) =>
  openSse(`${peel.url}/api/v1/jobs/events?${query}`, { authorization: `Bearer ${key}`, ...headers });

const states = (evs: SseEvent[]) => evs.filter((e) => e.event === "state").map((e) => JSON.parse(e.data).state);

test("a task's stream: waiting, generating, success, then end; data is recordInfo's", async (t) => {
  const peel = await startPeel({ background: false, env: { PEEL_SANDBOX_DELAY_MS: "300" } });
  t.after(() => peel.close());
  const id = await create(peel);
  const s = await events(peel, `taskId=${id}`);
  assert.equal(s.status, 200);
  assert.match(s.headers.get("content-type") ?? "", /^text\/event-stream/);
  assert.equal(s.headers.get("cache-control"), "no-cache, no-transform");
  const first = await s.next((e) => e.event === "state");
  const waiting = JSON.parse(first.data);
  assert.equal(waiting.state, "waiting");
  assert.equal(s.retry, 3000);
  assert.equal(waiting.queuePosition, 0);
  assert.equal(first.id, `${id}.waiting.${waiting.updateTime}.0`);

  peel.runtime.startBackground();
  const success = await s.next((e) => e.event === "state" && JSON.parse(e.data).state === "success");
  const end = await s.next((e) => e.event === "end");
  await s.closed;
  assert.equal(end.id, "end");
  assert.deepEqual(JSON.parse(end.data), { taskIds: [id] });
  // states only move forward, and the worker's claim is seen on the way
  const seen = states(s.events);
  assert.equal(seen[0], "waiting");
  assert.ok(seen.includes("generating"), seen.join());
  assert.equal(seen.at(-1), "success");
  assert.deepEqual(
    [...seen].sort((a, b) => order(a) - order(b)),
    seen,
  );
  // the data is exactly what recordInfo answers now
  const record = (await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${id}`)).json.data;
  assert.deepEqual(JSON.parse(success.data), record);
  assert.ok(JSON.parse(record.resultJson).resultUrls[0].startsWith(peel.url));
  assert.equal(s.events.at(-1)?.event, "end");
});

const order = (s: string) => ["waiting", "queuing", "generating", "success", "fail"].indexOf(s);

test("resume: Last-Event-ID gets the current state again; after `end` it answers 204", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const id = await create(peel);
  const s1 = await events(peel, `taskId=${id}`);
  const first = await s1.next((e) => e.event === "state");
  s1.abort();
  // the same state again on resume, with the same id: a client can tell it already has it
  const s2 = await events(peel, `taskId=${id}`, { "last-event-id": first.id! });
  const again = await s2.next((e) => e.event === "state");
  assert.equal(again.id, first.id);
  assert.equal(again.data, first.data);
  peel.runtime.startBackground();
  await s2.next((e) => e.event === "end");
  await s2.closed;
  // a finished task streams its final state and ends at once
  const s3 = await events(peel, `taskId=${id}`, { "last-event-id": first.id! });
  await s3.closed;
  assert.deepEqual(states(s3.events), ["success"]);
  assert.equal(s3.events.at(-1)?.id, "end");
  // resuming after the end: 204 No Content (a browser's EventSource stops reconnecting)
  const s4 = await events(peel, `taskId=${id}`, { "last-event-id": "end" });
  assert.equal(s4.status, 204);
});

test("errors before the stream answer in the kie envelope; other accounts' tasks are not found", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const mine = await create(peel);
  const other = await peel.newKey();
  const theirs = await create(peel, other.key);
  const cases: [string, string | null, number, number, string][] = [
    ["", peel.key, 200, 400, "taskId parameter is required"],
    ["taskIds=,,", peel.key, 200, 400, "taskId parameter is required"],
    [`taskId=${theirs}`, peel.key, 200, 422, "recordInfo is null"],
    [`taskIds=${mine},${theirs}`, peel.key, 200, 422, "recordInfo is null"],
    ["taskId=0123456789abcdef0123456789abcdef", peel.key, 200, 422, "recordInfo is null"],
    [`taskId=${encodeURIComponent("../x y")}`, peel.key, 200, 422, "recordInfo is null"],
    [
      `taskIds=${Array.from({ length: 101 }, (_, i) => i).join(",")}`,
      peel.key,
      200,
      422,
      "taskIds cannot contain more than 100 items",
    ],
    [`taskId=${mine}`, null, 200, 401, "You do not have access permissions"],
    [`taskId=${mine}`, "peel_wrong", 200, 401, "You do not have access permissions"],
  ];
  for (const [q, key, http, code, msg] of cases) {
    const res = await fetch(`${peel.url}/api/v1/jobs/events?${q}`, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });
    assert.equal(res.status, http, q);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/, q);
    assert.deepEqual(await res.json(), { code, msg, data: null }, q);
  }
  // the owner of the other task does see it
  const s = await events(peel, `taskId=${theirs}`, {}, other.key);
  assert.equal(JSON.parse((await s.next((e) => e.event === "state")).data).taskId, theirs);
  s.abort();
});

test("several tasks: the stream ends after the last one; cancel and the worker both publish", async (t) => {
  const peel = await startPeel({ background: false, env: { PEEL_SANDBOX_DELAY_MS: "200" } });
  t.after(() => peel.close());
  const a = await create(peel);
  const b = await create(peel);
  const s = await events(peel, `taskIds=${a},${b},${a}`);
  await s.next((e) => e.event === "state" && JSON.parse(e.data).taskId === b);
  const canceled = await peel.api("POST", "/api/v1/jobs/cancel", { taskId: a });
  assert.equal(canceled.json.data.state, "fail");
  const failA = JSON.parse((await s.next((e) => e.event === "state" && JSON.parse(e.data).state === "fail")).data);
  assert.equal(failA.taskId, a);
  assert.equal(failA.failCode, "canceled");
  assert.ok(!s.events.some((e) => e.event === "end"), "not over while b is unfinished");
  peel.runtime.startBackground();
  await s.next((e) => e.event === "end");
  await s.closed;
  const last = s.events.filter((e) => e.event === "state").map((e) => JSON.parse(e.data));
  assert.equal(last.filter((v) => v.taskId === b).at(-1).state, "success");
  assert.deepEqual(JSON.parse(s.events.at(-1)!.data), { taskIds: [a, b] });
});

test("the deadline sweeper publishes the failure it settles", async (t) => {
  const peel = await startPeel({ background: false, env: { PEEL_TASK_DEADLINE_MS: "1000" } });
  t.after(() => peel.close());
  const id = await create(peel);
  const s = await events(peel, `taskId=${id}`);
  await s.next((e) => e.event === "state");
  await sleep(1100);
  peel.runtime.sweeper!.start(); // the sweeper alone: no worker claims the task
  const fail = JSON.parse((await s.next((e) => e.event === "state" && JSON.parse(e.data).state === "fail")).data);
  assert.equal(fail.failMsg, "Generation timed out, please try again later");
  await s.closed;
});

test("heartbeat comments keep an idle stream open; an idle stream does not read the database", async (t) => {
  const peel = await startPeel({ background: false, env: { PEEL_EVENTS_HEARTBEAT_MS: "200" } });
  t.after(() => peel.close());
  const id = await create(peel);
  const store = peel.runtime.store;
  const getTask = store.getTask.bind(store);
  let reads = 0;
  store.getTask = (...args) => {
    reads++;
    return getTask(...args);
  };
  const s = await events(peel, `taskId=${id}`);
  await s.next((e) => e.event === "state");
  await until("the first read to finish", 5_000, async () => reads > 0);
  const before = reads;
  assert.equal(await s.nextComment(), "heartbeat");
  assert.equal(await s.nextComment(), "heartbeat");
  assert.equal(reads, before, "no reads while nothing happens");
  s.abort();
  await until("the stream to be released", 5_000, async () => peel.runtime.ctx.taskWatch.watchedTasks === 0);
});

test("while a task waits its events carry queuePosition and etaMs, and the position moves up", async (t) => {
  const peel = await startPeel({ background: false });
  t.after(() => peel.close());
  const first = await create(peel);
  await create(peel);
  const third = await create(peel);
  const s = await events(peel, `taskId=${third}`);
  const waiting = JSON.parse((await s.next((e) => e.event === "state")).data);
  assert.equal(waiting.state, "waiting");
  assert.equal(waiting.queuePosition, 2);
  assert.ok(waiting.etaMs > 0);
  // the first task leaves the line: the third moves up without anything happening to it
  await peel.api("POST", "/api/v1/jobs/cancel", { taskId: first });
  const moved = JSON.parse((await s.next((e) => e.event === "state" && JSON.parse(e.data).queuePosition === 1)).data);
  assert.equal(moved.state, "waiting");
  assert.match(s.events.at(-1)!.id!, new RegExp(`^${third}\\.waiting\\.\\d+\\.1$`));
  // recordInfo itself stays kie's shape
  assert.equal((await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${third}`)).json.data.queuePosition, undefined);
  peel.runtime.startBackground();
  const done = JSON.parse((await s.next((e) => e.event === "state" && JSON.parse(e.data).state === "success")).data);
  assert.equal(done.queuePosition, undefined);
  assert.equal(done.etaMs, undefined);
  await s.closed;
});
