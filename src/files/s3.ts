import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { FileStore, PutOptions, StoredObject } from "./file-store.js";
import { SizeMismatchError, assertSafeKey, attachmentDisposition, readCapped } from "./store-common.js";

export interface S3FileStoreOptions {
  bucket: string;
  /** S3-compatible endpoint (R2, MinIO, ...); null/absent = AWS S3 for `region`. */
  endpoint?: string | null;
  region: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO needs it). @defaultValue false */
  forcePathStyle?: boolean;
  /** folder inside the bucket that every key lives under, without slashes at the ends. @defaultValue "" */
  prefix?: string;
  /** static credentials; absent = the standard AWS chain (env, profile, container/instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Multipart part size in bytes for streams. Memory per streamed upload is bounded by a few parts
   * whatever the object size: one sending, one filling, and the SDK's HTTP layer briefly keeps a
   * sent body (bench/upload-memory.ts measures about 4 parts at peak). S3 needs ≥ 5 MiB for every
   * part but the last; R2 needs them all equal, which PartBuffer guarantees. @defaultValue 5 MiB
   */
  partSize?: number;
}

const MIN_PART = 5 * 1024 * 1024;
/** S3's limit for a single PutObject (5 GiB); larger known-length streams go multipart. */
const MAX_SINGLE_PUT = 5 * 1024 * 1024 * 1024;

/**
 * FileStore on S3 or an S3-compatible service (scale-out mode). Streams of unknown length are
 * sent as a multipart upload, part by part, so a 30 MiB upload never sits whole in memory; short
 * streams (under one part) become a single PutObject. A failed multipart upload is aborted, so no
 * partial object ever becomes visible and an earlier object at the key survives. A stream whose
 * length is known (`PutOptions.size`, e.g. an upload staged on disk) goes as one streamed
 * PutObject with no part buffers at all; S3 stores it only if every declared byte arrives.
 */
export class S3FileStore implements FileStore {
  readonly kind = "s3" as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;

  constructor(opts: S3FileStoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? "").replace(/^\/+|\/+$/g, "");
    this.partSize = Math.max(opts.partSize ?? MIN_PART, MIN_PART);
    this.client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint ?? undefined,
      forcePathStyle: opts.forcePathStyle ?? false,
      credentials: opts.credentials,
      // The SDK's default CRC checksums (since 3.729) are rejected or mishandled by several
      // S3-compatible services (older R2 and MinIO releases); send them only when an API requires it.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  async put(key: string, body: Readable | Buffer, contentType: string, opts: PutOptions = {}): Promise<number> {
    const Key = this.keyOf(key);
    if (Buffer.isBuffer(body)) {
      await this.putBuffer(Key, body, contentType);
      return body.length;
    }
    if (opts.size !== undefined && opts.size <= MAX_SINGLE_PUT) return this.putSized(Key, body, contentType, opts.size);
    return this.putStream(Key, body, contentType);
  }

  async get(key: string): Promise<StoredObject | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      const body = res.Body instanceof Readable ? res.Body : Readable.fromWeb(res.Body as never);
      return { body, size: res.ContentLength ?? 0, contentType: res.ContentType ?? "application/octet-stream" };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  read(key: string, maxBytes: number): Promise<Buffer | null> {
    return readCapped(this, key, maxBytes);
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a key that does not exist, so this is idempotent as it stands.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async presignDownload(key: string, ttlSeconds: number, fileName: string): Promise<string | null> {
    const cmd = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.keyOf(key),
      ResponseContentDisposition: attachmentDisposition(fileName),
    });
    return getSignedUrl(this.client, cmd, { expiresIn: ttlSeconds });
  }

  /** Closes the client's sockets (tests, shutdown). */
  destroy(): void {
    this.client.destroy();
  }

  private keyOf(key: string): string {
    assertSafeKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private async putBuffer(Key: string, body: Buffer, ContentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentType, ContentLength: body.length }),
    );
  }

  /**
   * A stream of known length as one PutObject: the SDK pipes it to the socket (payload unsigned),
   * so nothing is buffered beyond the stream's own highWaterMark. The byte count is checked on the
   * way through: a short or long body, or a failing source, aborts the request, and S3 never
   * stores a PutObject whose body did not arrive whole.
   */
  private async putSized(Key: string, body: Readable, ContentType: string, size: number): Promise<number> {
    const ctl = new AbortController();
    let failure: unknown = null;
    async function* counted(): AsyncGenerator<Buffer> {
      let seen = 0;
      for await (const chunk of body) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        seen += b.length;
        if (seen > size) throw new SizeMismatchError(size, seen);
        yield b;
      }
      if (seen !== size) throw new SizeMismatchError(size, seen);
    }
    const Body = Readable.from(counted(), { objectMode: false });
    // The SDK pipes Body into the request, and pipe() does not pass errors on: without this abort a
    // failed source would leave the request waiting for bytes that never come.
    Body.once("error", (err) => {
      failure = err;
      ctl.abort(err);
    });
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body, ContentType, ContentLength: size }), {
        abortSignal: ctl.signal,
      });
    } catch (err) {
      throw failure ?? err;
    } finally {
      Body.destroy();
      body.destroy();
    }
    return size;
  }

  private async putStream(Key: string, body: Readable, ContentType: string): Promise<number> {
    const buf = new PartBuffer(this.partSize);
    let total = 0;
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    // At most one part in flight while the next one fills: bounded memory, still overlapped I/O.
    const flight: { current: Promise<void> | null } = { current: null };
    const sendPart = async (part: Buffer): Promise<void> => {
      uploadId ??= await this.createMultipart(Key, ContentType);
      if (flight.current) await flight.current;
      const PartNumber = parts.length + 1;
      const slot: CompletedPart = { PartNumber };
      parts.push(slot);
      const id = uploadId;
      const sent = this.client
        .send(
          new UploadPartCommand({ Bucket: this.bucket, Key, UploadId: id, PartNumber, Body: part, ContentLength: part.length }),
        )
        .then((r) => {
          slot.ETag = r.ETag;
        });
      // Observed by the next await; this handler only stops an unhandled rejection while we read.
      sent.catch(() => undefined);
      flight.current = sent;
    };
    try {
      for await (const chunk of body) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        total += b.length;
        for (const part of buf.write(b)) await sendPart(part);
      }
      const rest = buf.rest();
      if (uploadId === undefined) {
        await this.putBuffer(Key, rest, ContentType);
        return total;
      }
      if (rest.length > 0) await sendPart(rest);
      await flight.current;
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
      return total;
    } catch (err) {
      body.destroy();
      if (uploadId !== undefined) {
        await flight.current?.catch(() => undefined);
        // Best effort: a lifecycle rule for incomplete multipart uploads catches what this misses.
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: uploadId }))
          .catch(() => undefined);
      }
      throw err;
    }
  }

  private async createMultipart(Key: string, ContentType: string): Promise<string> {
    const res = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, ContentType }));
    if (!res.UploadId) throw new Error("S3 CreateMultipartUpload returned no UploadId");
    return res.UploadId;
  }
}

/**
 * Fills one part-sized buffer at a time, copying each incoming chunk in so the chunk can be freed
 * at once. (Collecting chunks and concatenating them held every part twice.) Parts come out at
 * exactly partSize bytes, which R2 requires of every part but the last.
 */
class PartBuffer {
  private buf: Buffer | null = null;
  private used = 0;
  constructor(private readonly partSize: number) {}

  /** Copies `chunk` in and yields each part it completes. */
  *write(chunk: Buffer): Generator<Buffer> {
    let offset = 0;
    while (offset < chunk.length) {
      // allocUnsafe: only the written prefix is ever sent (rest() cuts at `used`)
      this.buf ??= Buffer.allocUnsafe(this.partSize);
      const n = chunk.copy(this.buf, this.used, offset);
      this.used += n;
      offset += n;
      if (this.used === this.partSize) yield this.rest();
    }
  }

  /** The bytes written since the last part (possibly none). */
  rest(): Buffer {
    const out = this.buf ? this.buf.subarray(0, this.used) : Buffer.alloc(0);
    this.buf = null;
    this.used = 0;
    return out;
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}
