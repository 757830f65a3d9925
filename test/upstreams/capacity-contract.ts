import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, test } from "node:test";
import { nextPacificMidnight } from "../../src/engines/gemini-errors.js";
import type { CapacityRoute, RouteCapacity } from "../../src/upstreams/capacity.js";
import type { RouteLimits } from "../../src/upstreams/config.js";

/**
 * The RouteCapacity contract: every implementation (memory, Redis, and the database-backed one of
 * the store) must pass all of it. Times are passed in, so nothing here waits on a real clock.
 *
 * Usage: `runCapacityContract("redis", async () => ({ capacity, peer, cleanup }), skipReason)`.
 * `peer()` opens a second instance on the same shared state (a second worker process); leave it
 * out for single-process implementations and the sharing cases are skipped.
 */
export interface CapacityFixture {
  capacity: RouteCapacity;
  /** another instance sharing the same state, as a second process would. */
  peer?: () => Promise<RouteCapacity>;
  /** closes everything the fixture opened (peers included) and removes its state. */
  cleanup: () => Promise<void>;
}

/** The slot TTL the factory must configure (ms). */
export const CONTRACT_SLOT_TTL_MS = 30_000;

export function runCapacityContract(name: string, make: () => Promise<CapacityFixture>, skip?: string): void {
  describe(`RouteCapacity contract (${name})`, { skip }, () => {
    let fx: CapacityFixture | null = null;
    beforeEach(async () => {
      fx = await make();
    });
    afterEach(async () => {
      await fx?.cleanup();
      fx = null;
    });
    const cap = () => fx!.capacity;
    // Route names are unique per test so a shared backend needs no flushing between tests.
    const route = (limits: Partial<RouteLimits>): CapacityRoute => ({
      name: `r-${randomBytes(5).toString("hex")}`,
      limits: { rpm: null, rpd: null, concurrency: null, ...limits },
    });
    // 2026-06-01 12:00 PDT: far from midnight, so day windows do not interfere unless a test says so
    const T0 = Date.parse("2026-06-01T19:00:00Z");

    test("no limits: every call is admitted, each with its own lease", async () => {
      const r = route({});
      const ids = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const a = await cap().tryAcquire(r, T0);
        assert.ok(a.ok);
        assert.equal(a.lease.route, r.name);
        ids.add(a.lease.id);
      }
      assert.equal(ids.size, 50);
    });

    test("rpm: at most N in any rolling minute; the answer says when the oldest admission leaves", async () => {
      const r = route({ rpm: 3 });
      for (const dt of [0, 10_000, 20_000]) assert.ok((await cap().tryAcquire(r, T0 + dt)).ok);
      assert.deepEqual(await cap().tryAcquire(r, T0 + 30_000), { ok: false, limit: "rpm", retryAt: T0 + 60_000 });
      // refused calls take nothing: exactly at T0 + 60 s one fits, and then none until T0 + 70 s
      assert.ok((await cap().tryAcquire(r, T0 + 60_000)).ok);
      assert.deepEqual(await cap().tryAcquire(r, T0 + 60_001), { ok: false, limit: "rpm", retryAt: T0 + 70_000 });
      // a burst does not refill: N more only once the whole burst has left the window
      const r2 = route({ rpm: 5 });
      for (let i = 0; i < 5; i++) assert.ok((await cap().tryAcquire(r2, T0)).ok);
      for (const dt of [1_000, 30_000, 59_999]) assert.equal((await cap().tryAcquire(r2, T0 + dt)).ok, false);
      for (let i = 0; i < 5; i++) assert.ok((await cap().tryAcquire(r2, T0 + 60_000)).ok);
      // (the first five slots were never renewed: their TTL has run out)
      assert.deepEqual(await cap().usage(r2, T0 + 60_000), {
        rpmUsed: 5,
        rpdUsed: 10,
        inFlight: 5,
        rpdResetsAt: nextPacificMidnight(T0),
      });
    });

    test("rpd: counts per Pacific day, retryAt is the next midnight in Los Angeles, then it resets", async () => {
      const r = route({ rpd: 2 });
      const midnight = nextPacificMidnight(T0);
      assert.ok((await cap().tryAcquire(r, T0)).ok);
      assert.ok((await cap().tryAcquire(r, T0 + 3_600_000)).ok);
      assert.deepEqual(await cap().tryAcquire(r, midnight - 1), { ok: false, limit: "rpd", retryAt: midnight });
      assert.ok((await cap().tryAcquire(r, midnight)).ok);
      assert.equal((await cap().usage(r, midnight)).rpdUsed, 1);
    });

    test("concurrency: N slots; a spent release frees the slot but keeps rpm/rpd used", async () => {
      const r = route({ concurrency: 2, rpm: 10, rpd: 100 });
      const a = await cap().tryAcquire(r, T0);
      const b = await cap().tryAcquire(r, T0);
      assert.ok(a.ok && b.ok);
      assert.deepEqual(await cap().tryAcquire(r, T0), { ok: false, limit: "concurrency", retryAt: null });
      await cap().release(a.lease, { spent: true, now: T0 + 5 });
      await cap().release(a.lease, { spent: true, now: T0 + 5 }); // idempotent
      const u = await cap().usage(r, T0 + 5);
      assert.deepEqual([u.inFlight, u.rpmUsed, u.rpdUsed], [1, 2, 2]);
      assert.ok((await cap().tryAcquire(r, T0 + 5)).ok);
    });

    test("an unspent release gives every token back (the call never went out), once", async () => {
      const r = route({ rpm: 1, rpd: 1, concurrency: 1 });
      const a = await cap().tryAcquire(r, T0);
      assert.ok(a.ok);
      assert.equal((await cap().tryAcquire(r, T0)).ok, false);
      await cap().release(a.lease, { spent: false, now: T0 + 1 });
      await cap().release(a.lease, { spent: false, now: T0 + 1 });
      assert.deepEqual(await cap().usage(r, T0 + 1), {
        rpmUsed: 0,
        rpdUsed: 0,
        inFlight: 0,
        rpdResetsAt: nextPacificMidnight(T0),
      });
      const b = await cap().tryAcquire(r, T0 + 1);
      assert.ok(b.ok);
      assert.equal((await cap().tryAcquire(r, T0 + 1)).ok, false);
    });

    test("a slot nobody renews frees itself after the TTL (a SIGKILLed worker); renew keeps it", async () => {
      const r = route({ concurrency: 1 });
      const a = await cap().tryAcquire(r, T0);
      assert.ok(a.ok);
      // renewed every 20 s, the slot is held well past one TTL
      for (let t = T0 + 20_000; t <= T0 + 100_000; t += 20_000) {
        assert.equal(await cap().renew(a.lease, t), true);
        assert.equal((await cap().tryAcquire(r, t)).ok, false);
      }
      // no renewal for a TTL: the slot is free and the old lease cannot renew it back
      const later = T0 + 100_000 + CONTRACT_SLOT_TTL_MS;
      const b = await cap().tryAcquire(r, later);
      assert.ok(b.ok);
      assert.equal(await cap().renew(a.lease, later), false);
      assert.equal((await cap().usage(r, later)).inFlight, 1);
    });

    test("concurrent acquisitions admit exactly the limit", async () => {
      const r = route({ rpm: 7 });
      const all = await Promise.all(Array.from({ length: 40 }, () => cap().tryAcquire(r, T0)));
      assert.equal(all.filter((a) => a.ok).length, 7);
      const c = route({ concurrency: 3 });
      const slots = await Promise.all(Array.from({ length: 40 }, () => cap().tryAcquire(c, T0)));
      assert.equal(slots.filter((a) => a.ok).length, 3);
    });

    test("routes are independent", async () => {
      const a = route({ rpm: 1 });
      const b = route({ rpm: 1 });
      assert.ok((await cap().tryAcquire(a, T0)).ok);
      assert.ok((await cap().tryAcquire(b, T0)).ok);
      assert.equal((await cap().tryAcquire(a, T0)).ok, false);
    });

    test("two instances (two processes) share one route's limits and never exceed them", async (t) => {
      if (!fx!.peer) return t.skip("single-process implementation");
      const other = await fx!.peer();
      const r = route({ rpm: 10, concurrency: 4 });
      const both = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 ? cap() : other).tryAcquire(r, T0 + Math.floor(i / 10))),
      );
      const held = both.filter((a) => a.ok);
      assert.equal(held.length, 4);
      // one process releases, the other sees the slot free; rpm is shared too
      await cap().release((held[0] as { lease: any }).lease, { spent: true, now: T0 + 10 });
      assert.ok((await other.tryAcquire(r, T0 + 10)).ok);
      const u = await other.usage(r, T0 + 10);
      assert.deepEqual([u.rpmUsed, u.inFlight], [5, 4]);
    });
  });
}
