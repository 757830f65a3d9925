import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { ProviderError } from "../../src/errors.js";
import { AddressPolicy } from "../../src/net/address-guard.js";
import { closeGuardedClients } from "../../src/net/guarded-fetch.js";
import { loadInputImages, type InputLoaderOptions } from "../../src/inputs/load-inputs.js";
import { startServer } from "../net/servers.js";

// Inputs that grow past 7 MB are spilled to a private temp file and re-encoded from disk; smaller
// ones stay in memory and are sent as they are. Either way no temp file outlives the load.

const MiB = 1 << 20;
const side = 1700; // ~8.7 MB as a noise PNG
const bigPng = await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } })
  .png({ compressionLevel: 1 })
  .toBuffer();
const smallPng = await sharp(randomBytes(200 * 200 * 3), { raw: { width: 200, height: 200, channels: 3 } })
  .png()
  .toBuffer();
const notImage = Buffer.alloc(8 * MiB, "x");

const bodies: Record<string, Buffer> = { "/big.png": bigPng, "/small.png": smallPng, "/text": notImage };
const server = await startServer((req, res) => {
  const [p, query] = req.url!.split("?");
  const body = bodies[p];
  if (!body) return void res.writeHead(404).end();
  if (query === "chunked") {
    // no Content-Length: the loader cannot know the size up front
    res.writeHead(200, { "content-type": "image/png" });
    for (let at = 0; at < body.length; at += 1 * MiB) res.write(body.subarray(at, at + MiB));
    return void res.end();
  }
  res.writeHead(200, { "content-type": "image/png", "content-length": String(body.length) }).end(body);
});
const tmpDir = mkdtempSync(path.join(os.tmpdir(), "peel-spill-test-"));
after(async () => {
  await server.close();
  await closeGuardedClients();
  rmSync(tmpDir, { recursive: true, force: true });
});

const opts = (over: Partial<InputLoaderOptions> = {}): InputLoaderOptions => ({
  policy: new AddressPolicy(["127.0.0.1"]),
  maxBytes: 30 * MiB,
  timeoutMs: 10_000,
  connectTimeoutMs: 2000,
  publicUrl: "https://peel.example.com",
  tmpDir,
  ...over,
});
const signal = () => new AbortController().signal;
const leftovers = () => readdirSync(tmpDir);

test("a large input, with or without Content-Length, is prepared from disk and the file removed", async () => {
  assert.ok(bigPng.length > 7_000_000, `fixture is only ${bigPng.length} bytes`);
  for (const suffix of ["", "?chunked"]) {
    const [img] = await loadInputImages([`${server.origin}/big.png${suffix}`], opts(), signal());
    assert.equal(img.mimeType, "image/jpeg");
    assert.ok(img.bytes.length <= 7_000_000);
    const meta = await sharp(img.bytes).metadata();
    assert.deepEqual([meta.width, meta.height], [side, side]);
    assert.deepEqual(leftovers(), []);
  }
});

test("a small input without Content-Length stays in memory and is sent unchanged", async () => {
  const [img] = await loadInputImages([`${server.origin}/small.png?chunked`], opts(), signal());
  assert.equal(img.mimeType, "image/png");
  assert.ok(img.bytes.equals(smallPng));
  assert.deepEqual(leftovers(), []);
});

test("a spilled input that is not an image, or too large, fails 422 and leaves no file", async () => {
  for (const [url, o] of [
    [`${server.origin}/text?chunked`, opts()],
    [`${server.origin}/big.png?chunked`, opts({ maxBytes: 8 * MiB })],
  ] as const) {
    const err = await loadInputImages([url], o, signal()).then(
      () => assert.fail("loaded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProviderError);
    assert.equal(err.failMsg, `Invalid image_input: ${url}`);
    assert.deepEqual(leftovers(), []);
  }
});
