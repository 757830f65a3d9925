import type { Readable } from "node:stream";
import type { FileStore } from "./file-store.js";

/**
 * Pieces both FileStore backends share: key checking, the "too large" refusal of `read`, and the
 * Content-Disposition header of download links.
 */

/** A key that could escape the store's root or mean different things on different backends. */
export class UnsafeKeyError extends Error {
  constructor(key: string) {
    super(`unsafe file store key: ${JSON.stringify(key.slice(0, 200))}`);
    this.name = "UnsafeKeyError";
  }
}

/** `FileStore.read` (and FileService.readOwnFile) found an object bigger than the caller's cap. */
export class FileTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`stored object is ${size} bytes, over the ${maxBytes}-byte cap`);
    this.name = "FileTooLargeError";
  }
}

/** A put whose stream did not carry the byte count its caller declared (`PutOptions.size`). */
export class SizeMismatchError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`stream body was declared as ${expected} bytes but carried ${actual > expected ? "more" : `only ${actual}`}`);
    this.name = "SizeMismatchError";
  }
}

/**
 * Keys are relative, slash-separated paths chosen by peel. Refused everywhere (both backends, so
 * the contract suite holds them to the same rule): empty keys and segments, `.`/`..` segments, a
 * leading slash, backslashes, NUL and other control characters, and segments over 255 bytes
 * (the usual file-name limit on local disks).
 */
export function assertSafeKey(key: string): void {
  if (typeof key !== "string" || key.length === 0 || key.length > 1024) throw new UnsafeKeyError(String(key));
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(key)) throw new UnsafeKeyError(key);
  for (const seg of key.split("/")) {
    if (seg === "" || seg === "." || seg === ".." || Buffer.byteLength(seg) > 255) throw new UnsafeKeyError(key);
  }
}

/**
 * `attachment; filename="..."` with an ASCII fallback and, when the name is not plain ASCII, an
 * RFC 6266 `filename*` so browsers still save it under its real name.
 */
export function attachmentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, "_");
  if (ascii === fileName) return `attachment; filename="${fileName}"`;
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

/** Collects a stream into one Buffer, failing with FileTooLargeError as soon as it passes maxBytes. */
export async function collectCapped(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      total += b.length;
      if (total > maxBytes) throw new FileTooLargeError(total, maxBytes);
      chunks.push(b);
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks, total);
}

/** FileStore.read for any backend: refuses by the stored size first, then caps while reading. */
export async function readCapped(store: Pick<FileStore, "get">, key: string, maxBytes: number): Promise<Buffer | null> {
  const obj = await store.get(key);
  if (!obj) return null;
  if (obj.size > maxBytes) {
    obj.body.destroy();
    throw new FileTooLargeError(obj.size, maxBytes);
  }
  return collectCapped(obj.body, maxBytes);
}
