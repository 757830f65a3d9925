import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { until } from "../helpers/polling.js";
import { freePort } from "../helpers/ports.js";
import { PeelProcesses } from "./peel-process.js";

/**
 * `peel backup FILE` against a server process that keeps writing: the copy is a consistent,
 * self-contained SQLite file that passes `PRAGMA integrity_check` and holds every task whose
 * createTask had been answered before the backup began.
 */
test("peel backup copies the live SQLite database consistently while the server writes", async (t) => {
  // API role: only createTask writes, as fast as the test sends them (no renders competing for CPU).
  const peel = await PeelProcesses.create(t, { PEEL_ROLE: "api", PEEL_INITIAL_CREDITS: "100000000" });
  const key = await peel.createKey();
  await peel.serve();

  const committed: string[] = [];
  let writing = true;
  let failures = 0;
  const writer = async () => {
    while (writing) {
      try {
        const r = await peel.api(key, "POST", "/api/v1/jobs/createTask", {
          model: "nano-banana-pro",
          input: { prompt: `task ${committed.length}` },
        });
        if (r.code === 200) committed.push(r.data.taskId);
        else failures++;
      } catch {
        failures++;
      }
    }
  };
  const writers = [writer(), writer(), writer()];
  await until("some tasks to be committed", 30_000, async () => committed.length >= 100);

  const file = path.join(peel.dataDir, "backup.db");
  const before = [...committed];
  const res = await peel.cli(["backup", file]);
  const duringBackup = committed.length - before.length;
  writing = false;
  await Promise.all(writers);

  assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
  assert.match(res.stdout, /^backed up .*peel\.db to .*backup\.db: [\d.]+ MiB, \d+ tasks, check ok, \d+ ms$/m);
  assert.ok(duringBackup > 0, "the server kept writing while the backup ran");
  assert.equal(failures, 0);

  const copy = new Database(file, { readonly: true, fileMustExist: true });
  t.after(() => copy.close());
  assert.equal(copy.pragma("integrity_check", { simple: true }), "ok");
  assert.equal(copy.pragma("journal_mode", { simple: true }), "delete", "a single self-contained file");
  const ids = new Set((copy.prepare("SELECT id FROM tasks").pluck().all() as string[]).map(String));
  const missing = before.filter((id) => !ids.has(id));
  assert.deepEqual(missing, [], "every task answered before the backup began is in the copy");
  // Credits are consistent in the copy: one hold per task.
  const holds = copy.prepare("SELECT COUNT(*) FROM ledger WHERE kind = 'hold'").pluck().get() as number;
  assert.equal(holds, ids.size);
  assert.ok(!existsSync(`${file}-wal`));
});

test("peel backup refuses to overwrite, names a missing database, and points PostgreSQL at pg_dump", async (t) => {
  const peel = await PeelProcesses.create(t);
  const missing = await peel.cli(["backup", path.join(peel.dataDir, "copy.db")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no database at .*peel\.db/);

  await peel.cli(["migrate"]);
  const existing = path.join(peel.dataDir, "exists.db");
  writeFileSync(existing, "keep me");
  const refused = await peel.cli(["backup", existing]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /exists; a backup never overwrites/);

  const usage = await peel.cli(["backup"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: peel backup FILE/);

  // Nothing listens there: the command must answer without trying to connect.
  const pg = await peel.cli(["backup", path.join(peel.dataDir, "pg.db")], {
    PEEL_DATABASE_URL: `postgres://peel:secret@127.0.0.1:${await freePort()}/peel?schema=peel`,
  });
  assert.equal(pg.code, 2);
  assert.match(pg.stderr, /pg_dump --format=custom/);
  assert.match(pg.stderr, /pg_restore/);
  assert.ok(!pg.stderr.includes("secret"), "the database password is not echoed");
});
