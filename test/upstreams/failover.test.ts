import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pino from "pino";
import { ManualClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import type { ImageEngine } from "../../src/engines/engine.js";
import { ProviderError } from "../../src/errors.js";
import { MemoryCapacity } from "../../src/upstreams/capacity.js";
import { RouteChooser } from "../../src/upstreams/chooser.js";
import type { UpstreamRoute } from "../../src/upstreams/config.js";
import { OUTCOME_EFFECTS, classifyFailure } from "../../src/upstreams/outcome.js";
import { RouteHealth } from "../../src/upstreams/route-health.js";
import { createRouteEngine } from "../../src/upstreams/route-engines.js";
import { relayRequest, testClient } from "../engines/relay-helpers.js";
import { startFakeGemini, type FakeGemini } from "../fakes/fake-gemini.js";
import { startFakeKie, type FakeKie } from "../fakes/fake-kie.js";

/**
 * The phase-A pieces together, without the worker: PEEL_UPSTREAMS → routes → one engine per route
 * → chooser + health + capacity, with real fake servers. `runTask` is the failover loop the worker
 * will run (src/upstreams/index.ts): choose, call, classify, finish, and on a failover outcome go
 * straight to the next eligible route.
 */

let first: FakeGemini;
let second: FakeGemini;
let relay: FakeKie;
before(async () => {
  first = await startFakeGemini({ imageMode: "tiny" });
  second = await startFakeGemini({ imageMode: "tiny", models: ["gemini-3-pro-image"] });
  relay = await startFakeKie();
  first.setDefault("rate_limit_minute"); // every call: 429 with RetryInfo 2 s
});
after(async () => {
  await Promise.all([first.close(), second.close(), relay.close()]);
});

function setup(extra: object[] = []) {
  const config = loadConfig({
    FIRST_KEY: "test-key",
    PEEL_UPSTREAMS: JSON.stringify({
      routes: [
        { name: "first", kind: "gemini", baseUrl: first.url, apiKey: "env:FIRST_KEY", models: ["nano-banana-pro"], priority: 1 },
        { name: "second", kind: "gemini", baseUrl: second.url, apiKey: "test-key", models: ["nano-banana-pro"], priority: 2 },
        { name: "relay", kind: "kie", baseUrl: relay.url, apiKey: "kie-test-key", models: ["nano-banana-2"] },
        ...extra,
      ],
    }),
  });
  const routes = config.upstreams.routes;
  const clock = new ManualClock(Date.parse("2026-06-01T19:00:00Z"));
  const logger = pino({ level: "silent" });
  const health = new RouteHealth(
    routes.map((r) => r.name),
    { logger },
  );
  const chooser = new RouteChooser<UpstreamRoute>({ routes, health, capacity: new MemoryCapacity() });
  const client = testClient();
  const engines = new Map<string, ImageEngine>(
    routes.map((r) => [
      r.name,
      createRouteEngine(r, { client, attemptTimeoutMs: 10_000, attemptTimeout4kMs: 10_000, sandboxDelayMs: 0, clock, logger }),
    ]),
  );
  /** One task: returns the routes tried in order and the one that produced the image (or the final error). */
  const runTask = async (model: string) => {
    const tried: string[] = [];
    for (;;) {
      const c = await chooser.choose(model, clock.now());
      if (!c.ok) return { tried, served: null, why: c.why };
      tried.push(c.route.name);
      const req = relayRequest({ model, upstreamModel: c.route.modelIds[model], aspectRatio: "1:1", resolution: "1K" });
      try {
        await engines.get(c.route.name)!.generate(req, new AbortController().signal);
        await chooser.finish(c, "success", clock.now());
        return { tried, served: c.route.name };
      } catch (err) {
        const outcome = classifyFailure(err);
        const pe = err instanceof ProviderError ? err : null;
        await chooser.finish(c, outcome, clock.now(), { retryAfterMs: pe?.retryAfterMs, why: pe?.message });
        if (!outcome || OUTCOME_EFFECTS[outcome].task === "final") return { tried, served: null, error: err };
      }
    }
  };
  return { clock, health, chooser, runTask, close: () => client.close() };
}

test("the issue's check: 'first' answers 429, 'second' serves every pro task, 'relay' serves nano-banana-2", async (t) => {
  const s = setup();
  t.after(s.close);
  first.reset();
  first.setDefault("rate_limit_minute");
  second.reset();
  const results = [];
  for (let i = 0; i < 10; i++) results.push(await s.runTask("nano-banana-pro"));
  assert.ok(results.every((r) => r.served === "second"));
  assert.deepEqual(results[0].tried, ["first", "second"], "the 429 fails over at once");
  assert.deepEqual(results[1].tried, ["second"], "first is cooling down");
  assert.equal(first.requests.length, 1);
  assert.equal(second.requests.length, 10);
  assert.equal(s.health.view("first", s.clock.now()).state, "cooldown");

  // after its RetryInfo delay (2 s + jitter) first is tried again
  s.clock.advance(2_500);
  assert.deepEqual((await s.runTask("nano-banana-pro")).tried, ["first", "second"]);
  assert.equal(first.requests.length, 2);

  const nb2 = await s.runTask("nano-banana-2");
  assert.deepEqual([nb2.tried, nb2.served], [["relay"], "relay"]);
  assert.equal(relay.tasks.size, 1);
});

test("a rejected key disables the route until the operator acts; a content block stays final", async (t) => {
  const s = setup([
    { name: "wrong-key", kind: "gemini", baseUrl: second.url, apiKey: "nope", models: ["nano-banana-pro"], priority: 0 },
  ]);
  t.after(s.close);
  second.reset();
  const r = await s.runTask("nano-banana-pro");
  assert.deepEqual([r.tried, r.served], [["wrong-key", "first", "second"], "second"]);
  assert.equal(s.health.view("wrong-key", s.clock.now()).state, "disabled");
  s.clock.advance(86_400_000);
  first.setDefault("ok");
  t.after(() => first.setDefault("rate_limit_minute"));
  assert.deepEqual((await s.runTask("nano-banana-pro")).tried, ["first"]);

  first.setDefault("prompt_blocked");
  const blocked = await s.runTask("nano-banana-pro");
  assert.deepEqual([blocked.tried, blocked.served], [["first"], null]);
  assert.equal((blocked.error as ProviderError).reason, "prompt_blocked");
  assert.equal(s.health.view("first", s.clock.now()).state, "ok");
});
