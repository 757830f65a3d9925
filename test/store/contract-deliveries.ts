import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { DeliveryAttempt } from "../../src/domain/types.js";
import { newId } from "../../src/ids.js";
import type { ContractContext } from "./contract.js";
import { T0, newDelivery, newOwner } from "./contract-helpers.js";

const attempt = (deliveryId: string, over: Partial<DeliveryAttempt> = {}): DeliveryAttempt => ({
  id: newId("att"),
  deliveryId,
  attemptedAt: T0 + 100,
  statusCode: 500,
  latencyMs: 12,
  error: null,
  nextAttemptAt: null,
  ...over,
});

const claim = (workerId: string, now: number, limit = 10, leaseMs = 30_000) => ({ workerId, now, limit, leaseMs });

export function deliveryContract(ctx: ContractContext): void {
  describe("deliveries", () => {
    test("createDelivery stores a pending delivery due at once", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const nd = newDelivery(account.id, { createdAt: T0 + 5 });
      const d = await s.createDelivery(nd);
      assert.deepEqual(d, {
        ...nd,
        state: "pending",
        attemptCount: 0,
        nextAttemptAt: T0 + 5,
        updatedAt: T0 + 5,
        lastStatus: null,
        lastError: null,
      });
      assert.deepEqual(await s.getDelivery(nd.id), d);
      assert.equal(await s.getDelivery("dlv_nope"), null);
    });

    test("claimDueDeliveries leases due rows, oldest due first, so a second dispatcher gets none", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const late = await s.createDelivery(newDelivery(account.id, { createdAt: T0 + 2 }));
      const early = await s.createDelivery(newDelivery(account.id, { createdAt: T0 + 1 }));
      await s.createDelivery(newDelivery(account.id, { createdAt: T0 + 1000 })); // not yet due
      const got = await s.claimDueDeliveries(claim("d1", T0 + 10));
      assert.deepEqual(
        got.map((d) => d.id),
        [early.id, late.id],
      );
      assert.deepEqual(await s.claimDueDeliveries(claim("d2", T0 + 10)), []);
      assert.deepEqual((await s.claimDueDeliveries(claim("d2", T0 + 1000))).length, 1, "the third one is due now");
    });

    test("an expired delivery lease makes the row claimable again; limit is honoured", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      for (let i = 0; i < 3; i++) await s.createDelivery(newDelivery(account.id, { createdAt: T0 + i }));
      assert.equal((await s.claimDueDeliveries(claim("d1", T0 + 10, 2, 1000))).length, 2);
      assert.equal((await s.claimDueDeliveries(claim("d2", T0 + 10, 10, 1000))).length, 1);
      assert.equal((await s.claimDueDeliveries(claim("d3", T0 + 1009, 10, 1000))).length, 0);
      assert.equal((await s.claimDueDeliveries(claim("d3", T0 + 1010, 10, 1000))).length, 3);
    });

    test("recordDeliveryAttempt: retry reschedules, delivered ends; attempts listed oldest first", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const d = await s.createDelivery(newDelivery(account.id));
      await s.claimDueDeliveries(claim("d1", T0 + 1));
      const a1 = attempt(d.id, { attemptedAt: T0 + 100, statusCode: null, error: "timeout", nextAttemptAt: T0 + 5100 });
      await s.recordDeliveryAttempt(a1, "retry");
      let cur = await s.getDelivery(d.id);
      assert.equal(cur?.state, "pending");
      assert.equal(cur?.attemptCount, 1);
      assert.equal(cur?.nextAttemptAt, T0 + 5100);
      assert.equal(cur?.lastStatus, null);
      assert.equal(cur?.lastError, "timeout");
      assert.equal(cur?.updatedAt, T0 + 100);
      assert.deepEqual(await s.claimDueDeliveries(claim("d2", T0 + 5099)), [], "not due yet");
      assert.equal((await s.claimDueDeliveries(claim("d2", T0 + 5100))).length, 1, "the attempt released the lease");
      const a2 = attempt(d.id, { attemptedAt: T0 + 5200, statusCode: 200, latencyMs: 40 });
      await s.recordDeliveryAttempt(a2, "delivered");
      cur = await s.getDelivery(d.id);
      assert.equal(cur?.state, "delivered");
      assert.equal(cur?.attemptCount, 2);
      assert.equal(cur?.nextAttemptAt, null);
      assert.equal(cur?.lastStatus, 200);
      assert.equal(cur?.lastError, null);
      assert.deepEqual(await s.listDeliveryAttempts(d.id), [a1, a2]);
      assert.deepEqual(await s.claimDueDeliveries(claim("d3", T0 + 99_999)), [], "delivered is never claimed");
    });

    test("deferDelivery gives a claimed delivery back unsent: due at `until`, no attempt, count and history unchanged", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const d = await s.createDelivery(newDelivery(account.id));
      await s.claimDueDeliveries(claim("d1", T0 + 1));
      const a1 = attempt(d.id, { attemptedAt: T0 + 100, statusCode: 503, error: "HTTP 503", nextAttemptAt: T0 + 5100 });
      await s.recordDeliveryAttempt(a1, "retry");
      const before = await s.getDelivery(d.id);
      assert.equal((await s.claimDueDeliveries(claim("d1", T0 + 5100)))[0]?.id, d.id);

      assert.equal(await s.deferDelivery(d.id, "d2", T0 + 6000), false, "d2 does not hold the lease");
      assert.deepEqual(await s.claimDueDeliveries(claim("d2", T0 + 5100)), [], "still leased to d1");
      assert.equal(await s.deferDelivery(d.id, "d1", T0 + 6000), true);
      assert.deepEqual(await s.getDelivery(d.id), { ...before, nextAttemptAt: T0 + 6000 });
      assert.deepEqual(await s.listDeliveryAttempts(d.id), [a1], "a deferral is not an attempt");

      assert.deepEqual(await s.claimDueDeliveries(claim("d2", T0 + 5999)), [], "not due before `until`");
      const [again] = await s.claimDueDeliveries(claim("d2", T0 + 6000));
      assert.equal(again?.id, d.id, "lease released: another dispatcher claims it once due");
      assert.equal(again?.attemptCount, 1);
      assert.equal(await s.deferDelivery(d.id, "d1", T0 + 9000), false, "d1's lease is gone");
      assert.equal((await s.getDelivery(d.id))?.nextAttemptAt, T0 + 6000);

      await s.recordDeliveryAttempt(attempt(d.id, { attemptedAt: T0 + 6100, statusCode: 200 }), "delivered");
      assert.equal(await s.deferDelivery(d.id, "d2", T0 + 9000), false, "an ended delivery is not deferred");
      const ended = await s.getDelivery(d.id);
      assert.equal(ended?.state, "delivered");
      assert.equal(ended?.nextAttemptAt, null);
      assert.equal(ended?.attemptCount, 2);
      assert.equal(await s.deferDelivery("dlv_nope", "d2", T0), false);
    });

    test("deferDelivery needs a lease: an unclaimed pending delivery is left as it is", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const d = await s.createDelivery(newDelivery(account.id, { createdAt: T0 + 1 }));
      const other = await s.createDelivery(newDelivery(account.id, { createdAt: T0 + 2 }));
      assert.equal(await s.deferDelivery(d.id, "d1", T0 + 5000), false);
      assert.equal((await s.getDelivery(d.id))?.nextAttemptAt, T0 + 1);
      // a deferred row steps aside: the next claim gets what is due behind it
      await s.claimDueDeliveries(claim("d1", T0 + 10, 1));
      assert.equal(await s.deferDelivery(d.id, "d1", T0 + 5000), true);
      assert.deepEqual(
        (await s.claimDueDeliveries(claim("d1", T0 + 10))).map((x) => x.id),
        [other.id],
      );
    });

    test("stopped (410) and failed are final until replayed", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const d1 = await s.createDelivery(newDelivery(account.id));
      const d2 = await s.createDelivery(newDelivery(account.id));
      await s.recordDeliveryAttempt(attempt(d1.id, { statusCode: 410 }), "stopped");
      await s.recordDeliveryAttempt(attempt(d2.id, { statusCode: 500 }), "failed");
      assert.equal((await s.getDelivery(d1.id))?.state, "stopped");
      assert.equal((await s.getDelivery(d2.id))?.state, "failed");
      assert.deepEqual(await s.claimDueDeliveries(claim("d", T0 + 99_999)), []);
      assert.deepEqual(await s.listDeliveryAttempts("dlv_nope"), []);
    });

    test("replayDelivery makes it pending and due now, keeping webhookId", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const d = await s.createDelivery(newDelivery(account.id));
      await s.recordDeliveryAttempt(attempt(d.id), "failed");
      assert.equal(await s.replayDelivery(d.id, T0 + 9000), true);
      const cur = await s.getDelivery(d.id);
      assert.equal(cur?.state, "pending");
      assert.equal(cur?.nextAttemptAt, T0 + 9000);
      assert.equal(cur?.webhookId, d.webhookId);
      assert.equal(cur?.payload, d.payload);
      assert.equal((await s.claimDueDeliveries(claim("d", T0 + 9000)))[0]?.id, d.id);
      assert.equal(await s.replayDelivery("dlv_nope", T0), false);
    });

    test("replayFailedDeliveries replays failed and stopped ones since a time, per account", async () => {
      const s = ctx.store();
      const a = await newOwner(s);
      const b = await newOwner(s);
      const old = await s.createDelivery(newDelivery(a.account.id, { createdAt: T0 }));
      const failed = await s.createDelivery(newDelivery(a.account.id, { createdAt: T0 + 10 }));
      const stopped = await s.createDelivery(newDelivery(a.account.id, { createdAt: T0 + 11 }));
      const delivered = await s.createDelivery(newDelivery(a.account.id, { createdAt: T0 + 12 }));
      const otherFailed = await s.createDelivery(newDelivery(b.account.id, { createdAt: T0 + 13 }));
      await s.recordDeliveryAttempt(attempt(old.id), "failed");
      await s.recordDeliveryAttempt(attempt(failed.id), "failed");
      await s.recordDeliveryAttempt(attempt(stopped.id, { statusCode: 410 }), "stopped");
      await s.recordDeliveryAttempt(attempt(delivered.id, { statusCode: 200 }), "delivered");
      await s.recordDeliveryAttempt(attempt(otherFailed.id), "failed");
      assert.equal(await s.replayFailedDeliveries({ accountId: a.account.id, since: T0 + 10, now: T0 + 500 }), 2);
      assert.equal((await s.getDelivery(failed.id))?.state, "pending");
      assert.equal((await s.getDelivery(stopped.id))?.state, "pending");
      assert.equal((await s.getDelivery(stopped.id))?.nextAttemptAt, T0 + 500);
      assert.equal((await s.getDelivery(old.id))?.state, "failed");
      assert.equal((await s.getDelivery(delivered.id))?.state, "delivered");
      assert.equal((await s.getDelivery(otherFailed.id))?.state, "failed");
      assert.equal(await s.replayFailedDeliveries({ since: T0, now: T0 + 600 }), 2, "old and the other account's");
    });

    test("listDeliveries filters by account, task, state, since; newest first; limit", async () => {
      const s = ctx.store();
      const a = await newOwner(s);
      const b = await newOwner(s);
      const taskId = "f".repeat(32);
      const d1 = await s.createDelivery(newDelivery(a.account.id, { createdAt: T0 + 1, taskId }));
      const d2 = await s.createDelivery(newDelivery(a.account.id, { createdAt: T0 + 2 }));
      const d3 = await s.createDelivery(newDelivery(b.account.id, { createdAt: T0 + 3 }));
      await s.recordDeliveryAttempt(attempt(d2.id, { statusCode: 200 }), "delivered");
      assert.deepEqual(
        (await s.listDeliveries({})).map((d) => d.id),
        [d3.id, d2.id, d1.id],
      );
      assert.deepEqual(
        (await s.listDeliveries({ accountId: a.account.id })).map((d) => d.id),
        [d2.id, d1.id],
      );
      assert.deepEqual(
        (await s.listDeliveries({ taskId })).map((d) => d.id),
        [d1.id],
      );
      assert.deepEqual(
        (await s.listDeliveries({ state: "delivered" })).map((d) => d.id),
        [d2.id],
      );
      assert.deepEqual(
        (await s.listDeliveries({ since: T0 + 2 })).map((d) => d.id),
        [d3.id, d2.id],
      );
      assert.deepEqual(
        (await s.listDeliveries({ limit: 1 })).map((d) => d.id),
        [d3.id],
      );
    });
  });
}
