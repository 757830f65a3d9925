import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import Database from "better-sqlite3";
import pino from "pino";
import { ManualClock } from "../../src/clock.js";
import { FileService } from "../../src/files/file-service.js";
import type { PutOptions } from "../../src/files/file-store.js";
import { LocalFileStore } from "../../src/files/local.js";
import { saveResultWithRetry } from "../../src/files/save-result-with-retry.js";
import { isStorageFull } from "../../src/files/storage-full.js";
import { StorageStatus } from "../../src/files/storage-status.js";
import { openStore } from "../../src/store/open-store.js";
import type { Store } from "../../src/store/store.js";
import { PNG } from "./harness.js";

// The result-saving retry alone, on any machine: a local FileStore whose writes fail with the
// error Node raises on a full disk (an ErrnoException with code ENOSPC, errno -28, syscall write)
// while `full` is set. test/files/full-disk.test.ts runs the same path on a real full tmpfs.

/** Node's own error for a write on a full disk. */
function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
}

class FillableStore extends LocalFileStore {
  full = false;
  puts = 0;
  override async put(key: string, body: Readable | Buffer, contentType: string, opts?: PutOptions): Promise<number> {
    this.puts++;
    if (this.full) throw enospc();
    return super.put(key, body, contentType, opts);
  }
}

async function rig(t: import("node:test").TestContext) {
  const dir = await mkdtemp(path.join(tmpdir(), "peel-retry-"));
  const db: Store = await openStore(`sqlite:${path.join(dir, "peel.db")}`);
  const store = new FillableStore(path.join(dir, "files"));
  const status = new StorageStatus(null);
  const files = new FileService({
    store,
    records: db,
    publicUrl: "https://peel.test",
    secret: "s".repeat(32),
    uploadRetentionMs: 3_600_000,
    resultRetentionMs: 3_600_000,
    uploadMaxBytes: 1 << 20,
    clock: new ManualClock(),
    storageStatus: status,
  });
  t.after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  const account = await db.createAccount({ name: "a" }, Date.now());
  return { dir, db, store, files, status, account };
}

const log = pino({ level: "silent" });
const input = (accountId: string) => ({ accountId, taskId: "t1", bytes: PNG, format: "png" as const });

test("isStorageFull knows the full-disk errors of every backend, and nothing else", () => {
  assert.ok(isStorageFull(enospc()));
  assert.ok(isStorageFull(Object.assign(new Error("quota"), { code: "EDQUOT" })));
  assert.ok(isStorageFull(new Database.SqliteError("database or disk is full", "SQLITE_FULL")));
  assert.ok(isStorageFull(Object.assign(new Error("could not extend file"), { code: "53100" })));
  assert.ok(isStorageFull(Object.assign(new Error("S3"), { name: "XMinioStorageFull" })));
  assert.ok(isStorageFull(new Error("wrapped", { cause: enospc() })));
  assert.ok(!isStorageFull(Object.assign(new Error("denied"), { code: "EACCES" })));
  assert.ok(!isStorageFull(new Database.SqliteError("locked", "SQLITE_BUSY")));
  assert.ok(!isStorageFull(new Error("boom")));
  assert.ok(!isStorageFull(null));
});

test("a full disk is waited out: the write is retried until space returns, then the URL is returned", async (t) => {
  const { store, files, status, account } = await rig(t);
  store.full = true;
  const saving = saveResultWithRetry(files, input(account.id), {
    signal: new AbortController().signal,
    log,
    firstDelayMs: 5,
    maxDelayMs: 20,
  });
  while (store.puts < 4) await new Promise((r) => setTimeout(r, 5));
  assert.equal(status.full, true, "the status says full while it waits");
  assert.equal(status.snapshot().where, "result");
  store.full = false;
  const url = await saving;
  assert.match(url, /^https:\/\/peel\.test\/files\/r\/t1\/[A-Za-z0-9]+\.png$/);
  assert.equal(status.full, false, "a successful write clears it");
  const bytes = await files.readOwnFile(new URL(url), 1 << 20, account.id);
  assert.deepEqual(bytes, PNG);
});

test("the run's abort ends the wait with the abort reason (deadline, cancel, lease lost)", async (t) => {
  const { store, files, account } = await rig(t);
  store.full = true;
  const ctl = new AbortController();
  const saving = saveResultWithRetry(files, input(account.id), { signal: ctl.signal, log, firstDelayMs: 5, maxDelayMs: 10 });
  while (store.puts < 2) await new Promise((r) => setTimeout(r, 5));
  const reason = new Error("deadline");
  ctl.abort(reason);
  await assert.rejects(saving, (e) => e === reason);
  const puts = store.puts;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(store.puts, puts, "no write after the abort");
});

test("any other error is thrown at once, without a retry", async (t) => {
  const { store, files, account } = await rig(t);
  store.put = async () => {
    store.puts++;
    throw Object.assign(new Error("EACCES: permission denied, open"), { code: "EACCES", syscall: "open" });
  };
  await assert.rejects(saveResultWithRetry(files, input(account.id), { signal: new AbortController().signal, log }), /EACCES/);
  assert.equal(store.puts, 1);
});

test("a full database after the bytes were written removes them again before the retry", async (t) => {
  const { dir, db, files, account } = await rig(t);
  const put = db.putFileRecord.bind(db);
  let failures = 2;
  db.putFileRecord = async (f) => {
    if (failures-- > 0) throw new Database.SqliteError("database or disk is full", "SQLITE_FULL");
    return put(f);
  };
  const url = await saveResultWithRetry(files, input(account.id), {
    signal: new AbortController().signal,
    log,
    firstDelayMs: 1,
  });
  const kept = await readdir(path.join(dir, "files", "r", "t1"));
  assert.deepEqual(kept, [url.slice(url.lastIndexOf("/") + 1)], "only the stored result is on disk");
});
