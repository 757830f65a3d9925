import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ContractContext } from "./contract.js";
import { T0, claimOpts, createMany, createOk, newDelivery, newOwner } from "./contract-helpers.js";

/** Task lists, queue positions, health, skipped deliveries and per-account callback rules. */
export function viewsContract(ctx: ContractContext): void {
  describe("task lists and queue positions", () => {
    test("listTasks: one account's tasks, newest first, filtered, paged, with the total", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 10_000 });
      const b = await newOwner(s, { credits: 10_000 });
      const mine = await createMany(s, a, 5);
      await createOk(s, a, { createTime: T0 + 10, model: "nano-banana-2" });
      await createMany(s, b, 3);

      const all = await s.listTasks({ accountId: a.account.id, offset: 0, limit: 100 });
      assert.equal(all.total, 6);
      assert.deepEqual(
        all.tasks.map((t) => t.createTime),
        [T0 + 10, T0 + 4, T0 + 3, T0 + 2, T0 + 1, T0],
      );
      assert.ok(
        all.tasks.every((t) => t.accountId === a.account.id),
        "never another account's tasks",
      );

      const page = await s.listTasks({ accountId: a.account.id, offset: 2, limit: 2 });
      assert.equal(page.total, 6);
      assert.deepEqual(
        page.tasks.map((t) => t.id),
        [mine[3].id, mine[2].id],
      );

      const nb2 = await s.listTasks({ accountId: a.account.id, model: "nano-banana-2", offset: 0, limit: 10 });
      assert.equal(nb2.total, 1);
      assert.equal(nb2.tasks[0].model, "nano-banana-2");

      await s.promoteWaitingTasks({ now: T0 + 20, maxRunningPerAccount: 2 });
      const queuing = await s.listTasks({ accountId: a.account.id, state: "queuing", offset: 0, limit: 10 });
      assert.equal(queuing.total, 2);
      assert.ok(queuing.tasks.every((t) => t.state === "queuing"));
      const none = await s.listTasks({ accountId: a.account.id, state: "success", offset: 0, limit: 10 });
      assert.deepEqual(none, { total: 0, tasks: [] });
    });

    test("promoteWaitingTasks returns the ids it moved, oldest first per account", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 10_000, maxRunning: 2 });
      const ts = await createMany(s, a, 4);
      assert.deepEqual(await s.promoteWaitingTasks({ now: T0 + 10, maxRunningPerAccount: 4 }), [ts[0].id, ts[1].id]);
      assert.deepEqual(await s.promoteWaitingTasks({ now: T0 + 11, maxRunningPerAccount: 4 }), []);
    });

    test("queuePosition: open tasks not yet generating created before it, across accounts", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 10_000 });
      const b = await newOwner(s, { credits: 10_000 });
      const ta = await createMany(s, a, 3, T0);
      const tb = await createMany(s, b, 2, T0 + 100);
      assert.equal(await s.queuePosition(ta[0].id), 0);
      assert.equal(await s.queuePosition(ta[2].id), 2);
      assert.equal(await s.queuePosition(tb[1].id), 4);
      await s.promoteWaitingTasks({ now: T0 + 200, maxRunningPerAccount: 1 });
      const claimed = await s.claimTask(claimOpts("w1", T0 + 201));
      assert.ok(claimed && [ta[0].id, tb[0].id].includes(claimed.id));
      assert.equal(await s.queuePosition(claimed.id), null, "generating: not in the line");
      assert.equal(await s.queuePosition(tb[1].id), 3, "one fewer ahead once a task generates");
      assert.equal(await s.queuePosition("0".repeat(32)), null);
    });
  });

  describe("health, skipped deliveries, callback rules", () => {
    test("checkHealth: every known migration is applied", async () => {
      const h = await ctx.store().checkHealth();
      assert.ok(h.migrationsKnown >= 2);
      assert.equal(h.migrationsApplied, h.migrationsKnown);
    });

    test("a delivery with a skipReason is stored as skipped, never claimed", async () => {
      const s = ctx.store();
      const a = await newOwner(s);
      const d = await s.createDelivery(
        newDelivery(a.account.id, { skipReason: "destination denied by PEEL_CALLBACK_DENY (*.kie.ai)" }),
      );
      assert.equal(d.state, "skipped");
      assert.equal(d.nextAttemptAt, null);
      const stored = await s.getDelivery(d.id);
      assert.equal(stored?.state, "skipped");
      assert.equal(stored?.lastError, "destination denied by PEEL_CALLBACK_DENY (*.kie.ai)");
      assert.equal(stored?.attemptCount, 0);
      assert.deepEqual(await s.claimDueDeliveries({ workerId: "d1", now: T0 + 1e9, limit: 10, leaseMs: 1000 }), []);
      assert.deepEqual(await s.listDeliveryAttempts(d.id), []);
      assert.equal((await s.listDeliveries({ state: "skipped" })).length, 1);
      const pending = await s.createDelivery(newDelivery(a.account.id));
      assert.equal(pending.state, "pending");
      assert.equal((await s.getDelivery(pending.id))?.lastError, null);
    });

    test("an account's callback policy is stored, read back with its key, and cleared", async () => {
      const s = ctx.store();
      const a = await newOwner(s);
      assert.equal(a.account.callbackPolicy, null);
      const policy = { allow: ["hooks.example.com"], deny: ["*.kie.ai", "10.0.0.0/8"] };
      const updated = await s.updateAccount(a.account.id, { callbackPolicy: policy });
      assert.deepEqual(updated?.callbackPolicy, policy);
      assert.deepEqual((await s.getAccount(a.account.id))?.callbackPolicy, policy);
      assert.deepEqual((await s.findApiKeyByHash(a.key.hash))?.account.callbackPolicy, policy);
      assert.equal((await s.updateAccount(a.account.id, { name: "renamed" }))?.callbackPolicy?.deny[0], "*.kie.ai");
      assert.equal((await s.updateAccount(a.account.id, { callbackPolicy: null }))?.callbackPolicy, null);
    });
  });
}
