import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { S3FileStore } from "../../src/files/s3.js";
import { startFakeS3, type FakeS3 } from "../fakes/s3-server.js";
import { runFileStoreContract } from "./contract.js";

let s3: FakeS3;
let n = 0;
const stores: S3FileStore[] = [];

before(async () => {
  s3 = await startFakeS3();
});
after(async () => {
  for (const s of stores) s.destroy();
  await s3.close();
});

function newStore(prefix: string): S3FileStore {
  const store = new S3FileStore(s3.storeOptions(prefix));
  stores.push(store);
  return store;
}

/**
 * Objects s3rver holds under one prefix. Parts of unfinished multipart uploads are not listed:
 * they are not objects, and s3rver does not implement AbortMultipartUpload (real S3 does).
 */
async function objectsUnder(prefix: string): Promise<string[]> {
  const dir = path.join(s3.directory, s3.bucket, prefix);
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => e.endsWith("._S3rver_object")).sort();
}

// Each contract case gets its own prefix in the shared bucket, which also exercises `prefix`.
runFileStoreContract("s3 (s3rver)", async () => {
  const prefix = `case-${++n}`;
  // s3rver writes each PUT straight into the object file, so racing PUTs to one key interleave.
  return {
    store: newStore(prefix),
    leftovers: () => objectsUnder(prefix),
    close: async () => undefined,
    atomicSameKeyPuts: false,
  };
});

test("s3: keys live under the configured prefix", async () => {
  const store = newStore("/tenant/peel/");
  await store.put("r/t1/a.png", Buffer.from("png"), "image/png");
  assert.deepEqual(await objectsUnder("tenant/peel"), [path.join("r", "t1", "a.png._S3rver_object")]);
});

test("s3: a presigned link downloads with a plain GET, as an attachment, for 1200 s", async () => {
  const store = newStore("presign");
  await store.put("u/acc_1/uploads/sketch.png", Buffer.from("the bytes"), "image/png");
  const link = await store.presignDownload("u/acc_1/uploads/sketch.png", 1200, "sketch.png");
  assert.ok(link);
  const u = new URL(link);
  assert.equal(u.searchParams.get("X-Amz-Expires"), "1200");
  assert.equal(u.searchParams.get("response-content-disposition"), 'attachment; filename="sketch.png"');
  const res = await fetch(link);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-disposition"), 'attachment; filename="sketch.png"');
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.equal(await res.text(), "the bytes");
});

test("s3: an expired presigned link is refused", async () => {
  const store = newStore("presign-exp");
  await store.put("a.png", Buffer.from("x"), "image/png");
  const link = await store.presignDownload("a.png", 1, "a.png");
  assert.ok(link);
  await new Promise((r) => setTimeout(r, 2100));
  const res = await fetch(link);
  assert.equal(res.status, 403);
  await res.arrayBuffer();
});

test("s3: a non-ASCII download name gets an RFC 6266 filename*", async () => {
  const store = newStore("presign-utf8");
  await store.put("a.png", Buffer.from("x"), "image/png");
  const link = await store.presignDownload("a.png", 60, "café.png");
  assert.ok(link);
  assert.equal(
    new URL(link).searchParams.get("response-content-disposition"),
    `attachment; filename="caf_.png"; filename*=UTF-8''caf%C3%A9.png`,
  );
});
