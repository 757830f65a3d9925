import type { FileKind, FileRecord } from "../../domain/types.js";
import type { SqliteDb } from "./db.js";
import { toFile, type FileRow } from "./rows.js";

// File records. The bytes live in a FileStore; a row says who owns a URL path and until when.

/**
 * Re-uploading to the same URL path replaces the live record: the old one is marked deleted (the
 * new upload overwrote its bytes), so the expiry sweep never deletes bytes the new record serves.
 */
export function putFileRecord(db: SqliteDb, f: Omit<FileRecord, "deletedAt">): FileRecord {
  return db.immediate(() => {
    db.run("UPDATE files SET deleted_at = ? WHERE url_path = ? AND deleted_at IS NULL", f.createdAt, f.urlPath);
    db.run(
      `INSERT INTO files (id, account_id, kind, task_id, url_path, storage_key, size, mime_type, created_at, expires_at, deleted_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
      f.id,
      f.accountId,
      f.kind,
      f.taskId,
      f.urlPath,
      f.storageKey,
      f.size,
      f.mimeType,
      f.createdAt,
      f.expiresAt,
    );
    return { ...f, deletedAt: null };
  });
}

export function getFileByUrlPath(db: SqliteDb, urlPath: string): FileRecord | null {
  // The live record if any, else the most recent deleted one.
  const row = db.get<FileRow>(
    `SELECT * FROM files WHERE url_path = ?
     ORDER BY CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC LIMIT 1`,
    urlPath,
  );
  return row ? toFile(row) : null;
}

export function listExpiredFiles(db: SqliteDb, now: number, limit: number): FileRecord[] {
  return db
    .all<FileRow>("SELECT * FROM files WHERE deleted_at IS NULL AND expires_at <= ? ORDER BY expires_at, id LIMIT ?", now, limit)
    .map(toFile);
}

export function markFileDeleted(db: SqliteDb, id: string, now: number): void {
  db.run("UPDATE files SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", now, id);
}

/** Live (not deleted) records, newest first. */
export function listFiles(db: SqliteDb, opts: { accountId?: string; kind?: FileKind; limit?: number }): FileRecord[] {
  const where = ["deleted_at IS NULL"];
  const params: unknown[] = [];
  if (opts.accountId !== undefined) where.push("account_id = ?"), params.push(opts.accountId);
  if (opts.kind !== undefined) where.push("kind = ?"), params.push(opts.kind);
  return db
    .all<FileRow>(
      `SELECT * FROM files WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT ?`,
      ...params,
      opts.limit ?? 100,
    )
    .map(toFile);
}
