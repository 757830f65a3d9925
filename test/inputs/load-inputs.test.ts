import { test, after } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { ProviderError, failureOf } from "../../src/errors.js";
import { AddressPolicy } from "../../src/net/address-guard.js";
import { closeGuardedClients } from "../../src/net/guarded-fetch.js";
import { loadInputImages, ownFileUrl } from "../../src/inputs/load-inputs.js";
import type { InputLoaderOptions } from "../../src/inputs/load-inputs.js";
import { startServer } from "../net/servers.js";

const MiB = 1 << 20;
const draw = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 40, b: 90 } } });
const png = await draw(40, 30).png().toBuffer();
const jpeg = await draw(41, 30).jpeg().toBuffer();
const webp = await draw(42, 30).webp().toBuffer();

// Served with deliberately wrong Content-Types: the loader must judge by bytes only.
const files: Record<string, { body: Buffer; type: string }> = {
  "/a.png": { body: png, type: "text/plain" },
  "/b.jpg": { body: jpeg, type: "image/png" },
  "/c.webp": { body: webp, type: "application/octet-stream" },
  "/notes.txt": { body: Buffer.from("just some text, not an image"), type: "image/png" },
  "/big.png": { body: Buffer.concat([png, Buffer.alloc(2 * MiB)]), type: "image/png" },
};
const server = await startServer((req, res) => {
  const path = req.url!.split("?")[0];
  if (path === "/moved") return void res.writeHead(302, { location: "/a.png" }).end();
  const f = files[path];
  if (!f) return void res.writeHead(404, { "content-type": "image/png" }).end("not found");
  res.writeHead(200, { "content-type": f.type }).end(f.body);
});
after(async () => {
  await server.close();
  await closeGuardedClients();
});

const opts = (over: Partial<InputLoaderOptions> = {}): InputLoaderOptions => ({
  policy: new AddressPolicy(["127.0.0.1"]),
  maxBytes: MiB,
  timeoutMs: 5000,
  connectTimeoutMs: 2000,
  publicUrl: "https://peel.example.com",
  ...over,
});
const signal = () => new AbortController().signal;

async function invalid(urls: string[], bad: string, o = opts(), detail?: RegExp): Promise<ProviderError> {
  const err = await loadInputImages(urls, o, signal()).then(
    () => assert.fail("loaded"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProviderError, String(err));
  assert.equal(err.reason, "invalid_input");
  assert.equal(err.retryable, false);
  assert.equal(err.failMsg, `Invalid image_input: ${bad}`);
  assert.deepEqual(failureOf(err), { failCode: "422", failMsg: `Invalid image_input: ${bad}` });
  if (detail) assert.match(err.message, detail);
  return err;
}

test("PNG, JPEG and WebP load with the MIME type their bytes say, whatever the label", async () => {
  const urls = ["/a.png", "/b.jpg", "/c.webp", "/moved"].map((p) => server.origin + p);
  const images = await loadInputImages(urls, opts(), signal());
  assert.deepEqual(
    images.map((i) => i.mimeType),
    ["image/png", "image/jpeg", "image/webp", "image/png"],
  );
  assert.deepEqual(
    images.map((i) => i.url),
    urls,
  );
  assert.ok(images[0].bytes.equals(png));
  assert.ok(images[1].bytes.equals(jpeg));
  assert.ok(images[2].bytes.equals(webp));
});

test("a text file is an invalid input named in failMsg", async () => {
  const url = `${server.origin}/notes.txt`;
  await invalid([`${server.origin}/a.png`, url], url, opts(), /not a JPEG, PNG or WebP/);
});

test("a 404 is an invalid input", async () => {
  const url = `${server.origin}/missing.png`;
  await invalid([url], url, opts(), /HTTP 404/);
});

test("a file over maxBytes is an invalid input", async () => {
  const url = `${server.origin}/big.png`;
  await invalid([url], url, opts(), /too_large/);
});

test("a refused destination is an invalid input; the log detail names the outbound kind", async () => {
  const before = server.hits.length;
  const url = `${server.origin}/a.png`;
  await invalid([url], url, opts({ policy: new AddressPolicy([]) }), /blocked/);
  await invalid(["http://169.254.169.254/latest/meta-data/"], "http://169.254.169.254/latest/meta-data/", opts(), /blocked/);
  assert.equal(server.hits.length, before);
});

test("a stalled server is an invalid input after the timeout", async (t) => {
  const stall = await startServer(() => {});
  t.after(() => stall.close());
  const url = `${stall.origin}/slow.png`;
  await invalid([url], url, opts({ timeoutMs: 200 }), /timeout/);
});

test("peel's own file URLs are read from storage, never over HTTP", async () => {
  const before = server.hits.length;
  const publicUrl = server.origin; // even though it is reachable and allow-listed
  const seen: string[] = [];
  const readOwnFile = async (u: URL, max: number) => {
    seen.push(u.pathname);
    assert.equal(max, MiB);
    return u.pathname === "/files/u/x.webp" ? webp : null;
  };
  const images = await loadInputImages([`${publicUrl}/files/u/x.webp`], opts({ publicUrl, readOwnFile }), signal());
  assert.equal(images[0].mimeType, "image/webp");
  // gone from storage → invalid, and still no HTTP fallback
  const gone = `${publicUrl}/files/u/expired.png`;
  await invalid([gone], gone, opts({ publicUrl, readOwnFile }), /not found/);
  assert.deepEqual(seen, ["/files/u/x.webp", "/files/u/expired.png"]);
  assert.equal(server.hits.length, before);
});

test("own-file detection: same origin and the publicUrl's path + /files/", () => {
  assert.ok(ownFileUrl("https://p.example/files/a.png", "https://p.example"));
  assert.ok(ownFileUrl("https://p.example/base/files/a.png", "https://p.example/base"));
  assert.equal(ownFileUrl("https://p.example/files/a.png", "https://p.example/base"), null);
  assert.equal(ownFileUrl("https://p.example:8443/files/a.png", "https://p.example"), null);
  assert.equal(ownFileUrl("http://p.example/files/a.png", "https://p.example"), null);
  assert.equal(ownFileUrl("https://p.example/filesx/a.png", "https://p.example"), null);
  assert.equal(ownFileUrl("https://evil.example/files/a.png", "https://p.example"), null);
});

test("eight inputs are fetched one at a time, in order", async (t) => {
  let inFlight = 0;
  let peak = 0;
  const order: string[] = [];
  const imgs = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      draw(10 + i, 10)
        .png()
        .toBuffer(),
    ),
  );
  const s = await startServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    order.push(req.url!);
    const i = Number(req.url!.slice(1, -4));
    // later URLs answer faster, so any parallelism would show up as reordering
    setTimeout(
      () => {
        inFlight--;
        res.end(imgs[i]);
      },
      40 - i * 5,
    );
  });
  t.after(() => s.close());
  const urls = imgs.map((_, i) => `${s.origin}/${i}.png`);
  const images = await loadInputImages(urls, opts(), signal());
  assert.deepEqual(
    order,
    urls.map((u) => new URL(u).pathname),
  );
  assert.equal(peak, 1);
  assert.deepEqual(
    images.map((i) => i.url),
    urls,
  );
  const widths = await Promise.all(images.map(async (i) => (await sharp(i.bytes).metadata()).width));
  assert.deepEqual(widths, [10, 11, 12, 13, 14, 15, 16, 17]);
});

test("an abort is rethrown as the abort, not as an invalid input", async (t) => {
  const stall = await startServer(() => {});
  t.after(() => stall.close());
  const ac = new AbortController();
  const reason = new Error("task canceled");
  setTimeout(() => ac.abort(reason), 50);
  const err = await loadInputImages([`${stall.origin}/x.png`], opts(), ac.signal).then(
    () => null,
    (e: unknown) => e,
  );
  assert.equal(err, reason);
  // already aborted: nothing is fetched
  const before = server.hits.length;
  const err2 = await loadInputImages([`${server.origin}/a.png`], opts(), ac.signal).then(
    () => null,
    (e: unknown) => e,
  );
  assert.equal(err2, reason);
  assert.equal(server.hits.length, before);
});

test("a large input is downscaled to a JPEG under 7,000,000 bytes", async () => {
  // random noise does not compress: ~9 MB as PNG, forcing prepareReference to re-encode
  const side = 1800;
  const { randomBytes } = await import("node:crypto");
  const noisy = await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
  assert.ok(noisy.length > 7_000_000);
  const s = await startServer((_req, res) => res.end(noisy));
  try {
    const [img] = await loadInputImages([`${s.origin}/noise.png`], opts({ maxBytes: 30 * MiB }), signal());
    assert.equal(img.mimeType, "image/jpeg");
    assert.ok(img.bytes.length <= 7_000_000, `${img.bytes.length} bytes`);
  } finally {
    await s.close();
  }
});
