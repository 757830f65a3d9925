import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { FileStore } from "../../src/files/file-store.js";
import { startFileSweeper, sweepExpiredFiles } from "../../src/files/sweeper.js";
import { BACKENDS, DAY, HOUR, JPEG, PNG, fileEnv, type Env } from "./harness.js";

const envs = fileEnv();
after(() => envs.stopS3());

/** The same store, except that deleting `failKey` throws. */
function failingDeletes(store: FileStore, failKey: () => string | null): FileStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "delete") {
        return async (key: string) => {
          if (key === failKey()) throw new Error("storage unavailable");
          return target.delete(key);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const pathOf = (url: string) => new URL(url).pathname;

for (const backend of BACKENDS) {
  describe(`file retention sweep (${backend})`, () => {
    const it = (title: string, fn: (env: Env) => Promise<void>) =>
      test(title, async () => {
        const env = await envs.make(backend);
        try {
          await fn(env);
        } finally {
          await env.close();
        }
      });

    it("uploads go after 3 days, results after 14; nothing expired is left behind", async (env) => {
      const { files, a, b, clock, db, store } = env;
      const up1 = await files.saveUpload({ account: a, fileName: "a.png", body: PNG });
      const up2 = await files.saveUpload({ account: b, uploadPath: "x/y", body: JPEG });
      const res = await files.saveResult({
        accountId: a.id,
        taskId: "0123456789abcdef0123456789abcdef",
        bytes: PNG,
        format: "png",
      });
      assert.equal((await env.leftovers()).length, 3);

      clock.advance(3 * DAY - 1);
      assert.equal(await sweepExpiredFiles({ records: db, store, now: clock.now() }), 0);
      clock.advance(1);
      assert.equal(await sweepExpiredFiles({ records: db, store, now: clock.now() }), 2);
      assert.equal((await env.leftovers()).length, 1, "only the result remains");
      assert.equal((await files.open(pathOf(up1.fileUrl), {})).kind, "expired");
      assert.equal((await files.open(pathOf(up2.fileUrl), {})).kind, "expired");
      assert.equal((await db.getFileByUrlPath(pathOf(up1.fileUrl)))?.deletedAt, clock.now());
      assert.equal(await sweepExpiredFiles({ records: db, store, now: clock.now() }), 0, "idempotent");

      clock.advance(11 * DAY);
      assert.equal(await sweepExpiredFiles({ records: db, store, now: clock.now() }), 1);
      assert.deepEqual(await env.leftovers(), []);
      assert.equal((await files.open(pathOf(res), {})).kind, "expired");
    });

    it("sweeps in batches until nothing is due", async (env) => {
      const { files, a, clock, db, store } = env;
      for (let i = 0; i < 7; i++) await files.saveUpload({ account: a, fileName: `f${i}.png`, body: PNG });
      clock.advance(3 * DAY);
      assert.equal(await sweepExpiredFiles({ records: db, store, now: clock.now(), batch: 2 }), 7);
      assert.deepEqual(await env.leftovers(), []);
    });

    it("one failed delete is logged and skipped; the rest are swept; the next sweep retries it", async (env) => {
      const { files, a, clock, db, store } = env;
      const ups = [];
      for (let i = 0; i < 5; i++) ups.push(await files.saveUpload({ account: a, fileName: `f${i}.png`, body: PNG }));
      const stuckKey = `u/${a.id}/uploads/f2.png`;
      let failing: string | null = stuckKey;
      const logged: Array<{ obj: object; msg: string }> = [];
      clock.advance(3 * DAY);
      const flaky = failingDeletes(store, () => failing);
      const n = await sweepExpiredFiles({
        records: db,
        store: flaky,
        now: clock.now(),
        batch: 2,
        logger: { warn: (obj, msg) => logged.push({ obj, msg }) },
      });
      assert.equal(n, 4);
      assert.equal(logged.length, 1);
      assert.equal(logged[0].msg, "files:sweep:failed");
      assert.equal((logged[0].obj as { storageKey: string }).storageKey, stuckKey);
      assert.equal(await store.exists(stuckKey), true);
      assert.equal((await db.listExpiredFiles(clock.now(), 10)).length, 1, "its record is still due");

      failing = null;
      assert.equal(await sweepExpiredFiles({ records: db, store: flaky, now: clock.now() }), 1);
      assert.deepEqual(await env.leftovers(), []);
    });

    it("a re-upload to the same name is not swept with the old record", async (env) => {
      const { files, a, clock, db, store } = env;
      await files.saveUpload({ account: a, fileName: "same.png", body: PNG });
      clock.advance(2 * DAY);
      const again = await files.saveUpload({ account: a, fileName: "same.png", body: JPEG });
      clock.advance(1 * DAY + HOUR); // the first upload's 3 days are over, the second's are not
      await sweepExpiredFiles({ records: db, store, now: clock.now() });
      const opened = await files.open(pathOf(again.fileUrl), {});
      assert.ok(opened.kind === "ok");
      assert.equal(opened.object.contentType, "image/jpeg");
      opened.object.body.destroy();
    });

    it("a record whose bytes are already gone is still marked deleted", async (env) => {
      const { files, a, clock, db, store } = env;
      const up = await files.saveUpload({ account: a, fileName: "gone.png", body: PNG });
      await store.delete(`u/${a.id}/uploads/gone.png`);
      clock.advance(3 * DAY);
      assert.equal(await sweepExpiredFiles({ records: db, store, now: clock.now() }), 1);
      assert.equal((await files.open(pathOf(up.fileUrl), {})).kind, "expired");
    });
  });
}

test("startFileSweeper sweeps on its interval and stops cleanly", async () => {
  const env = await envs.make("local");
  try {
    const { files, a, clock, db, store } = env;
    const up = await files.saveUpload({ account: a, fileName: "t.png", body: PNG });
    clock.advance(3 * DAY);
    const sweeper = startFileSweeper({ records: db, store, clock, intervalMs: 20 });
    const deadline = Date.now() + 5000;
    while ((await env.leftovers()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await sweeper.stop();
    assert.deepEqual(await env.leftovers(), []);
    assert.equal((await files.open(pathOf(up.fileUrl), {})).kind, "expired");
  } finally {
    await env.close();
  }
});
