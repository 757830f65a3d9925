import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config.js";

/**
 * The start-up check of the directories peel writes to: the data directory (SQLite database,
 * local files, staging, the generated secret) and the SQLite database's own directory when
 * PEEL_DATABASE_URL puts it elsewhere. Each is created when missing, then a small file is written
 * and removed in it. A read-only mount or a directory owned by another user otherwise surfaces
 * later as a raw SQLITE_CANTOPEN (or EACCES) stack trace; here it is one line naming the path and
 * the fix, which `peel serve` prints before exiting with status 2.
 *
 * @returns null when every directory is writable, else that line.
 */
export function dataDirProblem(config: Pick<Config, "dataDir" | "databaseUrl">): string | null {
  const dirs = [config.dataDir];
  const sqliteFile = sqlitePath(config.databaseUrl);
  if (sqliteFile) dirs.push(path.dirname(path.resolve(sqliteFile)));
  for (const dir of new Set(dirs)) {
    const problem = writeProbe(dir);
    if (problem) return problem;
  }
  return null;
}

function writeProbe(dir: string): string | null {
  const file = path.join(dir, `.peel-write-check-${randomBytes(6).toString("hex")}`);
  try {
    makeDir(dir);
    const fd = openSync(file, "wx", 0o600);
    try {
      writeSync(fd, "ok\n");
    } finally {
      closeSync(fd);
    }
    unlinkSync(file);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    return `${describe(dir, code)} (${code}): ${fixFor(code)}`;
  }
}

/**
 * mkdir -p, one level at a time: a recursive mkdir on a read-only mount reports ENOENT, which
 * would hide the real reason (EROFS, EACCES) behind "no such file".
 */
function makeDir(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) mkdirSync(d);
}

function describe(dir: string, code: string): string {
  if (code === "EROFS") return `data directory ${dir} is on a read-only file system`;
  if (code === "EACCES" || code === "EPERM") return `data directory ${dir} is not writable by this user`;
  if (code === "ENOSPC" || code === "EDQUOT") return `data directory ${dir} has no space left`;
  if (code === "ENOTDIR" || code === "EEXIST") return `data directory ${dir} is not a directory`;
  return `data directory ${dir} cannot be written`;
}

function fixFor(code: string): string {
  if (code === "EROFS") return "mount it read-write, or set PEEL_DATA_DIR to a writable directory";
  if (code === "EACCES" || code === "EPERM")
    return "chown it to the user running peel, or set PEEL_DATA_DIR to a directory that user can write";
  if (code === "ENOSPC" || code === "EDQUOT") return "free some space on that disk, or set PEEL_DATA_DIR to a larger one";
  return "set PEEL_DATA_DIR to a writable directory";
}

/** The file of a `sqlite:` database URL, or null (PostgreSQL, in-memory). */
function sqlitePath(databaseUrl: string): string | null {
  if (!databaseUrl.startsWith("sqlite:")) return null;
  let file = databaseUrl.slice("sqlite:".length);
  if (file.startsWith("//")) file = file.slice(2);
  return file === "" || file === ":memory:" ? null : file;
}
