import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { TaskRecord } from "../../src/domain/types.js";
import type { ContractContext } from "./contract.js";
import { DEADLINE_MS, T0, claimOpts, createMany, createOk, newOwner, promoteAndClaim } from "./contract-helpers.js";

export function queueContract(ctx: ContractContext): void {
  describe("promotion (waiting → queuing)", () => {
    test("moves the oldest waiting tasks up to the account's cap", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000, maxRunning: 2 });
      const ts = await createMany(s, owner, 5);
      assert.equal((await s.promoteWaitingTasks({ now: T0 + 100, maxRunningPerAccount: 10 })).length, 2);
      assert.equal((await s.getTask(ts[0].id))?.state, "queuing");
      assert.equal((await s.getTask(ts[1].id))?.state, "queuing");
      assert.equal((await s.getTask(ts[2].id))?.state, "waiting");
      assert.equal((await s.getTask(ts[0].id))?.updateTime, T0 + 100, "updateTime moves with the state");
      assert.equal(
        (await s.promoteWaitingTasks({ now: T0 + 200, maxRunningPerAccount: 10 })).length,
        0,
        "queuing counts against the cap",
      );
    });

    test("an account without its own cap uses maxRunningPerAccount; accounts are independent", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 1000 });
      const b = await newOwner(s, { credits: 1000, maxRunning: 1 });
      await createMany(s, a, 5);
      await createMany(s, b, 5);
      assert.equal((await s.promoteWaitingTasks({ now: T0 + 100, maxRunningPerAccount: 3 })).length, 4);
      assert.equal((await s.countTasks({ accountId: a.account.id })).queuing, 3);
      assert.equal((await s.countTasks({ accountId: b.account.id })).queuing, 1);
    });

    test("generating tasks with a live lease or a pending retry count against the cap", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000, maxRunning: 2 });
      await createMany(s, owner, 5);
      const now = T0 + 100;
      await promoteAndClaim(s, "w1", now, 2);
      const t2 = await promoteAndClaim(s, "w2", now, 2);
      assert.equal((await s.promoteWaitingTasks({ now, maxRunningPerAccount: 2 })).length, 0);
      assert.ok(await s.releaseForRetry(t2.id, "w2", now + 10_000, now));
      assert.equal((await s.promoteWaitingTasks({ now, maxRunningPerAccount: 2 })).length, 0, "a pending retry keeps its slot");
    });

    test("a finished task frees its slot for the next waiting one", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000, maxRunning: 1 });
      const ts = await createMany(s, owner, 3);
      const t = await promoteAndClaim(s, "w1", T0 + 100);
      assert.equal(t.id, ts[0].id);
      assert.ok(await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 200, resultUrls: ["u"] }));
      assert.equal((await s.promoteWaitingTasks({ now: T0 + 300, maxRunningPerAccount: 4 })).length, 1);
      assert.equal((await s.getTask(ts[1].id))?.state, "queuing");
    });
  });

  describe("claiming", () => {
    test("claims the oldest queued task under a lease", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      const ts = await createMany(s, owner, 3);
      await s.promoteWaitingTasks({ now: T0 + 10, maxRunningPerAccount: 4 });
      const t = await s.claimTask(claimOpts("w1", T0 + 20, { leaseMs: 5000 }));
      assert.ok(t);
      assert.equal(t.id, ts[0].id);
      assert.equal(t.state, "generating");
      assert.equal(t.generatingSince, T0 + 20);
      assert.equal(t.updateTime, T0 + 20);
      assert.equal(t.attempts, 0, "attempts are counted by startAttempt");
      assert.deepEqual(await s.getTask(t.id), t);
    });

    test("nothing runnable → null; waiting tasks are not claimable", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      assert.equal(await s.claimTask(claimOpts("w1", T0)), null);
      await createOk(s, owner);
      assert.equal(await s.claimTask(claimOpts("w1", T0 + 1)), null);
    });

    test("fairness: an account with 100 queued tasks does not starve one with 1", async () => {
      const s = ctx.store();
      // The busy account gets the smaller id and the older tasks, so neither ordering by account id
      // nor global first-in-first-out can pass this by luck.
      const [a, b] = [await newOwner(s, { credits: 10_000 }), await newOwner(s, { credits: 10_000 })].sort((x, y) =>
        x.account.id < y.account.id ? -1 : 1,
      );
      await createMany(s, a, 100);
      const tb = await createOk(s, b, { createTime: T0 + 500 });
      await s.promoteWaitingTasks({ now: T0 + 1000, maxRunningPerAccount: 200 });
      const first = await s.claimTask(claimOpts("w1", T0 + 1000, { maxRunningPerAccount: 200 }));
      const second = await s.claimTask(claimOpts("w2", T0 + 1000, { maxRunningPerAccount: 200 }));
      assert.ok([first?.id, second?.id].includes(tb.id), "B's task is among the first two claims");
    });

    test("round robin: claims alternate between accounts with work", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 1000 });
      const b = await newOwner(s, { credits: 1000 });
      await createMany(s, a, 4);
      await createMany(s, b, 4, T0 + 100);
      await s.promoteWaitingTasks({ now: T0 + 1000, maxRunningPerAccount: 10 });
      const owners: string[] = [];
      for (let i = 0; i < 6; i++) {
        const t = await s.claimTask(claimOpts(`w${i}`, T0 + 1000 + i, { maxRunningPerAccount: 10 }));
        owners.push(t!.accountId);
      }
      for (let i = 1; i < owners.length; i++) assert.notEqual(owners[i], owners[i - 1], `claims ${owners.join(",")}`);
    });

    test("an account at its running cap is skipped", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 1000, maxRunning: 1 });
      const b = await newOwner(s, { credits: 1000 });
      await createMany(s, a, 2);
      await createMany(s, b, 2, T0 + 10);
      const now = T0 + 100;
      // Promote A's second task too by using a larger default, then claim with A capped at 1.
      await s.updateAccount(a.account.id, { maxRunning: 5 });
      await s.promoteWaitingTasks({ now, maxRunningPerAccount: 5 });
      await s.updateAccount(a.account.id, { maxRunning: 1 });
      const claimed: { worker: string; task: TaskRecord | null }[] = [];
      for (let i = 0; i < 4; i++) {
        claimed.push({ worker: `w${i}`, task: await s.claimTask(claimOpts(`w${i}`, now, { maxRunningPerAccount: 5 })) });
      }
      const ofA = claimed.filter((c) => c.task?.accountId === a.account.id);
      const ofB = claimed.filter((c) => c.task?.accountId === b.account.id);
      assert.equal(ofA.length, 1, "A runs one at a time");
      assert.equal(ofB.length, 2);
      assert.equal(claimed[3].task, null);
      assert.ok(await s.completeTask({ taskId: ofA[0].task!.id, workerId: ofA[0].worker, now: now + 1, resultUrls: ["u"] }));
      const next = await s.claimTask(claimOpts("w9", now + 2, { maxRunningPerAccount: 5 }));
      assert.equal(next?.accountId, a.account.id);
    });
  });

  describe("leases and retries", () => {
    test("an expired lease lets another worker re-claim; the first worker has lost it", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner);
      await s.promoteWaitingTasks({ now: T0 + 10, maxRunningPerAccount: 1 });
      const t = await s.claimTask(claimOpts("w1", T0 + 10, { leaseMs: 1000, maxRunningPerAccount: 1 }));
      assert.ok(t);
      assert.equal(
        await s.claimTask(claimOpts("w2", T0 + 1009, { leaseMs: 1000, maxRunningPerAccount: 1 })),
        null,
        "lease still live",
      );
      const again = await s.claimTask(claimOpts("w2", T0 + 1010, { leaseMs: 1000, maxRunningPerAccount: 1 }));
      assert.equal(again?.id, t.id);
      assert.equal(again?.state, "generating");
      assert.equal(again?.generatingSince, T0 + 10, "generatingSince keeps the first claim");
      assert.equal(again?.updateTime, T0 + 10, "no state change, so updateTime stays");
      assert.deepEqual(await s.renewLease(t.id, "w1", T0 + 5000), { held: false, cancelRequested: false });
      assert.equal(await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 1100, resultUrls: ["x"] }), null);
      assert.equal(await s.failTask({ taskId: t.id, workerId: "w1", now: T0 + 1100, failCode: "500", failMsg: "x" }), null);
      const done = await s.completeTask({ taskId: t.id, workerId: "w2", now: T0 + 1200, resultUrls: ["y"] });
      assert.equal(done?.state, "success");
      const ledger = await s.listLedger(owner.account.id, { taskId: t.id });
      assert.deepEqual(ledger.map((e) => e.kind).sort(), ["capture", "hold"], "held and captured once");
      assert.equal(await s.getBalance(owner.account.id), 82);
    });

    test("renewLease extends a held lease", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner);
      const t = await promoteAndClaim(s, "w1", T0 + 10, 1);
      assert.deepEqual(await s.renewLease(t.id, "w1", T0 + 100_000), { held: true, cancelRequested: false });
      assert.equal(await s.claimTask(claimOpts("w2", T0 + 90_000, { maxRunningPerAccount: 1 })), null);
      assert.equal((await s.claimTask(claimOpts("w2", T0 + 100_000, { maxRunningPerAccount: 1 })))?.id, t.id);
    });

    test("releaseForRetry: stays generating, runnable again after runAfter", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner);
      const t = await promoteAndClaim(s, "w1", T0 + 10, 1);
      assert.equal(await s.releaseForRetry(t.id, "w2", T0 + 5000, T0 + 20), false, "only the holder releases");
      assert.equal(await s.releaseForRetry(t.id, "w1", T0 + 5000, T0 + 20), true);
      const mid = await s.getTask(t.id);
      assert.equal(mid?.state, "generating");
      assert.equal(mid?.updateTime, T0 + 10);
      assert.equal(await s.claimTask(claimOpts("w2", T0 + 4999, { maxRunningPerAccount: 1 })), null);
      const again = await s.claimTask(claimOpts("w2", T0 + 5000, { maxRunningPerAccount: 1 }));
      assert.equal(again?.id, t.id);
      assert.equal(await s.releaseForRetry(t.id, "w1", T0 + 9000, T0 + 5001), false, "w1 no longer holds it");
    });

    test("startAttempt counts attempts for the lease holder only", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner);
      const t = await promoteAndClaim(s, "w1", T0 + 10, 1);
      assert.equal(await s.startAttempt(t.id, "w1", T0 + 11), 1);
      assert.equal(await s.startAttempt(t.id, "w1", T0 + 12), 2);
      assert.equal(await s.startAttempt(t.id, "w2", T0 + 13), 0, "0 = not this worker's lease");
      await s.releaseForRetry(t.id, "w1", T0 + 20, T0 + 14);
      await s.claimTask(claimOpts("w2", T0 + 20, { maxRunningPerAccount: 1 }));
      assert.equal(await s.startAttempt(t.id, "w2", T0 + 21), 3, "attempts survive re-claims");
      assert.equal((await s.getTask(t.id))?.attempts, 3);
    });
  });

  describe("deadlines", () => {
    test("listOverdueTasks: open tasks past their deadline, oldest first, limited", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      const ts = await createMany(s, owner, 4);
      await s.failTask({ taskId: ts[1].id, workerId: null, now: T0 + 5, failCode: "500", failMsg: "x" });
      assert.deepEqual(await s.listOverdueTasks(T0 + DEADLINE_MS - 1, 10), []);
      const overdue = await s.listOverdueTasks(T0 + DEADLINE_MS + 2, 10);
      assert.deepEqual(
        overdue.map((t) => t.id),
        [ts[0].id, ts[2].id],
      );
      assert.deepEqual(
        (await s.listOverdueTasks(T0 + DEADLINE_MS + 10, 2)).map((t) => t.id),
        [ts[0].id, ts[2].id],
      );
      assert.equal((await s.listOverdueTasks(T0 + DEADLINE_MS + 10, 10)).length, 3);
    });

    test("a generating task past its deadline is listed too", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      await createOk(s, owner);
      const t = await promoteAndClaim(s, "w1", T0 + 10);
      assert.deepEqual(
        (await s.listOverdueTasks(T0 + DEADLINE_MS, 10)).map((x) => x.id),
        [t.id],
      );
    });
  });
}
