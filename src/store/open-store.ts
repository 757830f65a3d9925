import fs from "node:fs";
import path from "node:path";
import { postgresOptionsFromUrl } from "./postgres/db.js";
import { PostgresStore } from "./postgres/postgres-store.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { Store } from "./store.js";

export interface OpenStoreOptions {
  /**
   * Apply pending migrations before returning.
   * @defaultValue true
   */
  migrate?: boolean;
  /**
   * SQLite: checkpoint the WAL from a background thread instead of inside commits. For
   * long-running servers; short CLI commands leave it off.
   * @defaultValue false
   */
  backgroundCheckpoint?: boolean;
}

/**
 * Opens the store named by `DATABASE_URL`:
 * - `sqlite:<path>` (also `sqlite://<path>`, `sqlite:///abs/path`); parent directories are
 *   created. `sqlite::memory:` is an in-memory database (tests only: gone on close).
 * - `postgres://` / `postgresql://`: a connection pool to PostgreSQL. peel's own query parameters:
 *   `schema=<name>` (tables live there, created by the migration; default: the role's search_path)
 *   and `pool_size=<n>` (connections, default 10). Everything else goes to `pg` as usual.
 */
export async function openStore(databaseUrl: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const store = openUnmigrated(databaseUrl, opts);
  if (opts.migrate ?? true) {
    try {
      await store.migrate();
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return store;
}

function openUnmigrated(databaseUrl: string, opts: OpenStoreOptions): Store {
  if (databaseUrl.startsWith("sqlite:")) {
    let file = databaseUrl.slice("sqlite:".length);
    if (file.startsWith("//")) file = file.slice(2);
    if (file === "") throw new Error(`DATABASE_URL ${databaseUrl} names no file; use sqlite:<path>`);
    if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return new SqliteStore(file, { backgroundCheckpoint: opts.backgroundCheckpoint === true && file !== ":memory:" });
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return new PostgresStore(postgresOptionsFromUrl(databaseUrl));
  const scheme = databaseUrl.split(":")[0] || databaseUrl;
  throw new Error(`DATABASE_URL scheme "${scheme}" is not supported; use sqlite:<path> or postgres://…`);
}
