import type { Readable } from "node:stream";

export interface StoredObject {
  body: Readable;
  size: number;
  contentType: string;
}

export interface PutOptions {
  /**
   * The exact byte count of a stream body, when known (an upload staged on disk). S3 then sends
   * one streamed PutObject holding no part buffers, instead of a multipart upload that buffers
   * each 5 MiB part. @defaultValue unknown
   */
  size?: number;
}

/**
 * Where file bytes live (`local` disk or `s3`). Keys are slash-separated relative paths chosen by
 * peel (never raw client input). Ownership and expiry live in the Store's file records.
 */
export interface FileStore {
  readonly kind: "local" | "s3";
  /**
   * Writes the whole stream, replacing any object at `key`. Returns the byte count written. A
   * stream that ends short of or runs past `opts.size` fails the put and stores nothing.
   */
  put(key: string, body: Readable | Buffer, contentType: string, opts?: PutOptions): Promise<number>;
  /** null when absent. */
  get(key: string): Promise<StoredObject | null>;
  /** Reads a whole object into memory, refusing objects larger than maxBytes (null when absent). */
  read(key: string, maxBytes: number): Promise<Buffer | null>;
  /** No error when absent. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /**
   * A direct-download URL valid for ttlSeconds, served as an attachment; null when this store has
   * no direct URLs (local: peel signs its own /files URL instead).
   */
  presignDownload(key: string, ttlSeconds: number, fileName: string): Promise<string | null>;
}
