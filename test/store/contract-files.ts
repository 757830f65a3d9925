import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FileRecord } from "../../src/domain/types.js";
import { newId } from "../../src/ids.js";
import type { ContractContext } from "./contract.js";
import { T0, newOwner } from "./contract-helpers.js";

const fileRecord = (accountId: string, over: Partial<FileRecord> = {}): Omit<FileRecord, "deletedAt"> => ({
  id: newId("file"),
  accountId,
  kind: "upload",
  taskId: null,
  urlPath: `/files/u/tok/uploads/${newId("file")}.png`,
  storageKey: "u/tok/a.png",
  size: 1234,
  mimeType: "image/png",
  createdAt: T0,
  expiresAt: T0 + 1000,
  ...over,
});

export function fileAndSwitchContract(ctx: ContractContext): void {
  describe("file records", () => {
    test("put and get by URL path", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const f = fileRecord(account.id);
      assert.deepEqual(await s.putFileRecord(f), { ...f, deletedAt: null });
      assert.deepEqual(await s.getFileByUrlPath(f.urlPath), { ...f, deletedAt: null });
      assert.equal(await s.getFileByUrlPath("/files/u/none.png"), null);
    });

    test("a second put to the same URL path replaces the live record", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const first = fileRecord(account.id, { urlPath: "/files/u/tok/uploads/a.png", expiresAt: T0 + 100 });
      const second = fileRecord(account.id, {
        urlPath: "/files/u/tok/uploads/a.png",
        createdAt: T0 + 50,
        expiresAt: T0 + 5000,
        size: 99,
      });
      await s.putFileRecord(first);
      await s.putFileRecord(second);
      assert.deepEqual(await s.getFileByUrlPath(first.urlPath), { ...second, deletedAt: null });
      assert.deepEqual(await s.listExpiredFiles(T0 + 200, 10), [], "the replaced record is not swept");
      assert.deepEqual(
        (await s.listFiles({ accountId: account.id })).map((f) => f.id),
        [second.id],
      );
    });

    test("listExpiredFiles and markFileDeleted", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const a = fileRecord(account.id, { expiresAt: T0 + 10 });
      const b = fileRecord(account.id, { expiresAt: T0 + 20 });
      const c = fileRecord(account.id, { expiresAt: T0 + 30, kind: "result", taskId: "a".repeat(32) });
      for (const f of [c, b, a]) await s.putFileRecord(f);
      assert.deepEqual(
        (await s.listExpiredFiles(T0 + 20, 10)).map((f) => f.id),
        [a.id, b.id],
      );
      assert.deepEqual(
        (await s.listExpiredFiles(T0 + 20, 1)).map((f) => f.id),
        [a.id],
      );
      await s.markFileDeleted(a.id, T0 + 25);
      await s.markFileDeleted(a.id, T0 + 99); // second mark keeps the first time
      assert.deepEqual(
        (await s.listExpiredFiles(T0 + 30, 10)).map((f) => f.id),
        [b.id, c.id],
      );
      assert.equal((await s.getFileByUrlPath(a.urlPath))?.deletedAt, T0 + 25, "deleted records are still found");
    });

    test("listFiles filters by account and kind, newest first, live only", async () => {
      const s = ctx.store();
      const x = await newOwner(s);
      const y = await newOwner(s);
      const u1 = fileRecord(x.account.id, { createdAt: T0 + 1 });
      const r1 = fileRecord(x.account.id, { createdAt: T0 + 2, kind: "result", taskId: "b".repeat(32) });
      const u2 = fileRecord(y.account.id, { createdAt: T0 + 3 });
      const gone = fileRecord(x.account.id, { createdAt: T0 + 4 });
      for (const f of [u1, r1, u2, gone]) await s.putFileRecord(f);
      await s.markFileDeleted(gone.id, T0 + 5);
      assert.deepEqual(
        (await s.listFiles({})).map((f) => f.id),
        [u2.id, r1.id, u1.id],
      );
      assert.deepEqual(
        (await s.listFiles({ accountId: x.account.id })).map((f) => f.id),
        [r1.id, u1.id],
      );
      assert.deepEqual(
        (await s.listFiles({ kind: "result" })).map((f) => f.id),
        [r1.id],
      );
      assert.deepEqual(
        (await s.listFiles({ limit: 1 })).map((f) => f.id),
        [u2.id],
      );
    });
  });

  describe("switches", () => {
    test("defaults: no maintenance, no disabled models", async () => {
      assert.deepEqual(await ctx.store().getSwitches(), { maintenance: false, disabledModels: [] });
    });

    test("maintenance on and off", async () => {
      const s = ctx.store();
      await s.setMaintenance(true);
      await s.setMaintenance(true);
      assert.equal((await s.getSwitches()).maintenance, true);
      await s.setMaintenance(false);
      assert.equal((await s.getSwitches()).maintenance, false);
    });

    test("models are disabled and enabled independently; repeats are harmless", async () => {
      const s = ctx.store();
      await s.setModelEnabled("nano-banana-pro", false);
      await s.setModelEnabled("nano-banana-pro", false);
      await s.setModelEnabled("google/nano-banana", false);
      assert.deepEqual((await s.getSwitches()).disabledModels.sort(), ["google/nano-banana", "nano-banana-pro"]);
      await s.setModelEnabled("nano-banana-pro", true);
      await s.setModelEnabled("never-disabled", true);
      assert.deepEqual(await s.getSwitches(), { maintenance: false, disabledModels: ["google/nano-banana"] });
    });
  });
}
