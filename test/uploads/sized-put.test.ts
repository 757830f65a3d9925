import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import type { FileStore } from "../../src/files/file-store.js";
import { LocalFileStore } from "../../src/files/local.js";
import { S3FileStore } from "../../src/files/s3.js";
import { SizeMismatchError } from "../../src/files/store-common.js";
import { startFakeS3, type FakeS3 } from "../fakes/s3-server.js";

/**
 * `put(key, stream, type, { size })`, the path stream uploads take once staged on disk (S3: one
 * streamed PutObject instead of buffered multipart parts). A body that does not match its declared
 * size, or a source that fails, must fail the put promptly and leave any earlier object in place.
 */

function chunks(parts: Buffer[], failAfter?: Error): Readable {
  return Readable.from(
    (async function* () {
      for (const p of parts) {
        yield p;
        await new Promise((r) => setImmediate(r));
      }
      if (failAfter) throw failAfter;
    })(),
    { objectMode: false },
  );
}

async function readAll(store: FileStore, key: string): Promise<Buffer | null> {
  return store.read(key, 64 * 1024 * 1024);
}

/**
 * `abortedPutKeepsOld`: s3rver writes a PUT's body straight into the object file, so an aborted
 * PUT leaves what arrived (and a GET racing it stalls); S3, MinIO and R2 store a PutObject only
 * once its whole Content-Length has arrived. There only the rejection itself is checked.
 */
function sizedPutCases(name: string, make: () => FileStore, abortedPutKeepsOld: boolean): void {
  describe(`sized put (${name})`, () => {
    let store: FileStore;
    before(() => {
      store = make();
    });

    test("a stream of exactly the declared size is stored whole", async () => {
      const a = Buffer.alloc(700_000, 1);
      const b = Buffer.alloc(300_001, 2);
      assert.equal(
        await store.put("u/acc/sized/ok.png", chunks([a, b]), "image/png", { size: a.length + b.length }),
        a.length + b.length,
      );
      assert.deepEqual(await readAll(store, "u/acc/sized/ok.png"), Buffer.concat([a, b]));
      const obj = await store.get("u/acc/sized/ok.png");
      assert.equal(obj?.contentType, "image/png");
      obj?.body.destroy();
    });

    for (const [what, parts, size] of [
      ["shorter than declared", [Buffer.alloc(1000, 3)], 2000],
      ["longer than declared", [Buffer.alloc(1000, 3), Buffer.alloc(1000, 4)], 1500],
    ] as const) {
      test(`a stream ${what} fails with SizeMismatchError and the earlier object survives`, async () => {
        const key = `u/acc/sized/${what.split(" ")[0]}.png`;
        await store.put(key, Buffer.from("earlier"), "image/png");
        await assert.rejects(store.put(key, chunks([...parts]), "image/jpeg", { size }), SizeMismatchError);
        if (abortedPutKeepsOld) assert.deepEqual(await readAll(store, key), Buffer.from("earlier"));
      });
    }

    test("a source that fails mid-way fails the put promptly with its own error", async () => {
      const boom = new Error("source broke");
      const t = Date.now();
      await assert.rejects(
        store.put("u/acc/sized/broken.png", chunks([Buffer.alloc(5000, 5)], boom), "image/png", { size: 10_000 }),
        /source broke/,
      );
      assert.ok(Date.now() - t < 5_000);
      if (abortedPutKeepsOld) assert.equal(await store.exists("u/acc/sized/broken.png"), false);
    });
  });
}

let dir: string;
let s3: FakeS3;
const clients: S3FileStore[] = [];
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "peel-sized-"));
  s3 = await startFakeS3();
});
after(async () => {
  for (const c of clients) c.destroy();
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

sizedPutCases("local", () => new LocalFileStore(dir), true);
sizedPutCases(
  "s3 (s3rver)",
  () => {
    const c = new S3FileStore(s3.storeOptions("sized"));
    clients.push(c);
    return c;
  },
  false,
);
