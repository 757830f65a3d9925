import { Readable } from "node:stream";
import sharp from "sharp";
import type { FileRecord } from "../domain/types.js";
import { imageWork } from "../images/image-work.js";
import type { FileStore, StoredObject } from "./file-store.js";

/** the widths peel makes; any other `?w=` is refused, so a client cannot fill the store with sizes. */
export const THUMBNAIL_WIDTHS: readonly number[] = [128, 256, 512];
/** thumbnails made at once per process (each decodes a whole image). */
const CONCURRENCY = 2;

/**
 * Small WebP versions of result and upload images (`/files/…?w=256`), for galleries such as the
 * console's history. Made with sharp on first request and kept in the file store under a key
 * derived from the file record's id, so a re-upload to the same name (a new record) gets a new
 * thumbnail and the retention sweep removes a record's thumbnails with it
 * (`deleteThumbnails`). An image narrower than the width is re-encoded, not enlarged.
 */
export class Thumbnailer {
  private inFlight = new Map<string, Promise<Buffer>>();
  private running = 0;
  private queue: (() => void)[] = [];

  constructor(private store: FileStore) {}

  async get(rec: FileRecord, width: number): Promise<StoredObject> {
    const key = thumbnailKey(rec.id, width);
    const cached = await this.store.get(key);
    if (cached) return cached;
    let job = this.inFlight.get(key);
    if (!job) {
      job = this.make(rec, width, key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, job);
    }
    const bytes = await job;
    return { body: Readable.from([bytes]), size: bytes.length, contentType: "image/webp" };
  }

  private async make(rec: FileRecord, width: number, key: string): Promise<Buffer> {
    await this.slot();
    try {
      const original = await this.store.read(rec.storageKey, Math.max(rec.size, 1));
      if (!original) throw Object.assign(new Error("original is gone"), { code: "ENOENT" });
      let bytes: Buffer;
      try {
        // in the process-wide image queue (images/image-work.ts), with renders and conversions
        bytes = await imageWork.run(() =>
          sharp(original, { limitInputPixels: 100_000_000 })
            .rotate()
            .resize({ width, withoutEnlargement: true })
            .webp({ quality: 78, effort: 3 })
            .toBuffer(),
        );
      } catch (err) {
        // an upload whose first bytes look like an image but whose body is not one
        throw new UndecodableImageError(rec.urlPath, err);
      }
      await this.store.put(key, bytes, "image/webp");
      return bytes;
    } finally {
      this.release();
    }
  }

  private slot(): Promise<void> {
    if (this.running < CONCURRENCY) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.running--;
  }
}

export class UndecodableImageError extends Error {
  constructor(urlPath: string, cause: unknown) {
    super(`cannot decode ${urlPath}`, { cause });
    this.name = "UndecodableImageError";
  }
}

export function thumbnailKey(fileId: string, width: number): string {
  return `thumbs/${fileId}/w${width}.webp`;
}

/** Removes every thumbnail of a file record (the retention sweep calls it with the original). */
export async function deleteThumbnails(store: FileStore, fileId: string): Promise<void> {
  for (const w of THUMBNAIL_WIDTHS) await store.delete(thumbnailKey(fileId, w));
}
