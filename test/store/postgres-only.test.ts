import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, describe, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import type { TaskRecord } from "../../src/domain/types.js";
import { migratePostgres, postgresSchemaVersion, SchemaTooNewError } from "../../src/store/migrate-postgres.js";
import { POSTGRES_MIGRATIONS } from "../../src/store/migrations/postgres/index.js";
import { openStore } from "../../src/store/open-store.js";
import { postgresOptionsFromUrl } from "../../src/store/postgres/db.js";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import { HOUR, T0, claimOpts, create, createMany, newDelivery, newOwner } from "./contract-helpers.js";
import { PG_SKIP, PG_URL, adminPool, createSchema, dropSchema, endAdmin, newSchemaName, urlWith } from "./postgres-fixture.js";

// PostgreSQL-only behaviour: the migration ledger and its advisory lock across processes, SKIP
// LOCKED claims from several pools (as several worker processes would), exact caps under
// concurrency, NUMERIC credits, per-pool type parsers, and openStore's postgres:// URLs.

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const skip = PG_URL ? false : PG_SKIP;

after(endAdmin);

/** A fresh schema dropped after the test. */
async function schemaFor(t: TestContext, opts: { create?: boolean } = {}): Promise<string> {
  const schema = opts.create === false ? newSchemaName() : await createSchema();
  t.after(() => dropSchema(schema));
  return schema;
}

/** A raw pool on `schema`, ended after the test. */
function poolOn(t: TestContext, schema: string, max = 2): pg.Pool {
  const pool = new pg.Pool({ connectionString: PG_URL!, max, options: `-c search_path=${schema}` });
  t.after(() => pool.end());
  return pool;
}

/** A migrated store on `schema`, closed after the test (before the schema is dropped). */
async function storeOn(t: TestContext, schema: string, poolSize?: number): Promise<PostgresStore> {
  const store = new PostgresStore({ connectionString: PG_URL!, schema, poolSize });
  t.after(() => store.close());
  await store.migrate();
  return store;
}

describe("PostgreSQL migrations", { skip }, () => {
  test("records each migration in the ledger; a second run applies nothing; creates the schema", async (t) => {
    const schema = await schemaFor(t, { create: false });
    const pool = poolOn(t, schema);
    assert.deepEqual(
      await migratePostgres(pool, { schema, now: () => T0 }),
      POSTGRES_MIGRATIONS.map((m) => m.id),
    );
    const ledger = await pool.query("SELECT id, name, applied_at::text FROM schema_migrations ORDER BY id");
    assert.deepEqual(
      ledger.rows,
      POSTGRES_MIGRATIONS.map((m) => ({ id: m.id, name: m.name, applied_at: String(T0) })),
    );
    assert.deepEqual(await migratePostgres(pool, { schema }), []);
    assert.equal(await postgresSchemaVersion(pool), POSTGRES_MIGRATIONS.length);
    const tables = await adminPool().query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1", [schema]);
    assert.ok(tables.rows[0].n >= 10, "tables live in the chosen schema");
  });

  test("a database migrated by a newer peel is refused with the fix named, by migrate and by openStore", async (t) => {
    const schema = await schemaFor(t);
    const pool = poolOn(t, schema);
    await migratePostgres(pool, { schema });
    await pool.query("INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, 'from_the_future', 0)", [
      POSTGRES_MIGRATIONS.length + 1,
    ]);
    await assert.rejects(migratePostgres(pool, { schema }), (e: unknown) => {
      assert.ok(e instanceof SchemaTooNewError);
      assert.match(e.message, /this database was migrated by a newer peel/);
      assert.match(e.message, /upgrade peel/);
      return true;
    });
    await assert.rejects(openStore(urlWith({ schema })), /upgrade peel/);
  });

  test("a failing migration rolls back entirely and is not recorded", async (t) => {
    const schema = await schemaFor(t);
    const pool = poolOn(t, schema);
    const list = [
      { id: 1, name: "good", sql: "CREATE TABLE a (x INTEGER);" },
      { id: 2, name: "bad", sql: "CREATE TABLE b (x INTEGER); INSERT INTO nope VALUES (1);" },
    ];
    await assert.rejects(migratePostgres(pool, { schema, migrations: list }), /nope/);
    assert.equal(await postgresSchemaVersion(pool), 1, "the good one stays applied");
    assert.equal((await pool.query("SELECT to_regclass('b') AS b")).rows[0].b, null, "b was rolled back");
    const fixed = [list[0], { id: 2, name: "bad", sql: "CREATE TABLE b (x INTEGER);" }];
    assert.deepEqual(await migratePostgres(pool, { schema, migrations: fixed }), [2]);
  });

  test("a migration list with gaps is a programming error", async (t) => {
    const pool = poolOn(t, await schemaFor(t));
    await assert.rejects(migratePostgres(pool, { schema: null, migrations: [{ id: 2, name: "x", sql: "" }] }), /out of order/);
  });

  async function raceMigrators(schema: string, n: number, variant: "real" | "slow"): Promise<number[][]> {
    const startAt = Date.now() + 2500; // after every child has loaded tsx and connected
    const outs = await Promise.all(
      Array.from({ length: n }, () =>
        run(
          process.execPath,
          ["--import", "tsx", path.join(here, "postgres-migrate-child.ts"), PG_URL!, schema, String(startAt), variant],
          {
            cwd: path.join(here, "..", ".."),
          },
        ),
      ),
    );
    return outs.map((o) => JSON.parse(o.stdout) as number[]);
  }

  test("concurrent migrators in separate processes apply each migration once (schema created by the race)", async (t) => {
    const schema = await schemaFor(t, { create: false });
    const applied = await raceMigrators(schema, 4, "real");
    assert.deepEqual(
      applied.flat().sort(),
      POSTGRES_MIGRATIONS.map((m) => m.id),
      `applied: ${JSON.stringify(applied)}`,
    );
    const pool = poolOn(t, schema);
    assert.equal((await pool.query("SELECT count(*)::int AS n FROM schema_migrations")).rows[0].n, POSTGRES_MIGRATIONS.length);
  });

  test("slow migrations: waiting migrators re-check the ledger under the advisory lock instead of re-applying", async (t) => {
    const schema = await schemaFor(t);
    const applied = await raceMigrators(schema, 3, "slow");
    assert.deepEqual(applied.flat().sort(), [1, 2], `applied: ${JSON.stringify(applied)}`);
    const pool = poolOn(t, schema);
    assert.equal((await pool.query("SELECT count(*)::int AS n FROM slow_1")).rows[0].n, 1000);
  });

  test("several pools in one process migrating at once: once each, and every store works after", async (t) => {
    const schema = await schemaFor(t, { create: false });
    const stores = Array.from({ length: 5 }, () => new PostgresStore({ connectionString: PG_URL!, schema, poolSize: 2 }));
    t.after(() => Promise.all(stores.map((s) => s.close())));
    await Promise.all(stores.map((s) => s.migrate()));
    const pool = poolOn(t, schema);
    assert.equal((await pool.query("SELECT count(*)::int AS n FROM schema_migrations")).rows[0].n, POSTGRES_MIGRATIONS.length);
    for (const s of stores) await newOwner(s);
    assert.equal((await stores[0].listAccounts()).length, 5);
  });
});

describe("PostgreSQL concurrency across pools (one pool per simulated process)", { skip }, () => {
  test("SKIP LOCKED: two pools claiming at once never claim the same task", async (t) => {
    const schema = await schemaFor(t);
    const [p1, p2] = [await storeOn(t, schema), await storeOn(t, schema)];
    const owners = [];
    for (let i = 0; i < 3; i++) owners.push(await newOwner(p1, { credits: 10_000, maxRunning: 100 }));
    for (const o of owners) await createMany(p1, o, 20);
    assert.equal((await p2.promoteWaitingTasks({ now: T0 + 100, maxRunningPerAccount: 100 })).length, 60);
    // 20 workers per pool, each claiming until it gets nothing: far more claimers than accounts.
    const worker = async (store: PostgresStore, id: string): Promise<TaskRecord[]> => {
      const mine: TaskRecord[] = [];
      for (;;) {
        const t = await store.claimTask(claimOpts(id, T0 + 200, { maxRunningPerAccount: 100 }));
        if (!t) break;
        mine.push(t);
      }
      return mine;
    };
    const perWorker = await Promise.all(Array.from({ length: 40 }, (_, i) => worker(i % 2 ? p1 : p2, `w${i}`)));
    const got = perWorker.flat();
    assert.equal(got.length, 60, "every task claimed, and no claimer gave up while work was left");
    assert.equal(new Set(got.map((c) => c.id)).size, 60, "no task claimed twice");
    assert.equal((await p1.countTasks()).generating, 60);
  });

  test("running cap stays exact when many workers in two pools claim at once", async (t) => {
    const schema = await schemaFor(t);
    const [p1, p2] = [await storeOn(t, schema), await storeOn(t, schema)];
    const capped = await newOwner(p1, { credits: 10_000, maxRunning: 20 });
    await createMany(p1, capped, 20);
    await p1.promoteWaitingTasks({ now: T0 + 100, maxRunningPerAccount: 20 });
    await p1.updateAccount(capped.account.id, { maxRunning: 3 }); // 20 queued, only 3 may run
    const claims = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? p1 : p2).claimTask(claimOpts(`w${i}`, T0 + 200, { maxRunningPerAccount: 20 })),
      ),
    );
    assert.equal(claims.filter((c) => c !== null).length, 3);
  });

  test("usage caps stay exact under concurrent creates on one key from two pools", async (t) => {
    const schema = await schemaFor(t);
    const [p1, p2] = [await storeOn(t, schema), await storeOn(t, schema)];
    const owner = await newOwner(p1, { credits: 100_000 });
    const caps = { hourly: 10 * 18 };
    const outs = await Promise.all(
      Array.from({ length: 100 }, (_, i) => create(i % 2 ? p1 : p2, owner, { createTime: T0 + i }, { caps })),
    );
    assert.equal(outs.filter((o) => o.kind === "created").length, 10);
    assert.equal(outs.filter((o) => o.kind === "cap_exceeded").length, 90);
    assert.equal(await p2.getBalance(owner.account.id), 100_000 - 10 * 18);
    // a new hour: the window has moved on
    assert.equal((await create(p1, owner, { createTime: T0 + HOUR + 100 }, { caps })).kind, "created");
  });

  test("credits stay exact under concurrent creates from two pools (ledger sum = balance in SQL)", async (t) => {
    const schema = await schemaFor(t);
    const [p1, p2] = [await storeOn(t, schema), await storeOn(t, schema)];
    const owner = await newOwner(p1, { credits: 30 * 18 });
    const outs = await Promise.all(Array.from({ length: 120 }, (_, i) => create(i % 2 ? p1 : p2, owner, { createTime: T0 + i })));
    assert.equal(outs.filter((o) => o.kind === "created").length, 30);
    const check = await poolOn(t, schema).query(
      "SELECT a.balance::text AS balance, (SELECT SUM(amount) FROM ledger l WHERE l.account_id = a.id)::text AS sum FROM accounts a WHERE id = $1",
      [owner.account.id],
    );
    assert.equal(Number(check.rows[0].balance), 0);
    assert.equal(check.rows[0].balance, check.rows[0].sum);
  });

  test("SKIP LOCKED deliveries: two dispatchers in two pools get disjoint rows", async (t) => {
    const schema = await schemaFor(t);
    const [p1, p2] = [await storeOn(t, schema), await storeOn(t, schema)];
    const { account } = await newOwner(p1);
    for (let i = 0; i < 50; i++) await p1.createDelivery(newDelivery(account.id, { createdAt: T0 + i }));
    const batches = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? p1 : p2).claimDueDeliveries({ workerId: `d${i}`, now: T0 + 100, limit: 8, leaseMs: 30_000 }),
      ),
    );
    const ids = batches.flat().map((d) => d.id);
    assert.equal(ids.length, 50);
    assert.equal(new Set(ids).size, 50, "no delivery leased twice");
  });
});

describe("PostgreSQL types and connection options", { skip }, () => {
  test("NUMERIC credits are exact: ten grants of 0.1 make a balance of exactly 1", async (t) => {
    const store = await storeOn(t, await schemaFor(t));
    const { account } = await newOwner(store);
    for (let i = 0; i < 10; i++) await store.grantCredits(account.id, 0.1, null, T0 + i);
    assert.equal(await store.getBalance(account.id), 1);
    assert.equal((await store.listLedger(account.id))[0].amount, 0.1);
  });

  test("bigint and numeric parsers are per pool: the global pg types are untouched", async (t) => {
    const store = await storeOn(t, await schemaFor(t));
    const { account } = await newOwner(store);
    assert.equal(typeof (await store.getAccount(account.id))?.createdAt, "number");
    const raw = await adminPool().query("SELECT 1::bigint AS b, 1.5::numeric AS n");
    assert.deepEqual(raw.rows[0], { b: "1", n: "1.5" });
  });

  test("openStore: postgres:// and postgresql:// with schema= and pool_size=", async (t) => {
    const schema = await schemaFor(t, { create: false });
    const s = await openStore(urlWith({ schema, pool_size: "3" }));
    t.after(() => s.close());
    await newOwner(s);
    const again = await openStore(urlWith({ schema }).replace(/^postgres:/, "postgresql:"));
    t.after(() => again.close());
    assert.equal((await again.listAccounts()).length, 1);
    assert.deepEqual(postgresOptionsFromUrl("postgres://u@h/db?schema=s1&pool_size=7&sslmode=disable"), {
      connectionString: "postgres://u@h/db?sslmode=disable",
      schema: "s1",
      poolSize: 7,
    });
  });

  test("bad schema names and pool sizes are refused", async () => {
    assert.throws(() => new PostgresStore({ connectionString: PG_URL!, schema: "x; DROP TABLE y" }), /plain identifier/);
    await assert.rejects(openStore(urlWith({ schema: "a-b" })), /plain identifier/);
    await assert.rejects(openStore(urlWith({ pool_size: "0" })), /pool_size/);
  });

  test("data survives across stores: an API pool creates, a worker pool claims and settles", async (t) => {
    const schema = await schemaFor(t);
    const api = await storeOn(t, schema);
    const worker = await storeOn(t, schema);
    const owner = await newOwner(api, { credits: 100 });
    const created = await create(api, owner);
    assert.equal(created.kind, "created");
    await worker.promoteWaitingTasks({ now: T0 + 1, maxRunningPerAccount: 2 });
    const claimed = await worker.claimTask({ workerId: "w", now: T0 + 2, leaseMs: 1000, maxRunningPerAccount: 2 });
    assert.ok(claimed);
    assert.equal(await api.claimTask({ workerId: "w2", now: T0 + 3, leaseMs: 1000, maxRunningPerAccount: 2 }), null);
    await worker.completeTask({ taskId: claimed.id, workerId: "w", now: T0 + 4, resultUrls: ["u"] });
    assert.equal((await api.getTask(claimed.id))?.state, "success");
  });
});
