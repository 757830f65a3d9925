import pg from "pg";

/**
 * Where and how to connect. `postgresOptionsFromUrl` builds this from a PEEL_DATABASE_URL.
 */
export interface PostgresOptions {
  /** libpq-style URL, e.g. `postgres://peel@db:5432/peel`. */
  connectionString: string;
  /**
   * Schema holding peel's tables (set as the connections' `search_path`); `migrate()` creates it.
   * Letters, digits and `_` only.
   * @defaultValue null: the role's own search_path (usually `public`)
   */
  schema?: string | null;
  /**
   * Connections in the pool.
   * @defaultValue 10
   */
  poolSize?: number;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Reads peel's own query parameters off a `postgres://` URL: `schema=<name>` and
 * `pool_size=<n>`. They are removed before the URL reaches `pg`, which would otherwise pass
 * unknown parameters on to the server.
 */
export function postgresOptionsFromUrl(databaseUrl: string): PostgresOptions {
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get("schema");
  const poolSize = url.searchParams.get("pool_size");
  url.searchParams.delete("schema");
  url.searchParams.delete("pool_size");
  const opts: PostgresOptions = { connectionString: url.toString(), schema };
  if (poolSize !== null) {
    const n = Number(poolSize);
    if (!Number.isInteger(n) || n < 1) throw new Error(`DATABASE_URL pool_size=${poolSize} must be a positive integer`);
    opts.poolSize = n;
  }
  return opts;
}

/**
 * Type parsers for this pool only (the global `pg.types` stay untouched, so other pg users in the
 * process are not surprised): BIGINT (ms times, COUNT) and NUMERIC (credits) become numbers.
 * ms times stay far below 2^53; credits are exact in the database and rounded only on the way out.
 */
function peelTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(20, (v: string) => Number(v)); // int8
  types.setTypeParser(1700, (v: string) => Number(v)); // numeric
  return types;
}

/** A place to run SQL: the pool (one statement, autocommit) or one transaction's client. */
export interface Sql {
  rows<T>(text: string, params?: unknown[]): Promise<T[]>;
  one<T>(text: string, params?: unknown[]): Promise<T | undefined>;
  /** Runs a write; returns the number of rows it touched. */
  run(text: string, params?: unknown[]): Promise<number>;
}

function sqlOf(q: pg.Pool | pg.PoolClient): Sql {
  return {
    rows: async <T>(text: string, params: unknown[] = []) => (await q.query(text, params)).rows as T[],
    one: async <T>(text: string, params: unknown[] = []) => (await q.query(text, params)).rows[0] as T | undefined,
    run: async (text: string, params: unknown[] = []) => (await q.query(text, params)).rowCount ?? 0,
  };
}

/** Signals a refusal from inside a transaction: thrown to roll back, caught to return `value`. */
export class Rollback<T> {
  constructor(readonly value: T) {}
}

/** serialization_failure and deadlock_detected: the transaction did nothing and may simply run again. */
const RETRYABLE = new Set(["40001", "40P01"]);
const MAX_TX_ATTEMPTS = 5;

/** The pool, plus the transaction helper the aggregate modules share. */
export class PgDb {
  readonly pool: pg.Pool;
  /** autocommit statements on any pooled connection. */
  readonly sql: Sql;

  constructor(readonly opts: PostgresOptions) {
    const schema = opts.schema ?? null;
    if (schema !== null && !SCHEMA_NAME.test(schema)) {
      throw new Error(`schema ${JSON.stringify(schema)} is not a plain identifier (letters, digits, _)`);
    }
    this.pool = new pg.Pool({
      connectionString: opts.connectionString,
      max: opts.poolSize ?? 10,
      types: peelTypes(),
      // A startup option rather than SET after connect: every pooled connection has it from birth.
      ...(schema !== null ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle client losing its connection (server restart) must not crash the process; the pool
    // drops it and the next checkout connects afresh.
    this.pool.on("error", () => {});
    this.sql = sqlOf(this.pool);
  }

  get schema(): string | null {
    return this.opts.schema ?? null;
  }

  /**
   * Runs `fn` in BEGIN … COMMIT on one pooled connection (READ COMMITTED). A throw rolls back; a
   * thrown `Rollback` rolls back and yields its value. Deadlocks and serialization failures are
   * retried from the start, so `fn` must be safe to run again (it only talks to the database).
   */
  async tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        try {
          const value = await fn(sqlOf(client));
          await client.query("COMMIT");
          return value;
        } catch (e) {
          await client.query("ROLLBACK").catch((rbErr: Error) => {
            broken = rbErr; // the connection is unusable: destroy it rather than return it to the pool
          });
          throw e;
        }
      } catch (e) {
        if (e instanceof Rollback) return e.value as T;
        const code = (e as { code?: unknown }).code;
        if (attempt < MAX_TX_ATTEMPTS && typeof code === "string" && RETRYABLE.has(code)) {
          await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
          continue;
        }
        throw e;
      } finally {
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
