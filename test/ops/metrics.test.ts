import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { PeelMetrics } from "../../src/ops/metrics.js";
import { FakeReceiver } from "../fakes/receiver.js";
import { until } from "../helpers/polling.js";
import { parsePromText, samples, value } from "./prom-text.js";
import { servePeel } from "./serve.js";

/** A server for one image_input URL: PNG magic bytes, then garbage (the engine cannot decode it). */
async function brokenImageServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const body = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]);
  const server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(body));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/broken.png`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

test("metrics: a listener of their own with task, HTTP, callback, credit, engine and process metrics", async (t) => {
  const receiver = await FakeReceiver.start();
  t.after(() => receiver.close());
  const broken = await brokenImageServer();
  t.after(() => broken.close());
  const peel = await servePeel(t);
  assert.ok(peel.metricsUrl?.startsWith("http://127.0.0.1:"), "metrics bind to 127.0.0.1 by default");

  // The API port never serves metrics: an unknown route in kie's envelope.
  const onApi = await peel.api("GET", "/metrics");
  assert.equal(onApi.status, 404);
  assert.deepEqual(onApi.json, { code: 404, msg: "Not Found", data: null });

  const ok = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: receiver.url("/hook"),
    input: { prompt: "a lighthouse", resolution: "1K" },
  });
  const bad = await peel.api("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    input: { prompt: "a lighthouse", resolution: "2K", image_input: [broken.url] },
  });
  assert.equal((await peel.waitForTask(ok.json.data.taskId)).state, "success");
  const failed = await peel.waitForTask(bad.json.data.taskId);
  assert.equal(failed.state, "fail");
  assert.equal(failed.failCode, "422");
  await until("the callback to arrive", 10_000, async () => receiver.requests.length >= 1);

  const m = parsePromText(await peel.scrape());
  await until("the callback to be recorded", 5_000, async () =>
    value(parsePromText(await peel.scrape()), "peel_callback_deliveries_total", { outcome: "delivered" }) === 1 ? true : null,
  );
  assert.equal(value(m, "peel_tasks_created_total", { model: "nano-banana-pro", resolution: "1K" }), 1);
  assert.equal(value(m, "peel_tasks_created_total", { model: "nano-banana-pro", resolution: "2K" }), 1);
  assert.equal(value(m, "peel_tasks_finished_total", { model: "nano-banana-pro", state: "success", fail_code: "" }), 1);
  assert.equal(value(m, "peel_tasks_finished_total", { model: "nano-banana-pro", state: "fail", fail_code: "422" }), 1);
  assert.equal(value(m, "peel_credits_captured_total", { model: "nano-banana-pro" }), 18);
  assert.equal(value(m, "peel_task_queue_wait_seconds_count", { model: "nano-banana-pro" }), 2);
  const gen = { engine: "sandbox", model: "nano-banana-pro", resolution: "1K", route: "default" };
  assert.equal(value(m, "peel_generation_duration_seconds_count", gen), 1);
  assert.equal(value(m, "peel_generation_duration_seconds_bucket", { ...gen, le: "+Inf" }), 1);
  assert.equal(value(m, "peel_tasks_in_state", { state: "success" }), 1);
  assert.equal(value(m, "peel_tasks_in_state", { state: "fail" }), 1);
  assert.equal(value(m, "peel_tasks_in_state", { state: "generating" }), 0);
  assert.equal(value(m, "peel_worker_running_tasks"), 0);
  assert.equal(value(m, "peel_info", { role: "all", engine: "sandbox" }), 1);
  assert.ok(value(m, "process_resident_memory_bytes") > 0);
  assert.ok(samples(m, "nodejs_heap_size_used_bytes").length === 1);

  // HTTP series are labelled with the route pattern, never the URL a client sent.
  const read = { route: "/api/v1/jobs/recordInfo", method: "GET", status: "200" };
  assert.ok(value(m, "peel_http_requests_total", read) >= 2);
  assert.equal(value(m, "peel_http_requests_total", { route: "/api/v1/jobs/createTask", method: "POST", status: "200" }), 2);
  assert.equal(value(m, "peel_http_requests_total", { route: "unmatched", method: "GET", status: "404" }), 1);
  for (const s of samples(m, "peel_http_requests_total"))
    assert.ok(!/[?]|taskId|[0-9a-f]{32}/.test(s.labels.route), s.labels.route);
  const hist = { route: "/api/v1/jobs/createTask", method: "POST" };
  assert.equal(value(m, "peel_http_request_duration_seconds_count", hist), 2);
  assert.equal(value(m, "peel_http_request_duration_seconds_bucket", { ...hist, le: "+Inf" }), 2);
  const buckets = samples(m, "peel_http_request_duration_seconds_bucket", hist).map((s) => s.value);
  assert.deepEqual(
    buckets,
    [...buckets].sort((a, b) => a - b),
    "buckets are cumulative",
  );

  // The engine failed on the broken input: an upstream error by reason, no generation time.
  const m2 = parsePromText(await peel.scrape());
  assert.equal(value(m2, "peel_upstream_errors_total", { engine: "sandbox", reason: "invalid_input" }), 1);
  assert.equal(samples(m2, "peel_generation_duration_seconds_count", { resolution: "2K" }).length, 0);

  // Anything but GET /metrics on the metrics port is a 404.
  assert.equal((await fetch(peel.metricsUrl!.replace("/metrics", "/"))).status, 404);
});

test("metrics: each role exports its own (API: requests and creations; worker: generations and settlements)", async (t) => {
  const api = await servePeel(t, { PEEL_ROLE: "api" });
  const worker = await servePeel(t, { PEEL_ROLE: "worker" }, api.dataDir);
  const created = await api.api("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt: "x" } });
  assert.equal((await api.waitForTask(created.json.data.taskId)).state, "success");

  const a = parsePromText(await api.scrape());
  const w = parsePromText(await worker.scrape());
  assert.equal(value(a, "peel_tasks_created_total", { model: "nano-banana-pro" }), 1);
  assert.equal(value(w, "peel_tasks_created_total", { model: "nano-banana-pro" }), 0);
  assert.equal(value(w, "peel_tasks_finished_total", { state: "success" }), 1);
  assert.equal(value(a, "peel_tasks_finished_total", { state: "success" }), 0);
  assert.equal(samples(w, "peel_generation_duration_seconds_count").length, 1);
  assert.equal(samples(a, "peel_worker_running_tasks").length, 0, "an API process runs no worker");
  assert.equal(value(a, "peel_info", { role: "api" }), 1);
  assert.equal(value(w, "peel_info", { role: "worker" }), 1);
  // Both read the same database for the state gauge.
  assert.equal(value(a, "peel_tasks_in_state", { state: "success" }), 1);
  assert.equal(value(w, "peel_tasks_in_state", { state: "success" }), 1);
});

test("metrics: PEEL_METRICS_PORT=0 turns the listener off", async (t) => {
  const peel = await servePeel(t, { PEEL_METRICS_PORT: "0" });
  assert.equal(peel.metricsUrl, null);
  assert.equal(peel.served.runtime.metrics, null);
  assert.equal((await peel.api("GET", "/readyz")).status, 200);
});

test("metrics: a busy metrics port stops the start with a message naming the variable", async (t) => {
  const blocker = http.createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as AddressInfo).port;
  await assert.rejects(
    servePeel(t, { PEEL_METRICS_PORT: String(port) }),
    /metrics listener: 127\.0\.0\.1:\d+ is in use.*PEEL_METRICS_PORT/,
  );
});

test("peel_tasks_in_state reads the database at most once per cache period, shared by concurrent scrapes", async () => {
  let calls = 0;
  let fail = false;
  const metrics = new PeelMetrics({
    countTasks: async () => {
      calls++;
      if (fail) throw new Error("database is locked");
      await new Promise((r) => setTimeout(r, 20));
      return { waiting: calls, queuing: 0, generating: 0, success: 0, fail: 0 };
    },
    stateCacheMs: 200,
  });
  const read = async () => value(parsePromText((await metrics.render()).body), "peel_tasks_in_state", { state: "waiting" });
  assert.deepEqual(await Promise.all([read(), read(), read(), read()]), [1, 1, 1, 1]);
  assert.equal(await read(), 1);
  assert.equal(calls, 1);
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(await read(), 2);
  assert.equal(calls, 2);
  // A failing query keeps the last counts instead of failing the scrape.
  fail = true;
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(await read(), 2);
  assert.equal(calls, 3);
});
