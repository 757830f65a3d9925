import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { MemoryCapacity } from "../../src/upstreams/capacity.js";
import { RouteChooser, type Choice, type ChooserRoute, type RoutePick } from "../../src/upstreams/chooser.js";
import type { RouteLimits } from "../../src/upstreams/config.js";
import { RouteHealth } from "../../src/upstreams/route-health.js";

/** Admission, choice and failover sequences with a controllable clock. */

const PRO = "nano-banana-pro";

function route(name: string, o: { priority?: number; weight?: number; models?: string[]; limits?: Partial<RouteLimits> } = {}) {
  return {
    name,
    models: o.models ?? [PRO],
    priority: o.priority ?? 1,
    weight: o.weight ?? 1,
    limits: { rpm: null, rpd: null, concurrency: null, ...o.limits },
  } satisfies ChooserRoute;
}

function setup(routes: ChooserRoute[], health = { failureThreshold: 3, openBaseMs: 5_000, openMaxMs: 60_000 }) {
  const clock = new ManualClock(Date.parse("2026-06-01T19:00:00Z"));
  const h = new RouteHealth(
    routes.map((r) => r.name),
    health,
  );
  const chooser = new RouteChooser({ routes, health: h, capacity: new MemoryCapacity() });
  /** chooses and finishes at once with `outcome`; returns the route name (or null). */
  const call = async (outcome: Parameters<typeof chooser.finish>[1] = "success", detail = {}) => {
    const c = await chooser.choose(PRO, clock.now());
    if (!c.ok) return null;
    await chooser.finish(c, outcome, clock.now(), detail);
    return c.route.name;
  };
  return { clock, health: h, chooser, call };
}

const picked = (c: Choice): RoutePick => {
  assert.ok(c.ok, `expected a route, got ${JSON.stringify(c)}`);
  return c;
};

test("lowest priority number first; a 429 on A sends the next call to B at once; A is back after its RetryInfo delay", async () => {
  const { clock, call } = setup([route("B", { priority: 2 }), route("A", { priority: 1 })]);
  assert.equal(await call(), "A");
  assert.equal(await call("rate_limited", { retryAfterMs: 60_000 }), "A");
  assert.equal(await call(), "B");
  clock.advance(59_999);
  assert.equal(await call(), "B");
  clock.advance(1);
  assert.equal(await call(), "A");
});

test("smooth weighted round-robin inside a priority: weights 2:1 → A B A, no bursts", async () => {
  const { call } = setup([route("A", { weight: 2 }), route("B"), route("low", { priority: 5, weight: 100 })]);
  const seq: Array<string | null> = [];
  for (let i = 0; i < 9; i++) seq.push(await call());
  assert.deepEqual(seq, ["A", "B", "A", "A", "B", "A", "A", "B", "A"]);
  // 5:1:1 follows nginx's published sequence
  const five = setup([route("a", { weight: 5 }), route("b"), route("c")]);
  const s2: Array<string | null> = [];
  for (let i = 0; i < 7; i++) s2.push(await five.call());
  assert.deepEqual(s2, ["a", "a", "b", "a", "c", "a", "a"]);
});

test("admission: a route without capacity is skipped; none anywhere → the earliest instant capacity frees", async () => {
  const { clock, chooser } = setup([route("A", { limits: { rpm: 2 } }), route("B", { priority: 2, limits: { concurrency: 1 } })]);
  const t0 = clock.now();
  const a1 = picked(await chooser.choose(PRO, t0));
  clock.advance(1_000);
  const a2 = picked(await chooser.choose(PRO, clock.now()));
  assert.deepEqual([a1.route.name, a2.route.name], ["A", "A"]);
  const b1 = picked(await chooser.choose(PRO, clock.now()));
  assert.equal(b1.route.name, "B");
  // A is out of rpm until t0 + 60 s; B's one slot is busy until its call ends
  assert.deepEqual(await chooser.choose(PRO, clock.now()), {
    ok: false,
    why: "busy",
    retryAt: t0 + 60_000,
    waitsOnRelease: true,
  });
  await chooser.finish(b1, "success", clock.now());
  const b2 = picked(await chooser.choose(PRO, clock.now()));
  assert.equal(b2.route.name, "B");
  clock.set(t0 + 60_000);
  assert.equal(picked(await chooser.choose(PRO, clock.now())).route.name, "A");
});

test("abandon gives the tokens back: nothing to claim costs no capacity", async () => {
  const { clock, chooser } = setup([route("A", { limits: { rpm: 1, rpd: 1 } })]);
  for (let i = 0; i < 5; i++) {
    const c = picked(await chooser.choose(PRO, clock.now()));
    await chooser.abandon(c, clock.now());
  }
  const c = picked(await chooser.choose(PRO, clock.now()));
  await chooser.finish(c, "success", clock.now());
  const none = await chooser.choose(PRO, clock.now());
  assert.equal(none.ok, false);
  assert.equal((none as { why: string }).why, "busy");
});

test("breaker: N consecutive 5xx open A; B serves; one half-open probe; the probe's failure doubles the open time", async () => {
  const { clock, chooser, call } = setup([route("A"), route("B", { priority: 2 })]);
  assert.equal(await call("server_error"), "A");
  assert.equal(await call("overloaded"), "A");
  assert.equal(await call("timeout"), "A"); // third failure: open for 5 s
  assert.equal(await call(), "B");
  clock.advance(5_000);
  // half-open: the first caller gets the probe, the second goes to B meanwhile
  const probe = picked(await chooser.choose(PRO, clock.now()));
  assert.deepEqual([probe.route.name, probe.probe], ["A", true]);
  const other = picked(await chooser.choose(PRO, clock.now()));
  assert.deepEqual([other.route.name, other.probe], ["B", false]);
  await chooser.finish(other, "success", clock.now());
  const state = await chooser.finish(probe, "server_error", clock.now());
  assert.deepEqual([state.state, (state as { until: number }).until - clock.now()], ["open", 10_000]);
  clock.advance(9_999);
  assert.equal(await call(), "B");
  clock.advance(1);
  const probe2 = picked(await chooser.choose(PRO, clock.now()));
  assert.ok(probe2.probe);
  assert.equal((await chooser.finish(probe2, "success", clock.now())).state, "ok");
  assert.equal(await call(), "A");
});

test("a half-open probe that cannot get capacity is not lost: the next caller may probe", async () => {
  const { clock, chooser, health, call } = setup([route("A", { limits: { concurrency: 1 } })], {
    failureThreshold: 1,
    openBaseMs: 1_000,
    openMaxMs: 1_000,
  });
  const running = picked(await chooser.choose(PRO, clock.now()));
  assert.equal(await call(), null); // concurrency full
  await chooser.finish(running, "network", clock.now()); // opens (threshold 1)
  clock.advance(1_000);
  const probe = picked(await chooser.choose(PRO, clock.now()));
  await chooser.abandon(probe, clock.now());
  assert.equal(health.view("A", clock.now()).state, "half_open");
  assert.ok(picked(await chooser.choose(PRO, clock.now())).probe);
});

test("auth → disabled until enable(); every serving route disabled → why 'disabled'; no route → 'no_route'", async () => {
  const { clock, chooser, health, call } = setup([route("A"), route("B", { priority: 2, models: [PRO, "nano-banana-2"] })]);
  assert.equal(await call("auth", { why: "key rejected" }), "A");
  assert.equal(await call(), "B");
  clock.advance(7 * 86_400_000);
  assert.equal(await call("billing"), "B");
  assert.deepEqual(await chooser.choose(PRO, clock.now()), { ok: false, why: "disabled", retryAt: null, waitsOnRelease: false });
  assert.deepEqual(await chooser.choose("google/nano-banana", clock.now()), {
    ok: false,
    why: "no_route",
    retryAt: null,
    waitsOnRelease: false,
  });
  assert.equal(chooser.serves("nano-banana-2"), true);
  health.enable("A", clock.now());
  assert.equal(await call(), "A");
});

test("daily quota on A: B until midnight Pacific, A again after", async () => {
  const { clock, call } = setup([route("A"), route("B", { priority: 2 })]);
  assert.equal(await call("quota_exhausted"), "A");
  assert.equal(await call(), "B");
  clock.set(Date.parse("2026-06-02T06:59:59Z")); // 23:59:59 PDT
  assert.equal(await call(), "B");
  clock.set(Date.parse("2026-06-02T07:00:00Z"));
  assert.equal(await call(), "A");
});

test("content policy and peel's own faults leave the route as it was", async () => {
  const { chooser, clock, health } = setup([route("A")], { failureThreshold: 1, openBaseMs: 1_000, openMaxMs: 1_000 });
  const c = picked(await chooser.choose(PRO, clock.now()));
  await chooser.finish(c, "content_policy", clock.now());
  const d = picked(await chooser.choose(PRO, clock.now()));
  await chooser.finish(d, null, clock.now());
  assert.equal(health.view("A", clock.now()).state, "ok");
});
