// Child process for the concurrent-migrators test: waits until a shared start time, then migrates
// the given schema (peel's migrations, or synthetic slow ones) and prints the ids it applied as JSON.
import pg from "pg";
import { migratePostgres } from "../../src/store/migrate-postgres.js";
import { slowMigrations } from "./postgres-fixture.js";

const [url, schema, startAt, variant] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: url, max: 1, options: `-c search_path=${schema}` });
await pool.query("SELECT 1"); // connect before the start line, so all children start together
while (Date.now() < Number(startAt)) {
  // spin: start as close to the sibling processes as possible
}
const applied = await migratePostgres(pool, { schema, migrations: variant === "slow" ? slowMigrations : undefined });
await pool.end();
process.stdout.write(JSON.stringify(applied));
