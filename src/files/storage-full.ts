/**
 * Is this error "the disk (or database, or bucket) has no room left"? Such a failure is not a bug
 * and not the client's fault: peel answers it with a clear "storage is full" instead of a stack
 * trace, keeps the work it can retry, and reports it on /readyz (storage-status.ts).
 *
 * - ENOSPC / EDQUOT: a local file write (results, uploads, spill files) on a full disk or quota.
 * - SQLITE_FULL: SQLite could not grow the database or its WAL.
 * - PostgreSQL 53100 (disk_full).
 * - S3: MinIO's XMinioStorageFull; AWS S3 itself has no "full".
 */
const CODES = new Set(["ENOSPC", "EDQUOT", "SQLITE_FULL", "53100", "XMinioStorageFull"]);

export function isStorageFull(err: unknown): boolean {
  // Walk `cause` too: wrappers (undici, the AWS SDK, our own) keep the original there.
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const o = e as { code?: unknown; name?: unknown; Code?: unknown };
    if (CODES.has(String(o.code)) || CODES.has(String(o.name)) || CODES.has(String(o.Code))) return true;
  }
  return false;
}

/** One short line about a storage failure, for logs and /readyz (never a stack). */
export function storageErrorLine(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  const msg = typeof e?.message === "string" ? e.message.split("\n")[0].slice(0, 200) : String(err).slice(0, 200);
  return code && !msg.startsWith(code) ? `${code}: ${msg}` : msg;
}
