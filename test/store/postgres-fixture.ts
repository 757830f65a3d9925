import { randomBytes } from "node:crypto";
import pg from "pg";

// Shared by the PostgreSQL store tests: each test gets its own schema in PEEL_TEST_DATABASE_URL,
// so tests (and test files) run side by side without seeing each other's rows.

export const PG_URL = process.env.PEEL_TEST_DATABASE_URL ?? null;
export const PG_SKIP =
  "PEEL_TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test); PostgreSQL tests skipped";

if (!PG_URL) console.log(`# ${PG_SKIP}`);

let admin: pg.Pool | null = null;

/** One small pool for schema setup and raw checks; `endAdmin` in the file's `after`. */
export function adminPool(): pg.Pool {
  if (!PG_URL) throw new Error(PG_SKIP);
  admin ??= new pg.Pool({ connectionString: PG_URL, max: 2 });
  return admin;
}

export async function endAdmin(): Promise<void> {
  const a = admin;
  admin = null;
  await a?.end();
}

export function newSchemaName(): string {
  return `peel_test_${randomBytes(6).toString("hex")}`;
}

export async function createSchema(): Promise<string> {
  const schema = newSchemaName();
  await adminPool().query(`CREATE SCHEMA "${schema}"`);
  return schema;
}

export async function dropSchema(schema: string): Promise<void> {
  await adminPool().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** PEEL_TEST_DATABASE_URL with `schema=` (and any other peel parameters) added. */
export function urlWith(params: Record<string, string>): string {
  const url = new URL(PG_URL!);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/**
 * Migrations that each hold their transaction (and so the advisory lock) for a while, so sibling
 * migrators are sure to queue behind it after their own pre-check saw it unapplied. Without the
 * lock, a second runner would fail on CREATE TABLE or on the ledger's primary key.
 */
export const slowMigrations = [1, 2].map((id) => ({
  id,
  name: `slow_${id}`,
  sql: `CREATE TABLE slow_${id} (x INTEGER); SELECT pg_sleep(0.4); INSERT INTO slow_${id} SELECT generate_series(1, 1000);`,
}));
