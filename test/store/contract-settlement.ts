import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FAIL_REASONS } from "../../src/errors.js";
import type { ContractContext } from "./contract.js";
import { T0, assertBalanced, createOk, newOwner, promoteAndClaim, recordingHook } from "./contract-helpers.js";

export function settlementContract(ctx: ContractContext): void {
  describe("settlement", () => {
    test("completeTask captures the hold exactly once", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner, { price: 24 });
      const t = await promoteAndClaim(s, "w1", T0 + 10);
      const done = await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 500, resultUrls: ["https://x/r.png"] });
      assert.ok(done);
      assert.equal(done.state, "success");
      assert.deepEqual(done.resultUrls, ["https://x/r.png"]);
      assert.equal(done.completeTime, T0 + 500);
      assert.equal(done.updateTime, T0 + 500);
      assert.equal(done.consumedCredits, 24);
      assert.equal(done.failCode, null);
      assert.deepEqual(await s.getTask(t.id), done);
      const ledgerBefore = await s.listLedger(owner.account.id);
      const capture = ledgerBefore.find((e) => e.kind === "capture");
      assert.equal(capture?.amount, 0, "capture moves nothing: the hold already took the credits");
      assert.equal(capture?.taskId, t.id);
      assert.equal(await assertBalanced(s, owner.account.id), 76);

      assert.equal(await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 600, resultUrls: ["z"] }), null);
      assert.equal(await s.failTask({ taskId: t.id, workerId: null, now: T0 + 600, failCode: "500", failMsg: "x" }), null);
      assert.deepEqual(await s.listLedger(owner.account.id), ledgerBefore, "ledger unchanged");
      assert.deepEqual(await s.getTask(t.id), done, "terminal states never change");
    });

    test("failTask releases the hold in full exactly once", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner);
      const t = await promoteAndClaim(s, "w1", T0 + 10);
      const failed = await s.failTask({ taskId: t.id, workerId: "w1", now: T0 + 50, failCode: "500", failMsg: "busy" });
      assert.ok(failed);
      assert.equal(failed.state, "fail");
      assert.equal(failed.failCode, "500");
      assert.equal(failed.failMsg, "busy");
      assert.equal(failed.resultUrls, null);
      assert.equal(failed.consumedCredits, 0);
      assert.equal(failed.completeTime, T0 + 50);
      assert.equal(await assertBalanced(s, owner.account.id), 100);
      const release = (await s.listLedger(owner.account.id, { taskId: t.id })).find((e) => e.kind === "release");
      assert.equal(release?.amount, 18);
      assert.equal(await s.failTask({ taskId: t.id, workerId: null, now: T0 + 60, failCode: "500", failMsg: "again" }), null);
      assert.equal(await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 60, resultUrls: ["u"] }), null);
      assert.equal(await assertBalanced(s, owner.account.id), 100);
      assert.equal((await s.listLedger(owner.account.id)).length, 3, "grant, hold, release");
    });

    test("failTask without a worker settles any open task (deadline sweep)", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const waiting = await createOk(s, owner);
      const f = await s.failTask({ taskId: waiting.id, workerId: null, now: T0 + 5, ...FAIL_REASONS.timed_out });
      assert.equal(f?.state, "fail");
      assert.equal(f?.failMsg, FAIL_REASONS.timed_out.failMsg);
      await createOk(s, owner, { createTime: T0 + 6 });
      const gen = await promoteAndClaim(s, "w1", T0 + 10);
      assert.equal(
        (await s.failTask({ taskId: gen.id, workerId: null, now: T0 + 20, failCode: "500", failMsg: "x" }))?.state,
        "fail",
      );
      assert.equal(await assertBalanced(s, owner.account.id), 100);
    });

    test("a worker that does not hold the lease cannot settle", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner);
      const t = await promoteAndClaim(s, "w1", T0 + 10);
      assert.equal(await s.completeTask({ taskId: t.id, workerId: "w2", now: T0 + 20, resultUrls: ["u"] }), null);
      assert.equal(await s.failTask({ taskId: t.id, workerId: "w2", now: T0 + 20, failCode: "500", failMsg: "x" }), null);
      assert.equal((await s.getTask(t.id))?.state, "generating");
      assert.equal(await s.completeTask({ taskId: "0".repeat(32), workerId: "w1", now: T0, resultUrls: [] }), null);
    });

    test("completeTask needs a generating task", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const t = await createOk(s, owner);
      assert.equal(await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 1, resultUrls: ["u"] }), null);
    });

    test("unmetered tasks settle without ledger entries", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { unmetered: true });
      await createOk(s, owner, { price: 0 }, { holdCredits: false });
      const t = await promoteAndClaim(s, "w1", T0 + 1);
      const done = await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 2, resultUrls: ["u"] });
      assert.equal(done?.consumedCredits, 0);
      assert.deepEqual(await s.listLedger(owner.account.id), []);
    });

    test("a mixed run ends with balance = grants − captured prices", async () => {
      const s = ctx.store();
      const grants = 40 * 24;
      const owner = await newOwner(s, { credits: grants, maxRunning: 40 });
      const prices = new Map<string, number>();
      for (let i = 0; i < 40; i++) {
        const t = await createOk(s, owner, { createTime: T0 + i, price: i % 3 === 0 ? 24 : 18 });
        prices.set(t.id, t.price);
      }
      const ids = [...prices.keys()];
      // cancel every 5th while still waiting
      for (const id of ids.filter((_, i) => i % 5 === 4))
        assert.equal((await s.requestCancel(id, owner.account.id, T0 + 100)).kind, "canceled");
      await s.promoteWaitingTasks({ now: T0 + 200, maxRunningPerAccount: 40 });
      let captured = 0;
      let n = 0;
      for (;;) {
        const t = await s.claimTask({ workerId: `w${n}`, now: T0 + 300 + n, leaseMs: 60_000, maxRunningPerAccount: 40 });
        if (!t) break;
        if (n % 4 === 1) {
          assert.ok(await s.failTask({ taskId: t.id, workerId: `w${n}`, now: T0 + 400 + n, failCode: "500", failMsg: "x" }));
        } else if (n % 4 === 2) {
          assert.equal((await s.requestCancel(t.id, owner.account.id, T0 + 400 + n)).kind, "cancel_requested");
          assert.ok(await s.failTask({ taskId: t.id, workerId: `w${n}`, now: T0 + 400 + n, ...FAIL_REASONS.canceled }));
        } else {
          assert.ok(await s.completeTask({ taskId: t.id, workerId: `w${n}`, now: T0 + 400 + n, resultUrls: ["u"] }));
          captured += prices.get(t.id)!;
        }
        n++;
      }
      assert.equal(n, 32);
      assert.equal(await assertBalanced(s, owner.account.id), grants - captured);
      const counts = await s.countTasks({ accountId: owner.account.id });
      assert.equal(counts.success + counts.fail, 40);
      const ledger = await s.listLedger(owner.account.id, { limit: 1000 });
      assert.equal(ledger.filter((e) => e.kind === "hold").length, 40);
      assert.equal(ledger.filter((e) => e.kind === "capture").length, counts.success);
      assert.equal(ledger.filter((e) => e.kind === "release").length, counts.fail);
    });
  });

  describe("cancel", () => {
    test("waiting and queuing tasks fail at once with failCode canceled", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const w = await createOk(s, owner);
      const q = await createOk(s, owner, { createTime: T0 + 1 });
      await s.promoteWaitingTasks({ now: T0 + 5, maxRunningPerAccount: 1 });
      assert.equal((await s.getTask(q.id))?.state, "waiting");
      assert.equal((await s.getTask(w.id))?.state, "queuing");
      for (const id of [w.id, q.id]) {
        const out = await s.requestCancel(id, owner.account.id, T0 + 10);
        assert.equal(out.kind, "canceled");
        const t = (out as { task: import("../../src/domain/types.js").TaskRecord }).task;
        assert.equal(t.state, "fail");
        assert.equal(t.failCode, "canceled");
        assert.equal(t.failMsg, "Task canceled by the client");
        assert.equal(t.completeTime, T0 + 10);
        assert.deepEqual(await s.getTask(id), t);
      }
      assert.equal(await assertBalanced(s, owner.account.id), 100, "both holds released");
    });

    test("a generating task gets cancelRequested, seen on lease renewal", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner);
      const t = await promoteAndClaim(s, "w1", T0 + 10);
      const out = await s.requestCancel(t.id, owner.account.id, T0 + 20);
      assert.equal(out.kind, "cancel_requested");
      const rec = (out as { task: import("../../src/domain/types.js").TaskRecord }).task;
      assert.equal(rec.state, "generating");
      assert.equal(rec.cancelRequested, true);
      assert.equal(rec.updateTime, t.updateTime, "no state change");
      assert.deepEqual(await s.renewLease(t.id, "w1", T0 + 60_000), { held: true, cancelRequested: true });
      assert.equal((await s.getTask(t.id))?.cancelRequested, true);
      assert.equal(await assertBalanced(s, owner.account.id), 82, "still held");
    });

    test("terminal → already_terminal; another account or unknown id → not_found", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const other = await newOwner(s, { credits: 100 });
      const t = await createOk(s, owner);
      assert.deepEqual(await s.requestCancel(t.id, other.account.id, T0 + 1), { kind: "not_found" });
      assert.deepEqual(await s.requestCancel("0".repeat(32), owner.account.id, T0 + 1), { kind: "not_found" });
      const first = await s.requestCancel(t.id, owner.account.id, T0 + 2);
      const second = await s.requestCancel(t.id, owner.account.id, T0 + 3);
      assert.equal(second.kind, "already_terminal");
      assert.deepEqual((second as { task: unknown }).task, (first as { task: unknown }).task);
      assert.equal(await assertBalanced(s, owner.account.id), 100);
    });
  });

  describe("settlement hook (callback outbox)", () => {
    test("the delivery row commits with the terminal state; remainedCredits is the balance after", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner, { callbackUrl: "https://receiver.example.com/cb" });
      await createOk(s, owner, { createTime: T0 + 1 });
      const t = await promoteAndClaim(s, "w1", T0 + 10);
      const { hook, calls } = recordingHook();
      const done = await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 100, resultUrls: ["u"] }, hook);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0].task, done);
      assert.equal(calls[0].remainedCredits, 100 - 36, "the other task's hold is still out");
      const d = await s.getDelivery(calls[0].delivery.id);
      assert.ok(d);
      assert.equal(d.state, "pending");
      assert.equal(d.nextAttemptAt, d.createdAt);
      assert.equal(d.attemptCount, 0);
      assert.equal(d.taskId, t.id);
      assert.equal(d.webhookId, calls[0].delivery.webhookId);
      assert.equal(d.payload, calls[0].delivery.payload);
    });

    test("fail and cancel pass the balance after the release", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const a = await createOk(s, owner);
      const b = await createOk(s, owner, { createTime: T0 + 1 });
      const { hook, calls } = recordingHook();
      await s.requestCancel(a.id, owner.account.id, T0 + 5, hook);
      assert.equal(calls[0].remainedCredits, 82);
      assert.equal(calls[0].task.failCode, "canceled");
      await s.failTask({ taskId: b.id, workerId: null, now: T0 + 6, failCode: "500", failMsg: "x" }, hook);
      assert.equal(calls[1].remainedCredits, 100);
      assert.equal((await s.listDeliveries({ accountId: owner.account.id })).length, 2);
    });

    test("a hook returning null stores no delivery", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const t = await createOk(s, owner);
      const done = await s.failTask({ taskId: t.id, workerId: null, now: T0 + 1, failCode: "500", failMsg: "x" }, () => null);
      assert.equal(done?.state, "fail");
      assert.deepEqual(await s.listDeliveries({}), []);
    });

    test("a throwing hook settles nothing", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner);
      const t = await promoteAndClaim(s, "w1", T0 + 10);
      const boom = () => {
        throw new Error("boom");
      };
      await assert.rejects(s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 20, resultUrls: ["u"] }, boom), /boom/);
      const after = await s.getTask(t.id);
      assert.equal(after?.state, "generating");
      assert.equal(await assertBalanced(s, owner.account.id), 82);
      assert.equal((await s.listLedger(owner.account.id)).length, 2, "no capture written");
      assert.ok(await s.completeTask({ taskId: t.id, workerId: "w1", now: T0 + 30, resultUrls: ["u"] }), "still settleable");
    });
  });
}
