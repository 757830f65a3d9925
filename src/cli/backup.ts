import { existsSync, statSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { Config } from "../config.js";
import { openStore } from "../store/open-store.js";

/**
 * `peel backup FILE`: an online, consistent copy of the SQLite database, safe while peel serves
 * (SQLite's backup API through Store.backup; writers are not blocked). The copy is then made a
 * self-contained single file (rollback journal instead of WAL) and checked with `PRAGMA
 * quick_check`. PostgreSQL has its own tools: the error says which. docs/operations.md has restore.
 */
export async function backup(config: Readonly<Config>, file: string | undefined): Promise<number> {
  if (!file) {
    console.error("usage: peel backup FILE");
    return 2;
  }
  if (!config.databaseUrl.startsWith("sqlite:")) {
    console.error(
      "peel backup: copies the embedded SQLite database; this peel uses PostgreSQL. Back it up with pg_dump, e.g.\n" +
        '  pg_dump --format=custom --file=peel.dump "$PEEL_DATABASE_URL"   (drop peel\'s ?schema=/pool_size= parameters; use -n SCHEMA)\n' +
        "and restore with pg_restore (docs/operations.md).",
    );
    return 2;
  }
  const source = sqliteFile(config.databaseUrl);
  if (source === ":memory:" || !existsSync(source)) {
    console.error(`peel backup: no database at ${source} (check PEEL_DATA_DIR / PEEL_DATABASE_URL)`);
    return 1;
  }
  const target = path.resolve(file);
  if (existsSync(target)) {
    console.error(`peel backup: ${target} exists; a backup never overwrites: remove it or pick another name`);
    return 1;
  }
  if (!existsSync(path.dirname(target))) {
    console.error(`peel backup: the directory ${path.dirname(target)} does not exist`);
    return 1;
  }

  const started = Date.now();
  // No migration: a backup copies the database as it is, whichever peel version serves it.
  const store = await openStore(config.databaseUrl, { migrate: false });
  try {
    if (!store.backup) {
      console.error("peel backup: this store has no online backup");
      return 1;
    }
    await store.backup(target);
  } finally {
    await store.close();
  }

  const copy = new Database(target, { fileMustExist: true });
  let check: string;
  let tasks: number;
  try {
    copy.pragma("journal_mode = DELETE");
    check = String(copy.pragma("quick_check", { simple: true }));
    tasks = Number(copy.prepare("SELECT COUNT(*) FROM tasks").pluck().get());
  } finally {
    copy.close();
  }
  if (check !== "ok") {
    console.error(`peel backup: the copy at ${target} failed its check: ${check}`);
    return 1;
  }
  const mb = (statSync(target).size / 1024 / 1024).toFixed(1);
  console.log(`backed up ${source} to ${target}: ${mb} MiB, ${tasks} tasks, check ok, ${Date.now() - started} ms`);
  return 0;
}

function sqliteFile(url: string): string {
  let file = url.slice("sqlite:".length);
  if (file.startsWith("//")) file = file.slice(2);
  return file === ":memory:" ? file : path.resolve(file);
}
