import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rmdir, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FileStore, PutOptions, StoredObject } from "./file-store.js";
import { SizeMismatchError, assertSafeKey, readCapped } from "./store-common.js";

/**
 * FileStore on the local disk (embedded mode).
 *
 * Layout: key `a/b/c.png` is the file `<rootDir>/a/b/c.png`. Each file starts with a one-line
 * header `peel-object 1 <content-type>\n` followed by the object's bytes. The content type lives in
 * the same file (rather than a sidecar or the extension) so that one rename replaces bytes and type
 * together: a reader sees the old object or the new one, never a mix. A client may name a JPEG
 * `x.png`, so the extension cannot be trusted for the type.
 *
 * Writes go to a temp file in the target directory (same file system, so rename is atomic), are
 * flushed, then renamed over the key. A failed or aborted write removes its temp file and leaves
 * any earlier object in place.
 */
export class LocalFileStore implements FileStore {
  readonly kind = "local" as const;
  private readonly root: string;

  constructor(rootDir: string) {
    this.root = path.resolve(rootDir);
  }

  async put(key: string, body: Readable | Buffer, contentType: string, opts: PutOptions = {}): Promise<number> {
    const file = this.pathOf(key);
    const header = encodeHeader(contentType);
    // Not derived from the key: a 255-byte file name plus a suffix would exceed the name limit.
    const tmp = path.join(path.dirname(file), `.peel-tmp-${randomBytes(8).toString("hex")}`);
    let fh: FileHandle;
    try {
      fh = await openTemp(tmp);
    } catch (err) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw err;
    }
    let written = 0;
    const expected = Buffer.isBuffer(body) ? undefined : opts.size;
    async function* withHeader(src: AsyncIterable<unknown> | Buffer[]): AsyncGenerator<Buffer> {
      yield header;
      for await (const chunk of src) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        written += b.length;
        if (expected !== undefined && written > expected) throw new SizeMismatchError(expected, written);
        yield b;
      }
      if (expected !== undefined && written !== expected) throw new SizeMismatchError(expected, written);
    }
    try {
      // flush: fsync before close, so a crash after the rename cannot leave an empty file behind.
      await pipeline(withHeader(Buffer.isBuffer(body) ? [body] : body), fh.createWriteStream({ flush: true }));
      await rename(tmp, file);
    } catch (err) {
      await fh.close().catch(() => undefined); // usually closed by the stream already
      await unlink(tmp).catch(() => undefined);
      if (!Buffer.isBuffer(body)) body.destroy();
      throw err;
    }
    return written;
  }

  async get(key: string): Promise<StoredObject | null> {
    const file = this.pathOf(key);
    let fh: FileHandle;
    try {
      fh = await open(file, "r");
    } catch (err) {
      if (isCode(err, "ENOENT", "ENOTDIR", "EISDIR")) return null;
      throw err;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        await fh.close();
        return null;
      }
      const head = Buffer.alloc(Math.min(MAX_HEADER, st.size));
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      const { contentType, length } = decodeHeader(head.subarray(0, bytesRead), file);
      // The open handle keeps reading the same inode even if the key is replaced or deleted meanwhile.
      const body = fh.createReadStream({ start: length, autoClose: true });
      return { body, size: st.size - length, contentType };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  read(key: string, maxBytes: number): Promise<Buffer | null> {
    return readCapped(this, key, maxBytes);
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await unlink(file);
    } catch (err) {
      if (!isCode(err, "ENOENT", "ENOTDIR")) throw err;
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch (err) {
      if (isCode(err, "ENOENT", "ENOTDIR")) return false;
      throw err;
    }
  }

  /** Local files have no direct URL: peel serves them itself behind a signed link (signed-link.ts). */
  async presignDownload(key: string, _ttlSeconds?: number, _fileName?: string): Promise<string | null> {
    this.pathOf(key);
    return null;
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    const file = path.join(this.root, ...key.split("/"));
    // assertSafeKey already rules out `..`; this is a second fence in case that rule ever changes.
    if (!file.startsWith(this.root + path.sep)) throw new Error(`key escapes the store root: ${key}`);
    return file;
  }

  /**
   * Removes directories emptied by a delete (each result lives in its own `r/<taskId>/` folder, so
   * they would pile up over the retention period). A put racing with this recreates its directory:
   * mkdir runs right before the temp file is opened, and a directory holding a temp file is not empty.
   */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty, already gone, or not ours to remove: stop climbing
      }
      dir = path.dirname(dir);
    }
  }
}

/**
 * Creates the temp file, making its directory first. A concurrent delete may prune the directory
 * between mkdir and open (ENOENT); then it is made again. Opening before any byte is read from
 * the body keeps this retry safe for streams.
 */
async function openTemp(tmp: string): Promise<FileHandle> {
  for (let attempt = 0; ; attempt++) {
    try {
      // recursive mkdir itself fails with ENOENT when a parent is pruned while it climbs down
      await mkdir(path.dirname(tmp), { recursive: true });
      return await open(tmp, "wx");
    } catch (err) {
      if (!isCode(err, "ENOENT") || attempt >= 5) throw err;
    }
  }
}

const MAGIC = "peel-object 1 ";
const MAX_CONTENT_TYPE = 200;
const MAX_HEADER = MAGIC.length + MAX_CONTENT_TYPE + 1;

function encodeHeader(contentType: string): Buffer {
  if (!/^[\x21-\x7e][\x20-\x7e]*$/.test(contentType) || contentType.length > MAX_CONTENT_TYPE) {
    throw new Error(`invalid content type: ${JSON.stringify(contentType)}`);
  }
  return Buffer.from(`${MAGIC}${contentType}\n`, "latin1");
}

function decodeHeader(head: Buffer, file: string): { contentType: string; length: number } {
  const nl = head.indexOf(0x0a);
  const line = nl < 0 ? "" : head.toString("latin1", 0, nl);
  if (!line.startsWith(MAGIC)) throw new Error(`not a peel object file (bad header): ${file}`);
  return { contentType: line.slice(MAGIC.length), length: nl + 1 };
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === "object" && err !== null && codes.includes((err as { code?: string }).code ?? "");
}
