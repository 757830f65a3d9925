import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ContractContext } from "./contract.js";
import { DAY, HOUR, T0, assertBalanced, create, createOk, newOwner, newTask } from "./contract-helpers.js";

export function creditContract(ctx: ContractContext): void {
  describe("ledger and balance", () => {
    test("initial credits are a grant entry; grants and debits move the balance", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s, { credits: 100 });
      const [initial] = await s.listLedger(account.id);
      assert.equal(initial.kind, "grant");
      assert.equal(initial.amount, 100);
      assert.equal(initial.taskId, null);
      assert.equal(initial.createdAt, T0);
      const g = await s.grantCredits(account.id, 50, "top-up", T0 + 1);
      assert.match(g.id, /^led_/);
      assert.deepEqual(g, {
        id: g.id,
        accountId: account.id,
        taskId: null,
        kind: "grant",
        amount: 50,
        note: "top-up",
        createdAt: T0 + 1,
      });
      await s.grantCredits(account.id, -30, "manual debit", T0 + 2);
      assert.equal(await s.getBalance(account.id), 120);
      assert.equal(await assertBalanced(s, account.id), 120);
    });

    test("listLedger is newest first, honours limit and taskId", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await s.grantCredits(owner.account.id, 1, "a", T0 + 1);
      await s.grantCredits(owner.account.id, 2, "b", T0 + 1); // same ms: insertion order breaks the tie
      const task = await createOk(s, owner, { createTime: T0 + 2 });
      const all = await s.listLedger(owner.account.id);
      assert.deepEqual(
        all.map((e) => [e.kind, e.amount]),
        [
          ["hold", -18],
          ["grant", 2],
          ["grant", 1],
          ["grant", 100],
        ],
      );
      assert.deepEqual(
        (await s.listLedger(owner.account.id, { limit: 2 })).map((e) => e.amount),
        [-18, 2],
      );
      const forTask = await s.listLedger(owner.account.id, { taskId: task.id });
      assert.equal(forTask.length, 1);
      assert.equal(forTask[0].taskId, task.id);
    });

    test("grantCredits to an unknown account is refused", async () => {
      await assert.rejects(ctx.store().grantCredits("acc_nope", 10, null, T0));
    });
  });

  describe("createTask and credit holds", () => {
    test("creates a waiting task holding its price", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const nt = newTask(owner, { callbackUrl: "https://example.com/cb", price: 24 });
      const out = await s.createTask({ task: nt, holdCredits: true });
      assert.equal(out.kind, "created");
      const t = (out as { task: import("../../src/domain/types.js").TaskRecord }).task;
      assert.deepEqual(t, {
        ...nt,
        state: "waiting",
        resultUrls: null,
        failCode: null,
        failMsg: null,
        updateTime: nt.createTime,
        generatingSince: null,
        completeTime: null,
        attempts: 0,
        cancelRequested: false,
        consumedCredits: 0,
      });
      assert.deepEqual(await s.getTask(nt.id), t);
      assert.equal(await assertBalanced(s, owner.account.id), 76);
      const [hold] = await s.listLedger(owner.account.id, { taskId: nt.id });
      assert.equal(hold.kind, "hold");
      assert.equal(hold.amount, -24);
      assert.equal(hold.createdAt, nt.createTime);
    });

    test("insufficient credits creates nothing and charges nothing", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 17 });
      const nt = newTask(owner);
      assert.deepEqual(await s.createTask({ task: nt, holdCredits: true }), { kind: "insufficient_credits" });
      assert.equal(await s.getTask(nt.id), null);
      assert.equal(await assertBalanced(s, owner.account.id), 17);
      assert.equal((await s.listLedger(owner.account.id)).length, 1);
      assert.equal((await s.countTasks()).waiting, 0);
    });

    test("a balance of exactly the price is enough, and ends at zero", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 18 });
      await createOk(s, owner);
      assert.equal(await assertBalanced(s, owner.account.id), 0);
      assert.equal((await create(s, owner)).kind, "insufficient_credits");
    });

    test("200 simultaneous creates with credit for 50 accept exactly 50", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 50 * 18 });
      const outs = await Promise.all(Array.from({ length: 200 }, (_, i) => create(s, owner, { createTime: T0 + i })));
      assert.equal(outs.filter((o) => o.kind === "created").length, 50);
      assert.equal(outs.filter((o) => o.kind === "insufficient_credits").length, 150);
      assert.equal(await assertBalanced(s, owner.account.id), 0);
      assert.equal((await s.countTasks({ accountId: owner.account.id })).waiting, 50);
      const holds = (await s.listLedger(owner.account.id, { limit: 1000 })).filter((e) => e.kind === "hold");
      assert.equal(holds.length, 50);
    });

    test("unmetered accounts hold nothing", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { unmetered: true });
      const t = await createOk(s, owner, { price: 0 }, { holdCredits: false });
      assert.equal(t.price, 0);
      assert.equal(await assertBalanced(s, owner.account.id), 0);
      assert.deepEqual(await s.listLedger(owner.account.id), []);
    });

    test("holdCredits false holds nothing even with a price", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 0 });
      const t = await createOk(s, owner, { price: 18 }, { holdCredits: false });
      assert.equal(t.price, 18);
      assert.deepEqual(await s.listLedger(owner.account.id), []);
    });

    test("getTask with another account's id is null", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 100 });
      const b = await newOwner(s, { credits: 100 });
      const t = await createOk(s, a);
      assert.equal(await s.getTask(t.id, b.account.id), null);
      assert.deepEqual(await s.getTask(t.id, a.account.id), t);
      assert.equal(await s.getTask("0".repeat(32)), null);
    });

    test("countTasks reports every state, per account or overall", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 100 });
      const b = await newOwner(s, { credits: 100 });
      await createOk(s, a);
      await createOk(s, a);
      await createOk(s, b);
      assert.deepEqual(await s.countTasks({ accountId: a.account.id }), {
        waiting: 2,
        queuing: 0,
        generating: 0,
        success: 0,
        fail: 0,
      });
      assert.equal((await s.countTasks()).waiting, 3);
    });
  });

  describe("per-key usage caps", () => {
    test("hourly window: usage + price may reach the cap, not exceed it; a task one hour old has left", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      const caps = { hourly: 36 };
      await createOk(s, owner, { createTime: T0 }, { caps });
      await createOk(s, owner, { createTime: T0 + 1 }, { caps });
      assert.deepEqual(await create(s, owner, { createTime: T0 + 2 }, { caps }), { kind: "cap_exceeded", window: "hourly" });
      assert.deepEqual(await create(s, owner, { createTime: T0 + HOUR - 1 }, { caps }), {
        kind: "cap_exceeded",
        window: "hourly",
      });
      // at T0 + 1h the first task is exactly one hour old: outside the window, 18 + 18 = 36 fits
      await createOk(s, owner, { createTime: T0 + HOUR }, { caps });
      assert.equal(await assertBalanced(s, owner.account.id), 1000 - 3 * 18);
    });

    test("a refused create holds nothing and stores nothing", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      const nt = newTask(owner);
      assert.deepEqual(await s.createTask({ task: nt, holdCredits: true, caps: { total: 17 } }), {
        kind: "cap_exceeded",
        window: "total",
      });
      assert.equal(await s.getTask(nt.id), null);
      assert.equal(await assertBalanced(s, owner.account.id), 1000);
    });

    test("daily and total windows", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      await createOk(s, owner, { createTime: T0 });
      await createOk(s, owner, { createTime: T0 + 2 * HOUR });
      const daily = { daily: 36 };
      assert.deepEqual(await create(s, owner, { createTime: T0 + DAY - 1 }, { caps: daily }), {
        kind: "cap_exceeded",
        window: "daily",
      });
      await createOk(s, owner, { createTime: T0 + DAY }, { caps: daily });
      assert.deepEqual(await create(s, owner, { createTime: T0 + 10 * DAY }, { caps: { total: 60 } }), {
        kind: "cap_exceeded",
        window: "total",
      });
      await createOk(s, owner, { createTime: T0 + 10 * DAY }, { caps: { total: 72 } });
    });

    test("windows are checked hourly, then daily, then total; null caps are off", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      await createOk(s, owner);
      const all = { hourly: 20, daily: 20, total: 20 };
      assert.deepEqual(await create(s, owner, { createTime: T0 + 1 }, { caps: all }), { kind: "cap_exceeded", window: "hourly" });
      assert.deepEqual(await create(s, owner, { createTime: T0 + 1 }, { caps: { hourly: null, daily: 20, total: 20 } }), {
        kind: "cap_exceeded",
        window: "daily",
      });
      assert.deepEqual(await create(s, owner, { createTime: T0 + 1 }, { caps: { hourly: null, daily: null, total: 20 } }), {
        kind: "cap_exceeded",
        window: "total",
      });
      await createOk(s, owner, { createTime: T0 + 1 }, { caps: { hourly: null, daily: null, total: null } });
    });

    test("failed tasks do not count; caps are per key", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 1000 });
      const t = await createOk(s, owner);
      assert.ok(await s.failTask({ taskId: t.id, workerId: null, now: T0 + 1, failCode: "500", failMsg: "x" }));
      await createOk(s, owner, { createTime: T0 + 2 }, { caps: { hourly: 18 } });
      assert.equal((await create(s, owner, { createTime: T0 + 3 }, { caps: { hourly: 18 } })).kind, "cap_exceeded");
      const key2 = await s.createApiKey({ accountId: owner.account.id, name: "k2", hash: "f".repeat(64), prefix: "pk_2" }, T0);
      await createOk(s, { account: owner.account, key: key2 }, { createTime: T0 + 3 }, { caps: { hourly: 18 } });
    });
  });

  describe("idempotency keys", () => {
    const idem = (key: string, bodyHash: string, expiresAt = T0 + DAY) => ({ idempotency: { key, bodyHash, expiresAt } });

    test("same key and body replays the original task; nothing charged or created", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const t = await createOk(s, owner, {}, idem("k1", "h1"));
      const again = await create(s, owner, { createTime: T0 + 5 }, idem("k1", "h1"));
      assert.deepEqual(again, { kind: "replayed", taskId: t.id });
      assert.equal(await assertBalanced(s, owner.account.id), 82);
      assert.equal((await s.countTasks()).waiting, 1);
    });

    test("same key with another body conflicts", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner, {}, idem("k1", "h1"));
      assert.deepEqual(await create(s, owner, { createTime: T0 + 5 }, idem("k1", "h2")), { kind: "idempotency_conflict" });
      assert.equal(await assertBalanced(s, owner.account.id), 82);
    });

    test("a replay wins over insufficient credits and caps", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 18 });
      const t = await createOk(s, owner, {}, idem("k1", "h1"));
      assert.deepEqual(await create(s, owner, { createTime: T0 + 1 }, { ...idem("k1", "h1"), caps: { total: 0 } }), {
        kind: "replayed",
        taskId: t.id,
      });
    });

    test("an expired key may be used again for a new task", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const t1 = await createOk(s, owner, { createTime: T0 }, idem("k1", "h1", T0 + 1000));
      assert.equal((await create(s, owner, { createTime: T0 + 999 }, idem("k1", "h2", T0 + 2000))).kind, "idempotency_conflict");
      const t2 = await createOk(s, owner, { createTime: T0 + 1000 }, idem("k1", "h2", T0 + 5000));
      assert.notEqual(t1.id, t2.id);
      assert.deepEqual(await create(s, owner, { createTime: T0 + 1001 }, idem("k1", "h2")), { kind: "replayed", taskId: t2.id });
    });

    test("a refused create does not keep the key", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 0 });
      assert.equal((await create(s, owner, {}, idem("k1", "h1"))).kind, "insufficient_credits");
      await s.grantCredits(owner.account.id, 18, null, T0 + 1);
      await createOk(s, owner, { createTime: T0 + 2 }, idem("k1", "h1"));
    });

    test("keys are scoped per account", async () => {
      const s = ctx.store();
      const a = await newOwner(s, { credits: 100 });
      const b = await newOwner(s, { credits: 100 });
      const ta = await createOk(s, a, {}, idem("same", "h1"));
      const tb = await createOk(s, b, {}, idem("same", "h2"));
      assert.notEqual(ta.id, tb.id);
    });

    test("two concurrent creates with the same key create one task", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      const outs = await Promise.all([create(s, owner, {}, idem("k1", "h1")), create(s, owner, {}, idem("k1", "h1"))]);
      const created = outs.filter((o) => o.kind === "created");
      const replayed = outs.filter((o) => o.kind === "replayed");
      assert.equal(created.length, 1);
      assert.equal(replayed.length, 1);
      assert.equal((replayed[0] as { taskId: string }).taskId, (created[0] as { task: { id: string } }).task.id);
      assert.equal(await assertBalanced(s, owner.account.id), 82);
    });

    test("purgeIdempotencyKeys drops expired keys only", async () => {
      const s = ctx.store();
      const owner = await newOwner(s, { credits: 100 });
      await createOk(s, owner, {}, idem("old", "h", T0 + 10));
      const keep = await createOk(s, owner, {}, idem("new", "h", T0 + 100));
      assert.equal(await s.purgeIdempotencyKeys(T0 + 10), 1);
      assert.equal(await s.purgeIdempotencyKeys(T0 + 10), 0);
      assert.deepEqual(await create(s, owner, { createTime: T0 + 11 }, idem("new", "h")), { kind: "replayed", taskId: keep.id });
    });
  });
}
