import type { FileRecord } from "../domain/types.js";
import type { FileRecordStore } from "../store/store.js";
import type { FileStore } from "./file-store.js";
import { deleteThumbnails } from "./thumbnails.js";

/** pino-compatible subset. */
export interface SweepLogger {
  warn(obj: object, msg: string): void;
}

export interface SweepOptions {
  records: FileRecordStore;
  store: FileStore;
  /** ms since the epoch; records with expiresAt ≤ now are swept. */
  now: number;
  /** records fetched per round. @defaultValue 100 */
  batch?: number;
  logger?: SweepLogger;
}

/**
 * Retention (docs/kie-contract.md §11, §12): deletes the bytes of every file record whose expiresAt ≤ now
 * and marks the record deleted (the record stays, so its URL answers "expired"). Idempotent: a
 * missing object is fine and deleted records are never listed again. A failed delete is logged and
 * skipped; its record stays live and is retried by the next sweep. Returns how many were swept.
 */
export async function sweepExpiredFiles(opts: SweepOptions): Promise<number> {
  const batch = opts.batch ?? 100;
  const failed = new Set<string>();
  let swept = 0;
  for (;;) {
    // Failed ids are over-fetched so they never crowd out records that still need a try.
    const limit = batch + failed.size;
    const listed = await opts.records.listExpiredFiles(opts.now, limit);
    const due = listed.filter((r) => !failed.has(r.id));
    if (due.length === 0) break;
    for (const rec of due) {
      try {
        await sweepOne(opts, rec);
        swept++;
      } catch (err) {
        failed.add(rec.id);
        opts.logger?.warn({ err, fileId: rec.id, storageKey: rec.storageKey }, "files:sweep:failed");
      }
    }
    if (listed.length < limit) break; // a short page: nothing else is due
  }
  return swept;
}

async function sweepOne(opts: SweepOptions, rec: FileRecord): Promise<void> {
  // A re-upload to the same name reuses the storage key. If the newest record for this URL is a
  // different, live one, the bytes at the key are the new upload's: retire the old record only.
  const newest = await opts.records.getFileByUrlPath(rec.urlPath);
  const replaced =
    newest !== null &&
    newest.id !== rec.id &&
    newest.storageKey === rec.storageKey &&
    newest.deletedAt === null &&
    newest.expiresAt > opts.now;
  if (!replaced) await opts.store.delete(rec.storageKey);
  await deleteThumbnails(opts.store, rec.id);
  await opts.records.markFileDeleted(rec.id, opts.now);
}

/**
 * Runs sweepExpiredFiles every intervalMs until the returned stop() is awaited. One sweep at a
 * time; the timer does not keep the process alive.
 */
export function startFileSweeper(opts: Omit<SweepOptions, "now"> & { clock: { now(): number }; intervalMs: number }): {
  stop(): Promise<void>;
} {
  let current: Promise<void> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    // A sweep slower than the interval is not stacked behind itself: the tick is skipped.
    if (stopped || current) return;
    current = sweepExpiredFiles({ ...opts, now: opts.clock.now() })
      .then(
        () => undefined,
        (err: unknown) => opts.logger?.warn({ err }, "files:sweep:error"),
      )
      .finally(() => {
        current = null;
      });
  }, opts.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
