/**
 * How much memory a 30 MiB streamed upload costs, per file store backend.
 *
 *   node --expose-gc --import tsx bench/upload-memory.ts
 *
 * Streams a generated 30 MiB PNG-looking body through FileService.saveUpload into the local store
 * and into S3FileStore (against s3rver in a child process, so its buffers are not counted),
 * sampling memory every 10 ms. With --expose-gc each sample runs a full GC first, so the number is
 * live Buffer memory (`arrayBuffers`) above the idle baseline, not garbage awaiting collection. It
 * should stay at a few S3 parts (5 MiB each; about 20 MiB measured) and not grow with the body:
 * try BENCH_MIB=100.
 */
import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { ManualClock } from "../src/clock.js";
import { FileService } from "../src/files/file-service.js";
import type { FileStore } from "../src/files/file-store.js";
import { LocalFileStore } from "../src/files/local.js";
import { S3FileStore, type S3FileStoreOptions } from "../src/files/s3.js";
import { openStore } from "../src/store/open-store.js";
import { startFakeS3 } from "../test/fakes/s3-server.js";

const MiB = 1024 * 1024;
const TOTAL = Number(process.env.BENCH_MIB ?? 30) * MiB;

function pngStream(total: number): Readable {
  let sent = 0;
  let n = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const size = Math.min(64 * 1024, total - sent);
      const b = Buffer.alloc(size, n++ % 251);
      if (sent === 0) Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b);
      sent += size;
      this.push(b);
    },
  });
}

const gc = (globalThis as { gc?: () => void }).gc;

async function measure(label: string, store: FileStore, dir: string): Promise<void> {
  const db = await openStore(`sqlite:${path.join(dir, `${label}.db`)}`);
  const clock = new ManualClock();
  const files = new FileService({
    store,
    records: db,
    publicUrl: "http://bench.local",
    secret: "bench",
    uploadRetentionMs: 3_600_000,
    resultRetentionMs: 3_600_000,
    uploadMaxBytes: TOTAL,
    clock,
  });
  const account = await db.createAccount({ name: label }, clock.now());
  gc?.();
  const base = process.memoryUsage();
  let peakBuf = 0;
  let peakRss = 0;
  const timer = setInterval(() => {
    gc?.();
    const m = process.memoryUsage();
    peakBuf = Math.max(peakBuf, m.arrayBuffers - base.arrayBuffers);
    peakRss = Math.max(peakRss, m.rss - base.rss);
  }, 10);
  const t0 = performance.now();
  const res = await files.saveUpload({ account, fileName: "big.png", body: pngStream(TOTAL) });
  const ms = performance.now() - t0;
  clearInterval(timer);
  await db.close();
  console.log(
    `${label.padEnd(6)} ${(res.fileSize / MiB).toFixed(0)} MiB in ${ms.toFixed(0)} ms; ` +
      `peak Buffer memory +${(peakBuf / MiB).toFixed(1)} MiB, peak RSS +${(peakRss / MiB).toFixed(1)} MiB`,
  );
}

if (process.argv.includes("--s3rver-child")) {
  const s3 = await startFakeS3();
  process.send?.(s3.storeOptions("bench"));
  process.on("disconnect", () => void s3.close().then(() => process.exit(0)));
} else {
  const dir = await mkdtemp(path.join(tmpdir(), "peel-bench-"));
  const child = fork(new URL(import.meta.url).pathname, ["--s3rver-child"], { execArgv: ["--import", "tsx"] });
  try {
    const opts = await new Promise<S3FileStoreOptions>((resolve, reject) => {
      child.once("message", (m) => resolve(m as S3FileStoreOptions));
      child.once("error", reject);
    });
    if (!gc) console.log("(run with --expose-gc to measure live memory rather than uncollected garbage)");
    await measure("local", new LocalFileStore(path.join(dir, "files")), dir);
    const s3store = new S3FileStore(opts);
    await measure("s3", s3store, dir);
    s3store.destroy();
  } finally {
    child.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}
