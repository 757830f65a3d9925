import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import type { FileStore } from "../../src/files/file-store.js";
import { FileTooLargeError, UnsafeKeyError } from "../../src/files/store-common.js";

/** One backend under test. `leftovers` lists raw storage entries (files, objects) to prove cleanup. */
export interface ContractHarness {
  store: FileStore;
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
  /**
   * false when the server behind the store writes objects in place, so racing puts to one key can
   * interleave (s3rver does; AWS S3, R2 and MinIO replace atomically). Skips that one check.
   * @defaultValue true
   */
  atomicSameKeyPuts?: boolean;
}

const MiB = 1024 * 1024;

/** A deterministic stream of `total` bytes in `chunk`-sized pieces, hashed as it is produced. */
export function generatedStream(total: number, chunk = 64 * 1024, opts: { failAfter?: number } = {}) {
  const hash = createHash("sha256");
  let sent = 0;
  let n = 0;
  const body = new Readable({
    read() {
      if (opts.failAfter !== undefined && sent >= opts.failAfter) {
        this.destroy(new Error("source failed on purpose"));
        return;
      }
      if (sent >= total) {
        this.push(null);
        return;
      }
      const size = Math.min(chunk, total - sent);
      const b = Buffer.alloc(size, n++ % 251);
      hash.update(b);
      sent += size;
      this.push(b);
    },
  });
  return { body, digest: () => hash.digest("hex") };
}

export async function hashStream(body: Readable): Promise<{ hex: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const c of body) {
    hash.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { hex: hash.digest("hex"), bytes };
}

async function readAll(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** The FileStore contract (file-store.ts), run against every backend. */
export function runFileStoreContract(name: string, make: () => Promise<ContractHarness>): void {
  describe(`FileStore contract: ${name}`, () => {
    const withStore = (title: string, fn: (h: ContractHarness) => Promise<void>) =>
      test(title, async () => {
        const h = await make();
        try {
          await fn(h);
        } finally {
          await h.close();
        }
      });

    withStore("put then get returns the bytes, size and content type", async ({ store }) => {
      const bytes = Buffer.from("hello, peel");
      assert.equal(await store.put("u/acc_1/uploads/a.png", bytes, "image/png"), bytes.length);
      const obj = await store.get("u/acc_1/uploads/a.png");
      assert.ok(obj);
      assert.equal(obj.size, bytes.length);
      assert.equal(obj.contentType, "image/png");
      assert.deepEqual(await readAll(obj.body), bytes);
    });

    withStore("put accepts a stream of unknown length and counts its bytes", async ({ store }) => {
      const { body, digest } = generatedStream(300_000, 7_000);
      assert.equal(await store.put("r/t1/x.jpg", body, "image/jpeg"), 300_000);
      const obj = await store.get("r/t1/x.jpg");
      assert.ok(obj);
      assert.equal(obj.contentType, "image/jpeg");
      assert.deepEqual(await hashStream(obj.body), { hex: digest(), bytes: 300_000 });
    });

    withStore("an empty object round-trips", async ({ store }) => {
      assert.equal(await store.put("e/empty.bin", Readable.from([]), "application/octet-stream"), 0);
      const obj = await store.get("e/empty.bin");
      assert.ok(obj);
      assert.equal(obj.size, 0);
      assert.equal((await readAll(obj.body)).length, 0);
    });

    withStore("put replaces the object and its content type", async ({ store }) => {
      await store.put("k/a.png", Buffer.from("first version, longer"), "image/png");
      await store.put("k/a.png", Buffer.from("second"), "image/webp");
      const obj = await store.get("k/a.png");
      assert.ok(obj);
      assert.equal(obj.contentType, "image/webp");
      assert.equal((await readAll(obj.body)).toString(), "second");
    });

    withStore("exists and delete; delete is idempotent", async ({ store }) => {
      assert.equal(await store.exists("d/a.png"), false);
      await store.put("d/a.png", Buffer.from("x"), "image/png");
      assert.equal(await store.exists("d/a.png"), true);
      await store.delete("d/a.png");
      assert.equal(await store.exists("d/a.png"), false);
      assert.equal(await store.get("d/a.png"), null);
      await store.delete("d/a.png");
      await store.delete("never/was/here.png");
      // a key's parent folder is not itself an object
      await store.put("d/sub/b.png", Buffer.from("y"), "image/png");
      assert.equal(await store.exists("d/sub"), false);
      assert.equal(await store.get("d/sub"), null);
    });

    withStore("read returns the bytes, null when absent, and refuses bigger objects", async ({ store }) => {
      const bytes = Buffer.alloc(1000, 7);
      await store.put("c/a.bin", bytes, "application/octet-stream");
      assert.deepEqual(await store.read("c/a.bin", 1000), bytes);
      await assert.rejects(store.read("c/a.bin", 999), (err: unknown) => err instanceof FileTooLargeError);
      assert.equal(await store.read("c/none.bin", 1000), null);
    });

    withStore("streams 30 MiB through put and get intact", async ({ store }) => {
      const total = 30 * MiB + 123;
      const { body, digest } = generatedStream(total);
      assert.equal(await store.put("big/30.bin", body, "application/octet-stream"), total);
      const obj = await store.get("big/30.bin");
      assert.ok(obj);
      assert.equal(obj.size, total);
      assert.deepEqual(await hashStream(obj.body), { hex: digest(), bytes: total });
    });

    withStore("a failing source leaves no object and keeps the previous one", async (h) => {
      const { store } = h;
      const before = await h.leftovers();
      // fails after 6 MiB: past one multipart part on S3, past many writes on disk
      await assert.rejects(store.put("f/new.bin", generatedStream(8 * MiB, 64 * 1024, { failAfter: 6 * MiB }).body, "image/png"));
      assert.equal(await store.exists("f/new.bin"), false);
      assert.deepEqual(await h.leftovers(), before);

      await store.put("f/old.bin", Buffer.from("keep me"), "image/png");
      await assert.rejects(
        store.put("f/old.bin", generatedStream(8 * MiB, 64 * 1024, { failAfter: 6 * MiB }).body, "image/jpeg"),
      );
      const kept = await store.get("f/old.bin");
      assert.ok(kept);
      assert.equal(kept.contentType, "image/png");
      assert.equal((await readAll(kept.body)).toString(), "keep me");
    });

    withStore("unsafe keys are refused by every method", async ({ store }) => {
      const bad = [
        "",
        "/abs/a.png",
        "a/../b.png",
        "../a.png",
        "a/./b.png",
        "a//b.png",
        "a/",
        "a\\b.png",
        "a\u0000b",
        "a\nb",
        "..",
        "x".repeat(256),
      ];
      for (const key of bad) {
        const isUnsafe = (err: unknown) => err instanceof UnsafeKeyError;
        await assert.rejects(store.put(key, Buffer.from("x"), "image/png"), isUnsafe, `put ${JSON.stringify(key)}`);
        await assert.rejects(store.get(key), isUnsafe);
        await assert.rejects(store.read(key, 10), isUnsafe);
        await assert.rejects(store.delete(key), isUnsafe);
        await assert.rejects(store.exists(key), isUnsafe);
        await assert.rejects(store.presignDownload(key, 60, "a.png"), isUnsafe);
      }
    });

    withStore("concurrent puts: distinct keys all land, one key ends whole", async ({ store, atomicSameKeyPuts }) => {
      const payload = (i: number) => Buffer.alloc(200_000 + i, i);
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.put(`p/${i}.bin`, payload(i), "image/png")));
      for (let i = 0; i < 8; i++) assert.deepEqual(await store.read(`p/${i}.bin`, 1e6), payload(i));
      if (atomicSameKeyPuts === false) return;

      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.put("p/same.bin", Readable.from([payload(i).subarray(0, 1000), payload(i).subarray(1000)]), "image/png"),
        ),
      );
      const got = await store.read("p/same.bin", 1e6);
      assert.ok(got);
      const i = got.length - 200_000;
      assert.ok(i >= 0 && i < 8, "length matches one writer");
      assert.deepEqual(got, payload(i), "bytes all from that one writer");
    });
  });
}
