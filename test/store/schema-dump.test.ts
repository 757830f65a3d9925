import assert from "node:assert/strict";
import { test } from "node:test";
import {
  POSTGRES_DUMP,
  SQLITE_DUMP,
  compareDump,
  dumpPostgres,
  dumpSqlite,
  stripSqlComments,
} from "../../scripts/dump-schema.js";
import { PG_SKIP, PG_URL } from "./postgres-fixture.js";

// The committed schema dumps (src/store/migrations/*/schema.sql) must be what the migrations
// build today: a migration added or changed without `npx tsx scripts/dump-schema.ts` fails here.

test("the SQLite schema dump is current", async () => {
  const r = compareDump(SQLITE_DUMP, await dumpSqlite());
  assert.equal(r.stale, null, r.stale ?? "");
});

test("the PostgreSQL schema dump is current", { skip: PG_URL ? false : PG_SKIP }, async () => {
  const r = compareDump(POSTGRES_DUMP, await dumpPostgres(PG_URL!));
  assert.equal(r.stale, null, r.stale ?? "");
});

test("dumps are deterministic", async () => {
  assert.equal(await dumpSqlite(), await dumpSqlite());
});

test("a stale dump is reported with a diff and the fix", () => {
  const r = compareDump(SQLITE_DUMP, "-- something else\n");
  assert.match(r.stale ?? "", /schema\.sql is stale/);
  assert.match(r.stale ?? "", /run `npx tsx scripts\/dump-schema\.ts`/);
  assert.match(r.stale ?? "", /\+ -- something else/);
  assert.match(r.stale ?? "", /- CREATE TABLE accounts/);
});

test("comments are stripped outside quotes only", () => {
  const sql = "CREATE TABLE t (\n  a TEXT DEFAULT '--x', -- note\n  /* gone */ b \"c--d\"\n);";
  assert.equal(stripSqlComments(sql), "CREATE TABLE t (\n  a TEXT DEFAULT '--x',\n   b \"c--d\"\n);");
});
