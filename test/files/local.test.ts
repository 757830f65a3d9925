import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { LocalFileStore } from "../../src/files/local.js";
import { runFileStoreContract } from "./contract.js";

/** Every file under dir (relative paths), temp files included. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)))
    .sort();
}

async function tempRoot(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), "peel-local-store-"));
}

runFileStoreContract("local", async () => {
  const root = await tempRoot();
  return {
    store: new LocalFileStore(root),
    leftovers: () => listFiles(root),
    close: () => rm(root, { recursive: true, force: true }),
  };
});

test("local: one file per key, header line then bytes; no temp files left", async (t) => {
  const root = await tempRoot();
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = new LocalFileStore(root);
  await store.put("u/acc_1/uploads/a.png", Buffer.from("PNGDATA"), "image/png");
  await store.put("u/acc_1/uploads/a.png", Buffer.from("PNGDATA2"), "image/png");
  assert.deepEqual(await listFiles(root), [path.join("u", "acc_1", "uploads", "a.png")]);
  const raw = await readFile(path.join(root, "u/acc_1/uploads/a.png"), "latin1");
  assert.equal(raw, "peel-object 1 image/png\nPNGDATA2");
});

test("local: delete prunes emptied folders but never the root", async (t) => {
  const root = await tempRoot();
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = new LocalFileStore(root);
  await store.put("r/task1/a.png", Buffer.from("a"), "image/png");
  await store.put("r/task2/b.png", Buffer.from("b"), "image/png");
  await store.delete("r/task1/a.png");
  assert.deepEqual(await readdir(path.join(root, "r")), ["task2"]);
  await store.delete("r/task2/b.png");
  assert.deepEqual(await readdir(root), []);
  assert.ok((await stat(root)).isDirectory());
  // a put after pruning recreates its folders
  await store.put("r/task1/c.png", Buffer.from("c"), "image/png");
  assert.equal(await store.exists("r/task1/c.png"), true);
});

test("local: concurrent put and delete in the same folder do not fail the put", async (t) => {
  const root = await tempRoot();
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = new LocalFileStore(root);
  for (let round = 0; round < 30; round++) {
    await store.put("r/t/x.png", Buffer.from("x"), "image/png");
    await Promise.all([store.delete("r/t/x.png"), store.put("r/t/y.png", Buffer.from("y"), "image/png")]);
    assert.equal(await store.exists("r/t/y.png"), true);
    await store.delete("r/t/y.png");
  }
});

test("local: presignDownload is null (peel signs its own links)", async (t) => {
  const root = await tempRoot();
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = new LocalFileStore(root);
  await store.put("a/b.png", Buffer.from("b"), "image/png");
  assert.equal(await store.presignDownload("a/b.png", 1200, "b.png"), null);
});

test("local: a file without the header is reported, not served as garbage", async (t) => {
  const root = await tempRoot();
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(path.join(root, "x"), { recursive: true });
  await writeFile(path.join(root, "x/raw.png"), "not a peel object");
  await assert.rejects(new LocalFileStore(root).get("x/raw.png"), /bad header/);
});
