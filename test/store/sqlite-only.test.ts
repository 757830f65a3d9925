import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SqliteDb } from "../../src/store/sqlite/db.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { migrateSqlite, schemaVersion, SchemaTooNewError } from "../../src/store/migrate-sqlite.js";
import { SQLITE_MIGRATIONS } from "../../src/store/migrations/sqlite/index.js";
import { openStore } from "../../src/store/open-store.js";
import { T0, newOwner, newTask } from "./contract-helpers.js";

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "peel-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openDb(t: TestContext, file: string): SqliteDb {
  const db = new SqliteDb(file);
  t.after(() => db.close());
  return db;
}

describe("SQLite migrations", () => {
  test("records each migration in the ledger; a second run applies nothing", (t) => {
    const db = openDb(t, path.join(tempDir(t), "m.db"));
    assert.deepEqual(
      migrateSqlite(db.db, SQLITE_MIGRATIONS, () => T0),
      SQLITE_MIGRATIONS.map((m) => m.id),
    );
    const ledger = db.all<{ id: number; name: string; applied_at: number }>("SELECT * FROM schema_migrations ORDER BY id");
    assert.deepEqual(
      ledger,
      SQLITE_MIGRATIONS.map((m) => ({ id: m.id, name: m.name, applied_at: T0 })),
    );
    assert.deepEqual(migrateSqlite(db.db), []);
    assert.equal(schemaVersion(db.db), SQLITE_MIGRATIONS.length);
  });

  test("a database migrated by a newer peel is refused with the fix named", (t) => {
    const db = openDb(t, path.join(tempDir(t), "m.db"));
    migrateSqlite(db.db);
    db.run("INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, 'from_the_future', 0)", SQLITE_MIGRATIONS.length + 1);
    assert.throws(
      () => migrateSqlite(db.db),
      (e: unknown) => {
        assert.ok(e instanceof SchemaTooNewError);
        assert.match(e.message, /this database was migrated by a newer peel/);
        assert.match(e.message, /upgrade peel/);
        return true;
      },
    );
  });

  test("openStore refuses a newer database too, and closes it", async (t) => {
    const file = path.join(tempDir(t), "m.db");
    const db = new SqliteDb(file);
    migrateSqlite(db.db);
    db.run("INSERT INTO schema_migrations (id, name, applied_at) VALUES (999, 'future', 0)");
    db.close();
    await assert.rejects(openStore(`sqlite:${file}`), /upgrade peel/);
  });

  test("a failing migration rolls back entirely and is not recorded", (t) => {
    const db = openDb(t, path.join(tempDir(t), "m.db"));
    const list = [
      { id: 1, name: "good", sql: "CREATE TABLE a (x INTEGER);" },
      { id: 2, name: "bad", sql: "CREATE TABLE b (x INTEGER); INSERT INTO nope VALUES (1);" },
    ];
    assert.throws(() => migrateSqlite(db.db, list), /nope/);
    assert.equal(schemaVersion(db.db), 1, "the good one stays applied");
    assert.equal(db.get("SELECT 1 FROM sqlite_master WHERE name = 'b'"), undefined, "b was rolled back");
    const fixed = [list[0], { id: 2, name: "bad", sql: "CREATE TABLE b (x INTEGER);" }];
    assert.deepEqual(migrateSqlite(db.db, fixed), [2]);
  });

  test("a migration list with gaps is a programming error", (t) => {
    const db = openDb(t, path.join(tempDir(t), "m.db"));
    assert.throws(() => migrateSqlite(db.db, [{ id: 2, name: "x", sql: "" }]), /out of order/);
  });

  async function raceMigrators(file: string, n: number, variant: "real" | "slow"): Promise<number[][]> {
    const startAt = Date.now() + 2000; // after every child has loaded tsx
    const outs = await Promise.all(
      Array.from({ length: n }, () =>
        run(process.execPath, ["--import", "tsx", path.join(here, "migrate-child.ts"), file, String(startAt), variant], {
          cwd: path.join(here, "..", ".."),
        }),
      ),
    );
    return outs.map((o) => JSON.parse(o.stdout) as number[]);
  }

  test("concurrent migrators in separate processes apply each migration once", async (t) => {
    const file = path.join(tempDir(t), "race.db");
    const applied = await raceMigrators(file, 3, "real");
    assert.deepEqual(
      applied.flat().sort(),
      SQLITE_MIGRATIONS.map((m) => m.id),
      `applied: ${JSON.stringify(applied)}`,
    );
    const db = openDb(t, file);
    assert.equal(db.get<{ n: number }>("SELECT COUNT(*) AS n FROM schema_migrations")?.n, SQLITE_MIGRATIONS.length);
  });

  test("a migrator that waited for the lock re-checks the ledger instead of re-applying", async (t) => {
    const file = path.join(tempDir(t), "slow.db");
    // Ledger table made up front, so the children's first lock is taken by the migration itself.
    const pre = new SqliteDb(file);
    migrateSqlite(pre.db, []);
    pre.close();
    const applied = await raceMigrators(file, 3, "slow");
    assert.deepEqual(applied.flat().sort(), [1, 2], `applied: ${JSON.stringify(applied)}`);
    const db = openDb(t, file);
    assert.equal(db.get<{ n: number }>("SELECT COUNT(*) AS n FROM slow_1")?.n, 300_000);
  });
});

describe("SQLite connection", () => {
  test("pragmas: WAL, synchronous NORMAL, foreign keys, busy timeout", (t) => {
    const db = openDb(t, path.join(tempDir(t), "p.db"));
    assert.equal(db.db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.db.pragma("synchronous", { simple: true }), 1);
    assert.equal(db.db.pragma("foreign_keys", { simple: true }), 1);
    assert.equal(db.db.pragma("busy_timeout", { simple: true }), 5000);
  });

  test("foreign keys are enforced: a task needs an existing account", async (t) => {
    const store = new SqliteStore(path.join(tempDir(t), "fk.db"));
    t.after(() => store.close());
    await store.migrate();
    const owner = await newOwner(store, { credits: 100 });
    const orphan = newTask({ ...owner, account: { ...owner.account, id: "acc_missing" } });
    await assert.rejects(store.createTask({ task: orphan, holdCredits: false }), /FOREIGN KEY/);
  });

  test("group commit: a failing create in a batch fails alone", async (t) => {
    const store = new SqliteStore(path.join(tempDir(t), "g.db"));
    t.after(() => store.close());
    await store.migrate();
    const owner = await newOwner(store, { credits: 1000 });
    const dup = newTask(owner);
    const results = await Promise.allSettled([
      store.createTask({ task: newTask(owner), holdCredits: true }),
      store.createTask({ task: dup, holdCredits: true }),
      store.createTask({ task: { ...dup }, holdCredits: true }), // same task id: primary key violation
      store.createTask({ task: newTask(owner), holdCredits: true }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "fulfilled", "rejected", "fulfilled"],
    );
    assert.equal(await store.getBalance(owner.account.id), 1000 - 3 * 18, "the failed create's hold was rolled back");
    const ledger = await store.listLedger(owner.account.id, { limit: 100 });
    assert.equal(
      ledger.reduce((s, e) => s + e.amount, 0),
      1000 - 3 * 18,
    );
  });

  test("close() commits creates still waiting for their group commit", async (t) => {
    const file = path.join(tempDir(t), "c.db");
    const store = new SqliteStore(file);
    await store.migrate();
    const owner = await newOwner(store, { credits: 100 });
    const nt = newTask(owner);
    const pending = store.createTask({ task: nt, holdCredits: true });
    await store.close();
    assert.equal((await pending).kind, "created");
    const again = new SqliteStore(file);
    t.after(() => again.close());
    assert.equal((await again.getTask(nt.id))?.state, "waiting");
  });

  test("two connections to one file see each other's commits (API process + worker process)", async (t) => {
    const file = path.join(tempDir(t), "two.db");
    const api = new SqliteStore(file);
    const worker = new SqliteStore(file);
    t.after(async () => {
      await api.close();
      await worker.close();
    });
    await api.migrate();
    await worker.migrate();
    const owner = await newOwner(api, { credits: 100 });
    const created = await api.createTask({ task: newTask(owner), holdCredits: true });
    assert.equal(created.kind, "created");
    await worker.promoteWaitingTasks({ now: T0 + 1, maxRunningPerAccount: 2 });
    const claimed = await worker.claimTask({ workerId: "w", now: T0 + 2, leaseMs: 1000, maxRunningPerAccount: 2 });
    assert.ok(claimed);
    assert.equal(await api.claimTask({ workerId: "w2", now: T0 + 3, leaseMs: 1000, maxRunningPerAccount: 2 }), null);
    await worker.completeTask({ taskId: claimed.id, workerId: "w", now: T0 + 4, resultUrls: ["u"] });
    assert.equal((await api.getTask(claimed.id))?.state, "success");
  });
});

describe("openStore", () => {
  test("sqlite:<path> creates parent directories and migrates", async (t) => {
    const file = path.join(tempDir(t), "nested", "deeper", "peel.db");
    const store = await openStore(`sqlite:${file}`);
    t.after(() => store.close());
    assert.ok(fs.existsSync(file));
    assert.deepEqual(await store.getSwitches(), { maintenance: false, disabledModels: [] });
  });

  test("sqlite:///absolute/path and sqlite::memory: work", async (t) => {
    const file = path.join(tempDir(t), "abs.db");
    const a = await openStore(`sqlite://${file}`);
    await a.close();
    assert.ok(fs.existsSync(file));
    const m = await openStore("sqlite::memory:");
    await newOwner(m);
    await m.close();
  });

  test("postgres:// and postgresql:// go to the PostgreSQL backend (see postgres-only.test.ts)", async () => {
    for (const url of ["postgres://u:p@localhost/peel", "postgresql://localhost/peel"]) {
      const s = await openStore(url, { migrate: false }); // no connection until the first query
      assert.ok(!(s instanceof SqliteStore));
      await s.close();
    }
  });

  test("other schemes and an empty path are refused", async () => {
    await assert.rejects(openStore("mysql://localhost/peel"), /scheme "mysql" is not supported/);
    await assert.rejects(openStore("sqlite:"), /names no file/);
  });
});
