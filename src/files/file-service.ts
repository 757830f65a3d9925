import { randomInt } from "node:crypto";
import { Readable } from "node:stream";
import type { Account, FileRecord } from "../domain/types.js";
import { UploadError } from "../errors.js";
import { newId, randomString } from "../ids.js";
import { MIME_OF, sniffImage } from "../images/sniff.js";
import type { FileRecordStore } from "../store/store.js";
import type { FileStore, StoredObject } from "./file-store.js";
import { signLink, verifyLink } from "./signed-link.js";
import { StorageStatus } from "./storage-status.js";
import { FileTooLargeError } from "./store-common.js";
import { checkFileName, finalFileName, normalizeUploadPath, numberedFileName, sanitizePartFileName } from "./upload-input.js";

export interface FileServiceOptions {
  store: FileStore;
  records: FileRecordStore;
  /** base of issued URLs, without a trailing slash (config `publicUrl`). */
  publicUrl: string;
  /** HMAC key of signed download links. */
  secret: string;
  /** upload lifetime, ms. @defaultValue 3 days (config) */
  uploadRetentionMs: number;
  /** result lifetime, ms. @defaultValue 14 days (config) */
  resultRetentionMs: number;
  /** largest accepted upload, bytes. @defaultValue 30 MiB (config) */
  uploadMaxBytes: number;
  clock: { now(): number };
  /**
   * Whether storage currently accepts writes, shared by everything that reports or reads it
   * (error handler, uploads, result saving, /readyz). @defaultValue a status without a probe dir
   */
  storageStatus?: StorageStatus;
}

/** The upload API's `data` object (docs/kie-contract.md §10.2). */
export interface UploadResult {
  fileName: string;
  filePath: string;
  downloadUrl: string;
  fileUrl: string;
  fileSize: number;
  mimeType: string;
  uploadedAt: string;
  expiresAt: string;
}

export type DownloadLink = { kind: "link"; url: string } | { kind: "not_ours" } | { kind: "gone" };
export type OpenResult =
  | { kind: "ok"; object: StoredObject; record: FileRecord; attachment: boolean }
  | { kind: "not_found" | "expired" | "bad_signature" | "link_expired" };

/** download-url links live 20 minutes (docs/kie-contract.md §9). */
export const DOWNLOAD_LINK_TTL_SEC = 20 * 60;
/** bytes needed to tell PNG, JPEG and WebP apart (sniff.ts). */
const SNIFF_BYTES = 12;
const TASK_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** numbered names tried for a taken part name before a random number is used. */
const FREE_NAME_TRIES = 50;

/**
 * Uploads, results, and the `/files/...` URLs that serve them. Bytes go to the FileStore; a
 * FileRecord says which account owns each URL and until when. Storage keys hold the account id
 * (`u/<accountId>/<filePath>`) and URLs hold the account token (`/files/u/<token>/<filePath>`),
 * both from the authenticated account, so whatever path a client sends it writes only its own files.
 */
export class FileService {
  readonly storageStatus: StorageStatus;
  private readonly publicOrigin: string;
  /** path part of publicUrl ("" or e.g. "/peel"), stripped from incoming URLs. */
  private readonly publicBase: string;

  constructor(private readonly opts: FileServiceOptions) {
    const u = new URL(opts.publicUrl);
    this.publicOrigin = u.origin;
    this.publicBase = u.pathname.replace(/\/+$/, "");
    this.storageStatus = opts.storageStatus ?? new StorageStatus(null);
  }

  /**
   * `size`: the exact length of a stream body when known (an upload staged on disk); lets the store
   * write it without part buffers (PutOptions.size).
   */
  async saveUpload(input: {
    account: Account;
    uploadPath?: unknown;
    fileName?: unknown;
    /** the multipart part's own file name, used (sanitised) when `fileName` is absent. */
    partFileName?: string | null;
    body: Readable | Buffer;
    size?: number;
  }): Promise<UploadResult> {
    const { account } = input;
    let uploadPath: string;
    let requestedName: string | null;
    try {
      // Field errors first, so a bad name costs no body read.
      uploadPath = normalizeUploadPath(input.uploadPath);
      requestedName = checkFileName(input.fileName);
      if (input.size !== undefined && input.size > this.opts.uploadMaxBytes) throw new UploadError("too_large");
    } catch (err) {
      if (!Buffer.isBuffer(input.body)) input.body.destroy();
      throw err;
    }
    const { format, body } = await this.sniffAndCap(input.body);
    const partName = requestedName === null ? sanitizePartFileName(input.partFileName) : null;
    let fileName = finalFileName(requestedName ?? partName, format);
    // An explicit fileName replaces the file at its URL (docs/kie-contract.md §10.1); a part's
    // own name must not silently replace another upload of the same name.
    if (partName !== null) fileName = await this.freeUploadName(account, uploadPath, fileName);
    const filePath = `${uploadPath}/${fileName}`;
    const mimeType = MIME_OF[format];
    const storageKey = `u/${account.id}/${filePath}`;
    const urlPath = `/files/u/${account.token}/${filePath}`;
    let size: number;
    try {
      size = await this.opts.store.put(storageKey, body, mimeType, Buffer.isBuffer(body) ? {} : { size: input.size });
    } catch (err) {
      // On the local disk `uploads/a.png` cannot be a file and a folder at once; that is the
      // client's path clash, not a server fault.
      if (isCode(err, "ENOTDIR", "EISDIR", "EEXIST", "ENOTEMPTY")) throw new UploadError("bad_upload_path");
      throw err;
    }
    const now = this.opts.clock.now();
    const rec = await this.opts.records.putFileRecord({
      id: newId("file"),
      accountId: account.id,
      kind: "upload",
      taskId: null,
      urlPath,
      storageKey,
      size,
      mimeType,
      createdAt: now,
      expiresAt: now + this.opts.uploadRetentionMs,
    });
    this.storageStatus.reportWritten();
    const url = this.opts.publicUrl + urlPath;
    return {
      fileName,
      filePath,
      downloadUrl: url,
      fileUrl: url,
      fileSize: size,
      mimeType,
      uploadedAt: new Date(rec.createdAt).toISOString(),
      expiresAt: new Date(rec.expiresAt).toISOString(),
    };
  }

  async saveResult(input: { accountId: string; taskId: string; bytes: Buffer; format: "png" | "jpeg" }): Promise<string> {
    if (!TASK_ID.test(input.taskId)) throw new Error(`bad task id for a result file: ${input.taskId}`);
    const name = `${randomString(12)}.${input.format === "png" ? "png" : "jpg"}`;
    const storageKey = `r/${input.taskId}/${name}`;
    const urlPath = `/files/r/${input.taskId}/${name}`;
    const mimeType = MIME_OF[input.format];
    await this.opts.store.put(storageKey, input.bytes, mimeType);
    const now = this.opts.clock.now();
    await this.recordOrRemove(storageKey, {
      id: newId("file"),
      accountId: input.accountId,
      kind: "result",
      taskId: input.taskId,
      urlPath,
      storageKey,
      size: input.bytes.length,
      mimeType,
      createdAt: now,
      expiresAt: now + this.opts.resultRetentionMs,
    });
    this.storageStatus.reportWritten();
    return this.opts.publicUrl + urlPath;
  }

  /**
   * The bytes behind a peel file URL, for `image_input`. null when the URL is not peel's, unknown,
   * deleted, expired, or (with accountId) another account's. Throws FileTooLargeError when the
   * file is bigger than maxBytes.
   */
  async readOwnFile(url: URL, maxBytes: number, accountId?: string): Promise<Buffer | null> {
    const rec = await this.recordOf(url);
    if (!rec || (accountId !== undefined && rec.accountId !== accountId) || !this.isLive(rec)) return null;
    if (rec.size > maxBytes) throw new FileTooLargeError(rec.size, maxBytes);
    return this.opts.store.read(rec.storageKey, maxBytes);
  }

  /**
   * download-url (docs/kie-contract.md §9). The route answers `url is required` for a missing or
   * non-string url before calling this. Unknown paths and other accounts' files both read
   * "not_ours", so the answer never tells whether someone else's file exists.
   */
  async downloadLink(url: unknown, accountId: string): Promise<DownloadLink> {
    if (typeof url !== "string") return { kind: "not_ours" };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { kind: "not_ours" };
    }
    const rec = await this.recordOf(parsed);
    if (!rec || rec.accountId !== accountId) return { kind: "not_ours" };
    if (!this.isLive(rec)) return { kind: "gone" };
    const now = this.opts.clock.now();
    // The link must not outlive the file: it "does not extend the file's retention" (§9).
    const ttl = Math.max(1, Math.min(DOWNLOAD_LINK_TTL_SEC, Math.floor((rec.expiresAt - now) / 1000)));
    const fileName = rec.urlPath.slice(rec.urlPath.lastIndexOf("/") + 1);
    const presigned = await this.opts.store.presignDownload(rec.storageKey, ttl, fileName);
    if (presigned) return { kind: "link", url: presigned };
    const exp = Math.floor(now / 1000) + ttl;
    return { kind: "link", url: this.opts.publicUrl + rec.urlPath + signLink(this.opts.secret, rec.urlPath, exp) };
  }

  /**
   * GET/HEAD `/files/*`. `urlPath` is the request path without the query (and without any
   * publicUrl path prefix). With `exp` or `sig` present the link must verify; the route then sends
   * `Content-Disposition: attachment`. The caller must consume or destroy `object.body`.
   */
  async open(urlPath: string, query: { exp?: string; sig?: string }): Promise<OpenResult> {
    const rec = await this.opts.records.getFileByUrlPath(urlPath);
    if (!rec) return { kind: "not_found" };
    if (!this.isLive(rec)) return { kind: "expired" };
    let attachment = false;
    if (query.exp !== undefined || query.sig !== undefined) {
      const nowSec = Math.floor(this.opts.clock.now() / 1000);
      const check = verifyLink(this.opts.secret, urlPath, query.exp, query.sig, nowSec);
      if (check === "invalid") return { kind: "bad_signature" };
      if (check === "expired") return { kind: "link_expired" };
      attachment = true;
    }
    const object = await this.opts.store.get(rec.storageKey);
    if (!object) return { kind: "not_found" };
    return { kind: "ok", object, record: rec, attachment };
  }

  /** `name`, or `name-2`, `name-3`… when a live upload already holds it in that folder. */
  private async freeUploadName(account: Account, uploadPath: string, name: string): Promise<string> {
    for (let n = 1; n <= FREE_NAME_TRIES; n++) {
      const candidate = n === 1 ? name : numberedFileName(name, n);
      const rec = await this.opts.records.getFileByUrlPath(`/files/u/${account.token}/${uploadPath}/${candidate}`);
      if (!rec || !this.isLive(rec)) return candidate;
    }
    return numberedFileName(name, randomInt(FREE_NAME_TRIES + 1, 1_000_000));
  }

  /**
   * Stores the record of a result just written; when that fails (a full database), removes the
   * object again, so a retried save does not leave an unowned file behind that no sweep would
   * find. (Result keys are fresh random names: the object removed is always the one just written.)
   */
  private async recordOrRemove(storageKey: string, rec: Omit<FileRecord, "deletedAt">): Promise<FileRecord> {
    try {
      return await this.opts.records.putFileRecord(rec);
    } catch (err) {
      await this.opts.store.delete(storageKey).catch(() => undefined);
      throw err;
    }
  }

  private isLive(rec: FileRecord): boolean {
    return rec.deletedAt === null && rec.expiresAt > this.opts.clock.now();
  }

  /** The record behind an absolute URL on peel's public origin, or null. Query and hash are ignored. */
  private async recordOf(url: URL): Promise<FileRecord | null> {
    if (url.origin !== this.publicOrigin) return null;
    const prefix = `${this.publicBase}/files/`;
    if (!url.pathname.startsWith(prefix)) return null;
    return this.opts.records.getFileByUrlPath(url.pathname.slice(this.publicBase.length));
  }

  /**
   * Sniffs the type from the first bytes, then hands back a stream that re-emits them and fails
   * with `too_large` once more than uploadMaxBytes have passed. The store's put then aborts
   * (temp file removed / multipart upload aborted), so an oversized upload leaves nothing behind.
   */
  private async sniffAndCap(src: Readable | Buffer): Promise<{ format: "png" | "jpeg" | "webp"; body: Readable | Buffer }> {
    const max = this.opts.uploadMaxBytes;
    if (Buffer.isBuffer(src)) {
      if (src.length > max) throw new UploadError("too_large");
      const format = sniffImage(src.subarray(0, SNIFF_BYTES));
      if (!format) throw new UploadError("unsupported_type");
      return { format, body: src };
    }
    const stream = src; // keeps the narrowed type inside the generator below
    const it = stream[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let headBytes = 0;
    let done = false;
    try {
      while (headBytes < SNIFF_BYTES) {
        const r = await it.next();
        if (r.done) {
          done = true;
          break;
        }
        const b = toBuffer(r.value);
        head.push(b);
        headBytes += b.length;
      }
    } catch (err) {
      src.destroy();
      throw err;
    }
    const first = Buffer.concat(head, headBytes);
    const format = sniffImage(first.subarray(0, SNIFF_BYTES));
    if (!format || headBytes > max) {
      src.destroy();
      throw new UploadError(format ? "too_large" : "unsupported_type");
    }
    if (done) return { format, body: first };
    async function* capped(): AsyncGenerator<Buffer> {
      let seen = headBytes;
      yield first;
      try {
        for (let r = await it.next(); !r.done; r = await it.next()) {
          const b = toBuffer(r.value);
          seen += b.length;
          if (seen > max) throw new UploadError("too_large");
          yield b;
        }
      } finally {
        stream.destroy();
      }
    }
    return { format, body: Readable.from(capped(), { objectMode: false }) };
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  return Buffer.from(chunk as Uint8Array);
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === "object" && err !== null && codes.includes((err as { code?: string }).code ?? "");
}
