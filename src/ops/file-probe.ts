import { randomBytes } from "node:crypto";
import type { FileStore } from "../files/file-store.js";

/**
 * Writes, reads back and deletes a small object under a reserved key, to show that the file store
 * works end to end (disk writable, bucket reachable, credentials valid). The key is unique to this
 * probe instance, so several processes probing one bucket never read each other's objects, and it
 * lives outside the `r/` (results) and `u/` (uploads) trees that file records and the retention
 * sweeper deal with.
 */
export const PROBE_PREFIX = "_peel-probe";

export class FileStoreProbe {
  readonly key = `${PROBE_PREFIX}/${randomBytes(8).toString("hex")}`;

  constructor(private readonly store: FileStore) {}

  /** Resolves when all three steps worked; throws an Error naming the step that failed. */
  async run(): Promise<void> {
    const body = randomBytes(16);
    await step("write", () => this.store.put(this.key, body, "application/octet-stream"));
    const back = await step("read", () => this.store.read(this.key, 1024));
    if (!back?.equals(body)) throw new Error("read: the probe object came back different or missing");
    await step("delete", () => this.store.delete(this.key));
  }
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const code = e.code && !e.message.includes(e.code) ? `${e.code} ` : "";
    throw new Error(`${name}: ${code}${e.message}`, { cause: err });
  }
}
