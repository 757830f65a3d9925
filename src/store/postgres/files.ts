import type { FileKind, FileRecord } from "../../domain/types.js";
import type { PgDb, Sql } from "./db.js";
import { toFile, type FileRow } from "./rows.js";

// File records. The bytes live in a FileStore; a row says who owns a URL path and until when.

/**
 * Re-uploading to the same URL path replaces the live record: the old one is marked deleted (the
 * new upload overwrote its bytes), so the expiry sweep never deletes bytes the new record serves.
 */
export async function putFileRecord(db: PgDb, f: Omit<FileRecord, "deletedAt">): Promise<FileRecord> {
  return db.tx(async (sql) => {
    // Two puts to one new path would both find nothing to retire and then collide on the unique
    // live-path index; a lock on the path makes the second one retire the first instead.
    await sql.run("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`peel:file:${f.urlPath}`]);
    await sql.run("UPDATE files SET deleted_at = $1 WHERE url_path = $2 AND deleted_at IS NULL", [f.createdAt, f.urlPath]);
    await sql.run(
      `INSERT INTO files (id, account_id, kind, task_id, url_path, storage_key, size, mime_type, created_at, expires_at, deleted_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)`,
      [f.id, f.accountId, f.kind, f.taskId, f.urlPath, f.storageKey, f.size, f.mimeType, f.createdAt, f.expiresAt],
    );
    return { ...f, deletedAt: null };
  });
}

export async function getFileByUrlPath(sql: Sql, urlPath: string): Promise<FileRecord | null> {
  // The live record if any, else the most recent deleted one.
  const row = await sql.one<FileRow>(
    `SELECT * FROM files WHERE url_path = $1
     ORDER BY (deleted_at IS NOT NULL), created_at DESC, id DESC LIMIT 1`,
    [urlPath],
  );
  return row ? toFile(row) : null;
}

export async function listExpiredFiles(sql: Sql, now: number, limit: number): Promise<FileRecord[]> {
  const rows = await sql.rows<FileRow>(
    "SELECT * FROM files WHERE deleted_at IS NULL AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2",
    [now, limit],
  );
  return rows.map(toFile);
}

export async function markFileDeleted(sql: Sql, id: string, now: number): Promise<void> {
  await sql.run("UPDATE files SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL", [now, id]);
}

/** Live (not deleted) records, newest first. */
export async function listFiles(sql: Sql, opts: { accountId?: string; kind?: FileKind; limit?: number }): Promise<FileRecord[]> {
  const where = ["deleted_at IS NULL"];
  const params: unknown[] = [];
  if (opts.accountId !== undefined) params.push(opts.accountId), where.push(`account_id = $${params.length}`);
  if (opts.kind !== undefined) params.push(opts.kind), where.push(`kind = $${params.length}`);
  params.push(opts.limit ?? 100);
  const rows = await sql.rows<FileRow>(
    `SELECT * FROM files WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map(toFile);
}
