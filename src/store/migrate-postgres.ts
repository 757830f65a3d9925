import type pg from "pg";
import { SchemaTooNewError } from "./migrate-sqlite.js";
import { POSTGRES_MIGRATIONS, type Migration } from "./migrations/postgres/index.js";

export { SchemaTooNewError };

/**
 * Applies pending migrations to the schema the pool's connections use (their search_path), each
 * in its own transaction together with its ledger row. Every transaction first takes
 * `pg_advisory_xact_lock` on a key derived from the schema, so concurrent migrators (several peel
 * processes starting at once) queue up; the ledger is re-read under the lock, so each migration
 * runs exactly once. A database migrated by a newer peel is refused. Returns the ids applied.
 *
 * `schema`: created if missing (under the same lock); null = the role's default search_path.
 */
export async function migratePostgres(
  pool: pg.Pool,
  opts: { schema: string | null; migrations?: readonly Migration[]; now?: () => number },
): Promise<number[]> {
  const migrations = opts.migrations ?? POSTGRES_MIGRATIONS;
  const now = opts.now ?? Date.now;
  checkOrder(migrations);
  const known = migrations.length ? migrations[migrations.length - 1].id : 0;
  const lockKey = `peel:migrate:${opts.schema ?? "(search_path)"}`;

  const client = await pool.connect();
  let broken: Error | undefined;
  // One transaction under the lock; returns false when it was already done by someone else.
  const locked = async (body: () => Promise<boolean>): Promise<boolean> => {
    await client.query("BEGIN");
    try {
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [lockKey]);
      const did = await body();
      await client.query("COMMIT");
      return did;
    } catch (e) {
      await client.query("ROLLBACK").catch((rbErr: Error) => (broken = rbErr));
      throw e;
    }
  };
  const latest = async (): Promise<number> =>
    (await client.query<{ id: number | null }>("SELECT MAX(id) AS id FROM schema_migrations")).rows[0].id ?? 0;

  try {
    await locked(async () => {
      // Identifier already validated by PgDb (letters, digits, _), so quoting is enough.
      if (opts.schema !== null) await client.query(`CREATE SCHEMA IF NOT EXISTS "${opts.schema}"`);
      await client.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
      );
      return true;
    });
    const applied: number[] = [];
    const refuseIfNewer = async (): Promise<number> => {
      const v = await latest();
      if (v > known) throw new SchemaTooNewError(v, known);
      return v;
    };
    await refuseIfNewer();
    for (const m of migrations) {
      const did = await locked(async () => {
        // Re-check under the lock: another migrator may have applied it (or a newer peel run) meanwhile.
        if ((await refuseIfNewer()) >= m.id) return false;
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)", [m.id, m.name, now()]);
        return true;
      });
      if (did) applied.push(m.id);
    }
    return applied;
  } finally {
    client.release(broken);
  }
}

/** The schema version recorded in the ledger (0 when nothing was migrated yet). */
export async function postgresSchemaVersion(pool: pg.Pool): Promise<number> {
  const exists = await pool.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  if (!exists.rows[0].present) return 0;
  return (await pool.query<{ id: number | null }>("SELECT MAX(id) AS id FROM schema_migrations")).rows[0].id ?? 0;
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.id !== i + 1) throw new Error(`migration list out of order: position ${i + 1} holds id ${m.id}`);
  });
}
