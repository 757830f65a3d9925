// Child process for the concurrent-migrators test: waits until a shared start time, then migrates
// the given SQLite file (peel's migrations, or the synthetic slow ones) and prints the ids it applied as JSON.
import { SqliteDb } from "../../src/store/sqlite/db.js";
import { migrateSqlite } from "../../src/store/migrate-sqlite.js";

const [file, startAt, variant] = process.argv.slice(2);

// "slow": migrations that each hold the write lock for a while, so siblings are sure to queue
// behind it after their own pre-check saw it unapplied.
const slow = (id: number) => ({
  id,
  name: `slow_${id}`,
  sql: `CREATE TABLE slow_${id} (x INTEGER);
        INSERT INTO slow_${id} WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT x FROM c;`,
});
const migrations = variant === "slow" ? [slow(1), slow(2)] : undefined;
const db = new SqliteDb(file);
while (Date.now() < Number(startAt)) {
  // spin: start as close to the sibling process as possible
}
const applied = migrateSqlite(db.db, migrations);
db.close();
process.stdout.write(JSON.stringify(applied));
