import type BetterSqlite3 from "better-sqlite3";
import { SQLITE_MIGRATIONS, type Migration } from "./migrations/sqlite/index.js";

/** The database knows a migration this build of peel does not: running would corrupt it. */
export class SchemaTooNewError extends Error {
  constructor(dbVersion: number, codeVersion: number) {
    super(
      `this database was migrated by a newer peel (schema ${dbVersion}, this build knows up to ${codeVersion}); ` +
        "upgrade peel",
    );
    this.name = "SchemaTooNewError";
  }
}

/**
 * Applies pending migrations, each in its own BEGIN IMMEDIATE transaction together with its
 * ledger row. Two processes starting at once serialise on the write lock (busy_timeout waits),
 * and the ledger is re-read inside the transaction, so each migration runs exactly once.
 * Returns the ids applied by this call.
 */
export function migrateSqlite(
  db: BetterSqlite3.Database,
  migrations: readonly Migration[] = SQLITE_MIGRATIONS,
  now: () => number = Date.now,
): number[] {
  checkOrder(migrations);
  // IF NOT EXISTS makes the race between two first-time migrators harmless.
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
  );
  const known = migrations.length ? migrations[migrations.length - 1].id : 0;
  const latest = db.prepare("SELECT MAX(id) AS id FROM schema_migrations");
  const isApplied = db.prepare("SELECT 1 FROM schema_migrations WHERE id = ?");
  const record = db.prepare("INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)");
  const refuseIfNewer = (): void => {
    const row = latest.get() as { id: number | null };
    if (row.id !== null && row.id > known) throw new SchemaTooNewError(row.id, known);
  };

  refuseIfNewer();
  const applied: number[] = [];
  for (const m of migrations) {
    if (isApplied.get(m.id)) continue;
    const apply = db.transaction(() => {
      // Re-check under the write lock: another process may have applied it meanwhile.
      refuseIfNewer();
      if (isApplied.get(m.id)) return;
      db.exec(m.sql);
      record.run(m.id, m.name, now());
      applied.push(m.id);
    });
    apply.immediate();
  }
  return applied;
}

/** The schema version recorded in the ledger (0 for an empty database). */
export function schemaVersion(db: BetterSqlite3.Database): number {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!exists) return 0;
  return (db.prepare("SELECT MAX(id) AS id FROM schema_migrations").get() as { id: number | null }).id ?? 0;
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.id !== i + 1) throw new Error(`migration list out of order: position ${i + 1} holds id ${m.id}`);
  });
}
