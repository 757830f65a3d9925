import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ManualClock } from "../../src/clock.js";
import type { Account } from "../../src/domain/types.js";
import { FileService } from "../../src/files/file-service.js";
import type { FileStore } from "../../src/files/file-store.js";
import { LocalFileStore } from "../../src/files/local.js";
import { S3FileStore } from "../../src/files/s3.js";
import { openStore } from "../../src/store/open-store.js";
import type { Store } from "../../src/store/store.js";
import { startFakeS3, type FakeS3 } from "../fakes/s3-server.js";

export type Backend = "local" | "s3";
export const BACKENDS: Backend[] = ["local", "s3"];

export const MiB = 1024 * 1024;
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const PUBLIC_URL = "https://peel.test";

/** Smallest byte strings each format's magic-number sniffing accepts, plus some payload. */
export const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from("png payload")]);
export const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from("jpeg payload")]);
export const WEBP = Buffer.concat([Buffer.from("RIFF"), Buffer.from([0, 0, 0, 0]), Buffer.from("WEBPVP8 payload")]);
export const GIF = Buffer.from("GIF89a not accepted");

export interface Env {
  backend: Backend;
  clock: ManualClock;
  db: Store;
  store: FileStore;
  files: FileService;
  a: Account;
  b: Account;
  /** raw entries the backend holds (files on disk / objects in the bucket). */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * A FileService over a fresh SQLite database and a fresh store (a temp dir, or its own prefix in
 * a shared s3rver), with two accounts and a manual clock. s3rver is started once per test file.
 */
export function fileEnv(opts: { uploadMaxBytes?: number } = {}) {
  let s3: FakeS3 | null = null;
  let n = 0;
  return {
    async stopS3(): Promise<void> {
      await s3?.close();
      s3 = null;
    },
    async make(backend: Backend): Promise<Env> {
      const dir = await mkdtemp(path.join(tmpdir(), "peel-files-"));
      const clock = new ManualClock();
      const db = await openStore(`sqlite:${path.join(dir, "peel.db")}`);
      let store: FileStore;
      let leftovers: () => Promise<string[]>;
      if (backend === "local") {
        const root = path.join(dir, "files");
        store = new LocalFileStore(root);
        leftovers = () => listFiles(root);
      } else {
        s3 ??= await startFakeS3();
        const prefix = `env-${++n}`;
        store = new S3FileStore(s3.storeOptions(prefix));
        const objects = path.join(s3.directory, s3.bucket, prefix);
        leftovers = async () => (await listFiles(objects)).filter((f) => f.endsWith("._S3rver_object"));
      }
      const files = new FileService({
        store,
        records: db,
        publicUrl: PUBLIC_URL,
        secret: "file-service-test-secret",
        uploadRetentionMs: 3 * DAY,
        resultRetentionMs: 14 * DAY,
        uploadMaxBytes: opts.uploadMaxBytes ?? 30 * MiB,
        clock,
      });
      const a = await db.createAccount({ name: "A" }, clock.now());
      const b = await db.createAccount({ name: "B" }, clock.now());
      return {
        backend,
        clock,
        db,
        store,
        files,
        a,
        b,
        leftovers,
        async close() {
          if (store instanceof S3FileStore) store.destroy();
          await db.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)))
    .sort();
}
