import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ManualClock } from "../../src/clock.js";
import type { S3FileStore } from "../../src/files/s3.js";
import { startFakeS3, S3RVER_CREDENTIALS, type FakeS3 } from "../fakes/s3-server.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { startServer, type TestServer } from "../net/servers.js";
import {
  DAY,
  MiB,
  RecordingEngine,
  assertUploadError,
  assertUploadOk,
  filesUnder,
  getBytes,
  makeFixtures,
  pngLike,
  postForm,
  postJson,
  sha,
  type Fixtures,
  type Reply,
} from "./client.js";

/**
 * Issue 6 end to end, through the real HTTP API as a kie client sees it (docs/kie-contract.md §9–§12):
 * the three upload endpoints and their exact envelope and errors, the returned URLs as
 * image_input (read from storage, never over HTTP), tenancy, download-url, replacement, large and
 * concurrent uploads, and retention with a sweep on a ManualClock. One suite, run by
 * local.test.ts and s3.test.ts against each file store backend.
 */

const B64 = "/api/file-base64-upload";
const URL_UP = "/api/file-url-upload";
const LIMIT = 30 * MiB;

/** A running peel plus what the suite watches in it. */
interface Rig {
  peel: TestPeel;
  clock: ManualClock;
  engine: RecordingEngine;
  /** urlPaths requested through GET/HEAD /files/* (FileService.open). */
  opened: string[];
  /** URLs the worker read straight from storage (FileService.readOwnFile). */
  ownReads: string[];
  /** every object the backend holds for this peel (storage keys). */
  storedKeys(): Promise<string[]>;
  upload(body: unknown, key?: string | null): Promise<Reply>;
  urlUpload(body: unknown, key?: string | null): Promise<Reply>;
  form(parts: Parameters<typeof postForm>[2], key?: string | null): Promise<Reply>;
  /** createTask with image_input, waits for a terminal state, returns recordInfo's data. */
  runTask(imageInput: string[], key?: string): Promise<any>;
}

export function runUploadSuite(backend: "local" | "s3"): void {
  describe(`upload API over HTTP (${backend} file store)`, () => {
    let s3: FakeS3 | null = null;
    let fx: Fixtures;
    let remote: TestServer;
    let main: Rig;
    /** uploads limited to 16 KiB, 1-hour upload retention, and an empty outbound allow-list. */
    let strict: Rig;
    const rigs: Rig[] = [];
    let n = 0;

    async function boot(env: Record<string, string> = {}): Promise<Rig> {
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      const engine = new RecordingEngine();
      const prefix = `peel-${++n}`;
      const storeEnv: Record<string, string> = s3
        ? {
            PEEL_FILE_STORE: "s3",
            PEEL_S3_BUCKET: s3.bucket,
            PEEL_S3_ENDPOINT: s3.endpoint,
            PEEL_S3_REGION: "us-east-1",
            PEEL_S3_FORCE_PATH_STYLE: "true",
            PEEL_S3_PREFIX: prefix,
          }
        : {};
      // The clock stands still, so the rolling rate-limit windows would never empty: limits off.
      const peel = await startPeel({ clock, engine, env: { PEEL_CREATE_LIMIT: "0", PEEL_READ_LIMIT: "0", ...storeEnv, ...env } });
      const opened: string[] = [];
      const ownReads: string[] = [];
      const files = peel.runtime.files;
      const open = files.open.bind(files);
      files.open = (urlPath, q) => {
        opened.push(urlPath);
        return open(urlPath, q);
      };
      const readOwn = files.readOwnFile.bind(files);
      files.readOwnFile = (url, max, accountId) => {
        ownReads.push(url.href);
        return readOwn(url, max, accountId);
      };
      const storedKeys = async () => {
        if (!s3) return (await filesUnder(path.join(peel.dataDir, "files"))).filter((k) => !k.includes(".peel-tmp-"));
        const suffix = "._S3rver_object";
        return (await filesUnder(path.join(s3.directory, s3.bucket, prefix)))
          .filter((k) => k.endsWith(suffix))
          .map((k) => k.slice(0, -suffix.length));
      };
      const rig: Rig = {
        peel,
        clock,
        engine,
        opened,
        ownReads,
        storedKeys,
        upload: (body, key = peel.key) => postJson(peel.url, B64, key, body),
        urlUpload: (body, key = peel.key) => postJson(peel.url, URL_UP, key, body),
        form: (parts, key = peel.key) => postForm(peel.url, key, parts),
        async runTask(imageInput, key = peel.key) {
          const created = await peel.api(
            "POST",
            "/api/v1/jobs/createTask",
            {
              model: "nano-banana-pro",
              input: { prompt: "a lighthouse at dusk", image_input: imageInput, output_format: "png" },
            },
            { key },
          );
          assert.equal(created.json?.code, 200, created.text);
          return peel.waitForTask(created.json.data.taskId, { key });
        },
      };
      rigs.push(rig);
      return rig;
    }

    const b64 = (b: Buffer) => b.toString("base64");
    const okUpload = (rig: Rig, res: Reply, filePath: string, bytes: Buffer, mimeType: string, token = rig.peel.account.token) =>
      assertUploadOk(res, { origin: rig.peel.url, token, filePath, bytes, mimeType, at: rig.clock.now(), retentionMs: 3 * DAY });

    before(async () => {
      if (backend === "s3") {
        s3 = await startFakeS3();
        // createFileStore takes credentials from the standard AWS chain; env is its first link.
        process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
        process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
      }
      fx = await makeFixtures();
      const big = pngLike(LIMIT + 1);
      remote = await startServer((req, res) => {
        const send = (type: string, body: Buffer) =>
          res.writeHead(200, { "content-type": type, "content-length": String(body.length) }).end(body);
        const hop = /^\/hop\/(\d+)$/.exec(req.url ?? "");
        // servers mislabel files: the type must come from the bytes
        if (req.url === "/photo.jpg") return send("text/plain", fx.jpeg);
        if (req.url === "/pic.webp") return send("image/png", fx.webp);
        if (req.url === "/notes.txt") return send("image/png", fx.text);
        if (req.url === "/anim.gif") return send("image/gif", fx.gif);
        if (req.url === "/big.png") return send("image/png", big);
        if (req.url === "/stall.png") {
          // headers and the first bytes, then nothing: only the overall deadline ends this
          res.writeHead(200, { "content-type": "image/png", "content-length": "100000" });
          return void res.write(fx.png.subarray(0, 64));
        }
        if (hop) {
          const left = Number(hop[1]);
          return res.writeHead(302, { location: left > 0 ? `/hop/${left - 1}` : "/photo.jpg" }).end();
        }
        res.writeHead(404).end("nope");
      });
      main = await boot();
      strict = await boot({ PEEL_UPLOAD_MAX_BYTES: "16384", PEEL_UPLOAD_RETENTION_HOURS: "1", PEEL_OUTBOUND_ALLOW: "" });
    });

    after(async () => {
      for (const rig of rigs) {
        await rig.peel.close();
        if (rig.peel.runtime.fileStore.kind === "s3") (rig.peel.runtime.fileStore as S3FileStore).destroy();
      }
      await remote?.close();
      await s3?.close();
    });

    describe("the three endpoints answer the §10.2 envelope, type judged from the bytes", () => {
      test("base64, bare: uploadPath slashes stripped, fileName kept, served with its type and size", async () => {
        const res = await main.upload({ base64Data: b64(fx.png), uploadPath: "/images/user-uploads/", fileName: "sketch.png" });
        const up = okUpload(main, res, "images/user-uploads/sketch.png", fx.png, "image/png");
        const got = await getBytes(up.downloadUrl);
        assert.equal(got.status, 200);
        assert.equal(got.headers.get("content-type"), "image/png");
        assert.equal(got.headers.get("content-length"), String(fx.png.length));
        assert.equal(sha(got.bytes), sha(fx.png));
      });

      test("base64, a data URL that lies about the type: no path, no name → uploads/<16 hex>.jpg, image/jpeg", async () => {
        const res = await main.upload({ base64Data: `data:image/gif;base64,${b64(fx.jpeg)}` });
        const filePath: string = res.json?.data?.filePath;
        assert.match(filePath, /^uploads\/[0-9a-f]{16}\.jpg$/, res.text);
        okUpload(main, res, filePath, fx.jpeg, "image/jpeg");
      });

      test("base64: an empty uploadPath means uploads/, and a name without extension gets the detected one", async () => {
        const res = await main.upload({ base64Data: b64(fx.webp), uploadPath: "", fileName: "noext" });
        okUpload(main, res, "uploads/noext.webp", fx.webp, "image/webp");
      });

      test("multipart, text fields before the file; the client's part type and file name are ignored", async () => {
        const res = await main.form([
          ["uploadPath", "stream/before"],
          ["fileName", "cat"],
          ["file", { bytes: fx.webp, filename: "cat.png", type: "image/png" }],
        ]);
        const up = okUpload(main, res, "stream/before/cat.webp", fx.webp, "image/webp");
        assert.equal((await getBytes(up.downloadUrl)).headers.get("content-type"), "image/webp");
      });

      test("multipart, text fields after the file; a name with the wrong extension keeps it, the type follows the bytes", async () => {
        const res = await main.form([
          ["file", { bytes: fx.png, filename: "x.gif", type: "image/gif" }],
          ["fileName", "after.jpg"],
          ["uploadPath", "stream/after"],
        ]);
        const up = okUpload(main, res, "stream/after/after.jpg", fx.png, "image/png");
        const got = await getBytes(up.downloadUrl);
        assert.equal(got.headers.get("content-type"), "image/png");
        assert.equal(sha(got.bytes), sha(fx.png));
      });

      test("multipart without fileName keeps the part's own name, sanitised; a taken name gets a suffix", async () => {
        const res = await main.form([["file", { bytes: fx.jpeg, filename: "image_1700000000_abc.jpeg", type: "image/jpeg" }]]);
        okUpload(main, res, "uploads/image_1700000000_abc.jpeg", fx.jpeg, "image/jpeg");
        assert.equal(res.json.data.fileName, "image_1700000000_abc.jpeg");
        // the same part name again: the first file keeps its URL, the second gets `-2`, then `-3`
        const again = await main.form([["file", { bytes: fx.png, filename: "image_1700000000_abc.jpeg" }]]);
        okUpload(main, again, "uploads/image_1700000000_abc-2.jpeg", fx.png, "image/png");
        const third = await main.form([["file", { bytes: fx.webp, filename: "image_1700000000_abc.jpeg" }]]);
        okUpload(main, third, "uploads/image_1700000000_abc-3.jpeg", fx.webp, "image/webp");
        assert.equal(sha((await getBytes(res.json.data.downloadUrl)).bytes), sha(fx.jpeg));
        // an explicit fileName still replaces the file at its URL (docs/kie-contract.md §10.1)
        const replaced = await main.form([
          ["fileName", "image_1700000000_abc.jpeg"],
          ["file", { bytes: fx.png, filename: "whatever.png" }],
        ]);
        okUpload(main, replaced, "uploads/image_1700000000_abc.jpeg", fx.png, "image/png");
        // unsafe characters and folders are cleaned; an extension-less name gets the detected one
        const messy = await main.form([
          ["uploadPath", "names"],
          ["file", { bytes: fx.png, filename: "C:\\fakepath\\My Photo (1).png" }],
        ]);
        okUpload(main, messy, "names/My_Photo_1.png", fx.png, "image/png");
        const bare = await main.form([
          ["uploadPath", "names"],
          ["file", { bytes: fx.webp, filename: "scan" }],
        ]);
        okUpload(main, bare, "names/scan.webp", fx.webp, "image/webp");
      });

      test("multipart whose part has no usable name → uploads/<16 hex>.<detected ext>", async () => {
        const res = await main.form([["file", { bytes: fx.jpeg, filename: "日本.jpeg", type: "image/jpeg" }]]);
        assert.match(res.json?.data?.filePath ?? "", /^uploads\/[0-9a-f]{16}\.jpg$/, res.text);
        okUpload(main, res, res.json.data.filePath, fx.jpeg, "image/jpeg");
      });

      test("multipart: extra parts are ignored; the first `file` part is the upload", async () => {
        const res = await main.form([
          ["image", { bytes: fx.jpeg, filename: "other.jpg" }],
          ["note", "hello"],
          ["file", { bytes: fx.png, filename: "a.png" }],
          ["file", { bytes: fx.webp, filename: "b.webp" }],
          ["fileName", "first.png"],
        ]);
        okUpload(main, res, "uploads/first.png", fx.png, "image/png");
      });

      test("URL upload from a server that mislabels its files; redirects are followed (up to 3)", async () => {
        const res = await main.urlUpload({ fileUrl: `${remote.origin}/photo.jpg`, uploadPath: "from-url", fileName: "remote" });
        okUpload(main, res, "from-url/remote.jpg", fx.jpeg, "image/jpeg");
        const hopped = await main.urlUpload({
          fileUrl: `${remote.origin}/hop/2`,
          uploadPath: "from-url",
          fileName: "hopped.jpg",
        });
        okUpload(main, hopped, "from-url/hopped.jpg", fx.jpeg, "image/jpeg");
        const webp = await main.urlUpload({ fileUrl: `${remote.origin}/pic.webp` });
        assert.match(webp.json?.data?.filePath ?? "", /^uploads\/[0-9a-f]{16}\.webp$/, webp.text);
        okUpload(main, webp, webp.json.data.filePath, fx.webp, "image/webp");
      });

      test("HEAD gives the file's Content-Length and type without auth", async () => {
        const res = await main.upload({ base64Data: b64(fx.jpeg), uploadPath: "head", fileName: "h.jpg" });
        const head = await fetch(res.json.data.downloadUrl, { method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get("content-length"), String(fx.jpeg.length));
        assert.equal(head.headers.get("content-type"), "image/jpeg");
      });

      test("retention and size limits are configurable: a 1-hour upload retention shows in expiresAt", async () => {
        const res = await strict.upload({ base64Data: b64(fx.png), fileName: "short.png" });
        assertUploadOk(res, {
          origin: strict.peel.url,
          token: strict.peel.account.token,
          filePath: "uploads/short.png",
          bytes: fx.png,
          mimeType: "image/png",
          at: strict.clock.now(),
          retentionMs: 3_600_000,
        });
        assert.equal(main.peel.config.files.uploadRetentionMs, 3 * DAY);
        assert.equal(main.peel.config.files.resultRetentionMs, 14 * DAY);
        assert.equal(main.peel.config.files.uploadMaxBytes, LIMIT);
      });
    });

    describe("returned URLs as image_input", () => {
      test("one upload from each endpoint → createTask → success; the engine got the exact bytes, read from storage", async () => {
        const a = (await main.upload({ base64Data: b64(fx.png), uploadPath: "task-in", fileName: "a.png" })).json.data
          .downloadUrl;
        const b = (
          await main.form([
            ["file", { bytes: fx.jpeg, filename: "b.jpg" }],
            ["uploadPath", "task-in"],
          ])
        ).json.data.downloadUrl;
        const c = (await main.urlUpload({ fileUrl: `${remote.origin}/pic.webp`, uploadPath: "task-in" })).json.data.downloadUrl;
        const openedBefore = main.opened.length;
        const readsBefore = main.ownReads.length;
        const rec = await main.runTask([a, b, c]);
        assert.equal(rec.state, "success", JSON.stringify(rec));
        const req = main.engine.seen.find((r) => r.taskId === rec.taskId);
        assert.ok(req, "the engine saw the task");
        assert.deepEqual(
          req.images.map((i) => [i.url, i.mimeType, sha(i.bytes)]),
          [
            [a, "image/png", sha(fx.png)],
            [b, "image/jpeg", sha(fx.jpeg)],
            [c, "image/webp", sha(fx.webp)],
          ],
        );
        assert.deepEqual(main.ownReads.slice(readsBefore), [a, b, c], "read through FileService.readOwnFile");
        assert.deepEqual(main.opened.slice(openedBefore), [], "no request reached GET /files/*");
        const result = JSON.parse(rec.resultJson).resultUrls[0] as string;
        const got = await getBytes(result);
        assert.equal(got.status, 200);
        assert.equal(got.headers.get("content-type"), "image/png");
      });

      test("even with loopback blocked for outbound requests, a task reads its own uploads", async () => {
        const up = await strict.upload({ base64Data: b64(fx.png), uploadPath: "in", fileName: "own.png" });
        assert.equal(up.json.success, true, up.text);
        const rec = await strict.runTask([up.json.data.downloadUrl]);
        assert.equal(rec.state, "success", JSON.stringify(rec));
      });
    });

    describe("§10.4 errors, exact bodies", () => {
      const MISSING = "Missing required parameter: ";
      test("required field missing", async () => {
        for (const body of [{}, { base64Data: "" }, { base64Data: null }, { uploadPath: "x" }]) {
          assertUploadError(await main.upload(body), 400, `${MISSING}base64Data`);
        }
        assertUploadError(
          await main.form([
            ["uploadPath", "x"],
            ["fileName", "y.png"],
          ]),
          400,
          `${MISSING}file`,
        );
        assertUploadError(await main.form([["image", { bytes: fx.png, filename: "a.png" }]]), 400, `${MISSING}file`);
        // not multipart at all
        assertUploadError(
          await postJson(main.peel.url, "/api/file-stream-upload", main.peel.key, { file: b64(fx.png) }),
          400,
          `${MISSING}file`,
        );
        for (const body of [{}, { fileUrl: "" }, { fileUrl: null }]) {
          assertUploadError(await main.urlUpload(body), 400, `${MISSING}fileUrl`);
        }
      });

      test("bad Base64", async () => {
        for (const base64Data of ["not base64!!", "data:image/png;base64,@@@@", "iVBORw0KGgo=x", 42]) {
          assertUploadError(await main.upload({ base64Data }), 400, "Base64 decoding failed: Invalid Base64 format");
        }
      });

      test("type not JPEG/PNG/WebP (a GIF, a text file), whatever the client claims", async () => {
        const UNSUPPORTED = "Unsupported file type";
        assertUploadError(await main.upload({ base64Data: b64(fx.gif) }), 400, UNSUPPORTED);
        assertUploadError(
          await main.upload({ base64Data: `data:image/png;base64,${b64(fx.text)}`, fileName: "t.png" }),
          400,
          UNSUPPORTED,
        );
        assertUploadError(await main.form([["file", { bytes: fx.gif, filename: "a.png", type: "image/png" }]]), 400, UNSUPPORTED);
        assertUploadError(
          await main.form([["file", { bytes: fx.text, filename: "a.jpg", type: "image/jpeg" }]]),
          400,
          UNSUPPORTED,
        );
        assertUploadError(await main.urlUpload({ fileUrl: `${remote.origin}/notes.txt` }), 400, UNSUPPORTED);
        assertUploadError(await main.urlUpload({ fileUrl: `${remote.origin}/anim.gif` }), 400, UNSUPPORTED);
      });

      test("over the configured limit (16 KiB here); exactly at the limit is fine", async () => {
        const TOO = "File size exceeds the limit";
        assertUploadError(await strict.upload({ base64Data: b64(pngLike(16385)) }), 400, TOO);
        assertUploadError(await strict.form([["file", { bytes: pngLike(16385), filename: "a.png" }]]), 400, TOO);
        assert.equal((await strict.upload({ base64Data: b64(pngLike(16384)), fileName: "edge.png" })).json.data?.fileSize, 16384);
        assert.equal(
          (
            await strict.form([
              ["file", { bytes: pngLike(16384), filename: "e.png" }],
              ["fileName", "edge2"],
            ])
          ).json.data?.fileSize,
          16384,
        );
      });

      test("over the real 30 MiB limit by one byte, on all three endpoints; nothing is stored", async () => {
        const before = await main.storedKeys();
        const TOO = "File size exceeds the limit";
        const big = pngLike(LIMIT + 1);
        assertUploadError(
          await main.form([
            ["uploadPath", "huge"],
            ["file", { bytes: big, filename: "big.png" }],
          ]),
          400,
          TOO,
        );
        assertUploadError(await main.upload({ base64Data: b64(big), uploadPath: "huge" }), 400, TOO);
        assertUploadError(await main.urlUpload({ fileUrl: `${remote.origin}/big.png`, uploadPath: "huge" }), 400, TOO);
        assert.deepEqual(await main.storedKeys(), before);
      });

      test("bad uploadPath", async () => {
        for (const uploadPath of ["../x", "a/../b", "./a", "a//b", "a b", "a\\b", "%2e%2e", 7]) {
          const bad = "Invalid uploadPath";
          assertUploadError(await main.upload({ base64Data: b64(fx.png), uploadPath }), 400, bad);
          assertUploadError(await main.urlUpload({ fileUrl: `${remote.origin}/photo.jpg`, uploadPath }), 400, bad);
          if (typeof uploadPath === "string") {
            assertUploadError(
              await main.form([
                ["file", { bytes: fx.png, filename: "a.png" }],
                ["uploadPath", uploadPath],
              ]),
              400,
              bad,
            );
          }
        }
      });

      test("bad fileName", async () => {
        for (const fileName of ["a/b", "..", ".", "../a.png", "a b.png", "x".repeat(256), 3]) {
          const bad = "Invalid fileName";
          assertUploadError(await main.upload({ base64Data: b64(fx.png), fileName }), 400, bad);
          assertUploadError(await main.urlUpload({ fileUrl: `${remote.origin}/photo.jpg`, fileName }), 400, bad);
          if (typeof fileName === "string") {
            assertUploadError(
              await main.form([
                ["fileName", fileName],
                ["file", { bytes: fx.png, filename: "a.png" }],
              ]),
              400,
              bad,
            );
          }
        }
      });

      test("remote fetch failed or blocked", async () => {
        const FAILED = "Failed to download file from URL";
        // loopback is not on strict's (empty) allow-list: the address guard refuses it
        assert.deepEqual(strict.peel.config.outbound.allow, []);
        const hitsBefore = remote.hits.length;
        assertUploadError(await strict.urlUpload({ fileUrl: `${remote.origin}/photo.jpg` }), 400, FAILED);
        assertUploadError(await strict.urlUpload({ fileUrl: `http://localhost:${remote.port}/photo.jpg` }), 400, FAILED);
        assert.equal(remote.hits.length, hitsBefore, "the blocked address was never contacted");
        for (const fileUrl of [
          `${remote.origin}/missing.png`, // 404
          `${remote.origin}/hop/3`, // a 4th redirect
          `ftp://127.0.0.1:${remote.port}/photo.jpg`,
          "not a url",
          "http://127.0.0.1:9/a.png", // nothing listens there
        ]) {
          assertUploadError(await main.urlUpload({ fileUrl }), 400, FAILED);
        }
      });

      test("a remote that stalls mid-body is cut off at the URL upload timeout (configurable; default 30 s)", async () => {
        assert.equal(main.peel.config.files.urlUploadTimeoutMs, 30_000);
        const quick = await boot({ PEEL_URL_UPLOAD_TIMEOUT_MS: "400" });
        const before = await quick.storedKeys();
        const t = Date.now();
        assertUploadError(
          await quick.urlUpload({ fileUrl: `${remote.origin}/stall.png` }),
          400,
          "Failed to download file from URL",
        );
        const took = Date.now() - t;
        assert.ok(took >= 350 && took < 5_000, `answered after ${took} ms`);
        assert.deepEqual(await quick.storedKeys(), before);
      });

      test("bad or missing key → 401 in the upload envelope, on every endpoint", async () => {
        for (const key of ["not-a-key", null]) {
          const AUTH = "Authentication failed: Invalid API Key";
          assertUploadError(await main.upload({ base64Data: b64(fx.png) }, key), 401, AUTH);
          assertUploadError(await main.form([["file", { bytes: fx.png, filename: "a.png" }]], key), 401, AUTH);
          assertUploadError(await main.urlUpload({ fileUrl: `${remote.origin}/photo.jpg` }, key), 401, AUTH);
        }
      });

      test("uploads switched off → 505 on every endpoint, back on → 200", async (t) => {
        const { peel, clock } = main;
        await peel.admin.setModelEnabled("feature:uploads", false);
        t.after(() => peel.admin.setModelEnabled("feature:uploads", true));
        clock.advance(2_000); // past the switch cache
        const OFF = "This feature is currently disabled";
        assertUploadError(await main.upload({ base64Data: b64(fx.png) }), 505, OFF);
        assertUploadError(await main.form([["file", { bytes: fx.png, filename: "a.png" }]]), 505, OFF);
        assertUploadError(await main.urlUpload({ fileUrl: `${remote.origin}/photo.jpg` }), 505, OFF);
        await peel.admin.setModelEnabled("feature:uploads", true);
        clock.advance(2_000);
        assert.equal((await main.upload({ base64Data: b64(fx.png) })).json.success, true);
      });
    });

    describe("replacement and tenancy", () => {
      test("the same uploadPath + fileName again replaces the file at the same URL, from any endpoint", async () => {
        const first = await main.upload({ base64Data: b64(fx.png), uploadPath: "same", fileName: "pic.png" });
        const url = first.json.data.downloadUrl;
        const second = await main.form([
          ["file", { bytes: fx.jpeg, filename: "z" }],
          ["uploadPath", "same"],
          ["fileName", "pic.png"],
        ]);
        okUpload(main, second, "same/pic.png", fx.jpeg, "image/jpeg");
        let got = await getBytes(url);
        assert.equal(got.headers.get("content-type"), "image/jpeg");
        assert.equal(sha(got.bytes), sha(fx.jpeg));
        const third = await main.urlUpload({ fileUrl: `${remote.origin}/pic.webp`, uploadPath: "/same/", fileName: "pic.png" });
        assert.equal(third.json.data.downloadUrl, url);
        got = await getBytes(url);
        assert.equal(sha(got.bytes), sha(fx.webp));
        // another key of the same account shares its files and overwrites them too
        const sibling = await main.peel.newKey({ accountId: main.peel.account.id });
        const fourth = await main.upload({ base64Data: b64(fx.png), uploadPath: "same", fileName: "pic.png" }, sibling.key);
        assert.equal(fourth.json.data.downloadUrl, url);
        assert.equal(sha((await getBytes(url)).bytes), sha(fx.png));
        assert.equal((await main.peel.api("POST", "/api/v1/common/download-url", { url }, { key: sibling.key })).json.code, 200);
      });

      test("account B writing the 'same' path, or one that names A's token, gets its own URL and leaves A's file alone", async () => {
        const { peel } = main;
        const a = await main.upload({ base64Data: b64(fx.png), uploadPath: "shared/dir", fileName: "mine.png" });
        const aUrl = a.json.data.downloadUrl;
        const b = await peel.newKey();
        assert.notEqual(b.account.token, peel.account.token);
        const same = await main.upload({ base64Data: b64(fx.jpeg), uploadPath: "shared/dir", fileName: "mine.png" }, b.key);
        okUpload(main, same, "shared/dir/mine.png", fx.jpeg, "image/jpeg", b.account.token);
        assert.notEqual(same.json.data.downloadUrl, aUrl);
        const sneaky = await main.form(
          [
            ["uploadPath", `u/${peel.account.token}/shared/dir`],
            ["fileName", "mine.png"],
            ["file", { bytes: fx.jpeg, filename: "a" }],
          ],
          b.key,
        );
        assert.equal(
          sneaky.json.data.downloadUrl,
          `${peel.url}/files/u/${b.account.token}/u/${peel.account.token}/shared/dir/mine.png`,
        );
        assertUploadError(
          await main.upload({ base64Data: b64(fx.jpeg), uploadPath: `../${peel.account.token}/shared/dir` }, b.key),
          400,
          "Invalid uploadPath",
        );
        const got = await getBytes(aUrl);
        assert.equal(sha(got.bytes), sha(fx.png), "A's file is untouched");
      });

      test("B cannot download-url A's upload, and B's task cannot read it", async () => {
        const { peel } = main;
        const a = await main.upload({ base64Data: b64(fx.png), uploadPath: "private", fileName: "a.png" });
        const aUrl: string = a.json.data.downloadUrl;
        const b = await peel.newKey();
        const dl = await peel.api("POST", "/api/v1/common/download-url", { url: aUrl }, { key: b.key });
        assert.deepEqual(dl.json, { code: 422, msg: "External file URLs are not supported", data: null });
        const readsBefore = main.ownReads.length;
        const rec = await main.runTask([aUrl], b.key);
        assert.equal(rec.state, "fail", JSON.stringify(rec));
        assert.equal(rec.failMsg, `Invalid image_input: ${aUrl}`);
        assert.deepEqual(main.ownReads.slice(readsBefore), [aUrl], "refused at storage, not fetched over HTTP");
        assert.equal(
          main.engine.seen.some((r) => r.taskId === rec.taskId),
          false,
        );
        // A itself can
        assert.equal((await main.runTask([aUrl])).state, "success");
      });
    });

    describe("download-url", () => {
      test(
        backend === "s3"
          ? "a presigned S3 GET, X-Amz-Expires=1200, served as an attachment"
          : "a signed peel link for 20 minutes, served as an attachment",
        async () => {
          const up = await main.upload({ base64Data: b64(fx.png), uploadPath: "dl", fileName: "get-me.png" });
          const url: string = up.json.data.downloadUrl;
          const res = await main.peel.api("POST", "/api/v1/common/download-url", { url });
          assert.equal(res.json.code, 200, res.text);
          assert.equal(res.json.msg, "success");
          const link = new URL(res.json.data);
          if (backend === "s3") {
            assert.equal(link.origin, s3!.endpoint);
            assert.equal(link.searchParams.get("X-Amz-Expires"), "1200");
          } else {
            assert.equal(link.origin + link.pathname, url);
            assert.equal(Number(link.searchParams.get("exp")), Math.floor(main.clock.now() / 1000) + 1200);
            assert.match(link.searchParams.get("sig") ?? "", /^[0-9a-f]{32}$/);
          }
          const openedBefore = main.opened.length;
          const got = await getBytes(link.href); // no auth header
          assert.equal(got.status, 200);
          assert.match(got.headers.get("content-disposition") ?? "", /^attachment; filename="get-me\.png"/);
          assert.equal(sha(got.bytes), sha(fx.png));
          // S3 links bypass peel entirely; local links are served by peel itself
          assert.equal(main.opened.length - openedBefore, backend === "s3" ? 0 : 1);
        },
      );
    });

    describe("large and concurrent uploads", () => {
      test("a 30 MiB multipart stream upload is stored whole and served with its length", async () => {
        const big = pngLike(LIMIT);
        big.writeUInt32BE(0xdeadbeef, LIMIT - 4);
        const res = await main.form([
          ["uploadPath", "big"],
          ["fileName", "big.png"],
          ["file", { bytes: big, filename: "big.png" }],
        ]);
        const up = okUpload(main, res, "big/big.png", big, "image/png");
        const head = await fetch(up.downloadUrl, { method: "HEAD" });
        assert.equal(head.headers.get("content-length"), String(LIMIT));
        const got = await getBytes(up.downloadUrl);
        assert.equal(sha(got.bytes), sha(big));
      });

      test("20 concurrent multipart uploads of 1 MiB each all land intact", async () => {
        const bodies = Array.from({ length: 20 }, (_, i) => {
          const b = pngLike(MiB);
          b.writeUInt32BE(i, 100);
          return b;
        });
        const results = await Promise.all(
          bodies.map((bytes, i) =>
            main.form([
              ["file", { bytes, filename: "x.png" }],
              ["uploadPath", "many"],
              ["fileName", `n${i}`],
            ]),
          ),
        );
        for (const [i, res] of results.entries()) okUpload(main, res, `many/n${i}.png`, bodies[i], "image/png");
        for (const [i, res] of results.entries())
          assert.equal(sha((await getBytes(res.json.data.downloadUrl)).bytes), sha(bodies[i]));
      });
    });

    describe("base64 bodies share a byte budget", () => {
      test("uploads beyond it wait with their bodies unread; a client that leaves gives its share back", async (t) => {
        // strict: 16 KiB files → base64 bodies up to ~86 KiB, two of those in flight at once
        const holders: http.ClientRequest[] = [];
        t.after(() => {
          for (const h of holders) h.destroy();
        });
        const hold = () => {
          const req = http.request(`${strict.peel.url}${B64}`, {
            method: "POST",
            agent: false,
            headers: {
              authorization: `Bearer ${strict.peel.key}`,
              "content-type": "application/json",
              "content-length": "86000",
            },
          });
          req.on("error", () => undefined);
          req.write('{"base64Data":"');
          holders.push(req);
        };
        hold();
        hold();
        await new Promise((r) => setTimeout(r, 100));
        let settled = false;
        const queued = strict.upload({ base64Data: b64(fx.png), fileName: "queued.png" }).then((r) => {
          settled = true;
          return r;
        });
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(settled, false, "a third body waits while two large ones are being read");
        holders[0].destroy();
        const res = await queued;
        assert.equal(res.json.success, true, res.text);
        holders[1].destroy();
        await new Promise((r) => setTimeout(r, 50));
        // nothing leaked: several uploads at once still go through
        const many = await Promise.all(
          [1, 2, 3, 4].map((i) => strict.upload({ base64Data: b64(fx.jpeg), fileName: `after${i}.jpg` })),
        );
        assert.deepEqual(
          many.map((r) => r.json.success),
          [true, true, true, true],
        );
      });
    });

    describe("retention (ManualClock)", () => {
      test("uploads expire after 3 days and results after 14; the sweep deletes them; recordInfo outlives the files", async () => {
        const rig = await boot();
        const { peel, clock } = rig;
        const t0 = clock.now();
        const a1 = await rig.upload({ base64Data: b64(fx.png), uploadPath: "keep", fileName: "a.png" });
        const b = await rig.form([
          ["file", { bytes: fx.jpeg, filename: "b" }],
          ["uploadPath", "keep"],
          ["fileName", "b.jpg"],
        ]);
        const c = await rig.urlUpload({ fileUrl: `${remote.origin}/pic.webp`, uploadPath: "keep", fileName: "c" });
        const [aUrl, bUrl, cUrl] = [a1, b, c].map((r) => r.json.data.downloadUrl as string);
        const rec = await rig.runTask([aUrl, bUrl, cUrl]);
        assert.equal(rec.state, "success", JSON.stringify(rec));
        const resultUrl: string = JSON.parse(rec.resultJson).resultUrls[0];
        // a.png is uploaded again an hour later: its bytes now live until t0 + 3 days + 1 hour
        clock.advance(3_600_000);
        const a2 = await rig.upload({ base64Data: b64(fx.webp), uploadPath: "keep", fileName: "a.png" });
        assert.equal(a2.json.data.downloadUrl, aUrl);
        assert.equal(a2.json.data.expiresAt, new Date(t0 + 3 * DAY + 3_600_000).toISOString());

        const acc = peel.account.id;
        const keys = { a: `u/${acc}/keep/a.png`, b: `u/${acc}/keep/b.jpg`, c: `u/${acc}/keep/c.webp` };
        const resultKey = `r/${rec.taskId}/${resultUrl.slice(resultUrl.lastIndexOf("/") + 1)}`;
        const exists = (key: string) => peel.runtime.fileStore.exists(key);
        const stored = async () => (await rig.storedKeys()).sort();
        assert.deepEqual(await stored(), [keys.a, keys.b, keys.c, resultKey].sort());

        // From here the test drives the sweeper itself, so no background pass races an assertion.
        const sweeper = peel.runtime.sweeper!;
        await sweeper.stop();
        const expired = async (url: string) => {
          const res = await fetch(url);
          assert.equal(res.status, 404, url);
          assert.deepEqual(await res.json(), { code: 404, msg: "File has expired", data: null });
          assert.equal((await fetch(url, { method: "HEAD" })).status, 404);
        };

        // one minute before the 3 days: nothing goes
        clock.set(t0 + 3 * DAY - 60_000);
        await sweeper.runOnce();
        assert.deepEqual(await stored(), [keys.a, keys.b, keys.c, resultKey].sort());

        // one minute after: b and c are gone; a was replaced, so its newer bytes stay
        clock.set(t0 + 3 * DAY + 60_000);
        await sweeper.runOnce();
        assert.equal(await exists(keys.b), false);
        assert.equal(await exists(keys.c), false);
        assert.deepEqual(await stored(), [keys.a, resultKey].sort());
        await expired(bUrl);
        await expired(cUrl);
        assert.equal(sha((await getBytes(aUrl)).bytes), sha(fx.webp));
        const dl = await peel.api("POST", "/api/v1/common/download-url", { url: bUrl });
        assert.deepEqual(dl.json, { code: 404, msg: "File not found", data: null });
        // a task cannot use an expired upload
        const late = await rig.runTask([bUrl]);
        assert.equal(late.state, "fail");
        assert.equal(late.failMsg, `Invalid image_input: ${bUrl}`);

        // past the replacement's own 3 days: only the result is left
        clock.set(t0 + 3 * DAY + 3_600_000 + 60_000);
        await sweeper.runOnce();
        assert.deepEqual(await stored(), [resultKey]);
        await expired(aUrl);
        assert.equal((await getBytes(resultUrl)).status, 200);

        // 14 days after completion the result goes too; recordInfo still answers with the dead URL
        const completed: number = rec.completeTime;
        clock.set(completed + 14 * DAY - 60_000);
        await sweeper.runOnce();
        assert.deepEqual(await stored(), [resultKey]);
        clock.set(completed + 14 * DAY + 60_000);
        await sweeper.runOnce();
        assert.deepEqual(await stored(), [], "no expired file is left behind");
        assert.equal(await exists(resultKey), false);
        await expired(resultUrl);
        const info = await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${rec.taskId}`);
        assert.equal(info.json.code, 200, info.text);
        assert.equal(info.json.data.state, "success");
        assert.deepEqual(JSON.parse(info.json.data.resultJson).resultUrls, [resultUrl]);

        // after the 60-day task retention the record itself is gone
        clock.set(rec.createTime + 60 * DAY + 60_000);
        const gone = await peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${rec.taskId}`);
        assert.deepEqual(gone.json, { code: 422, msg: "recordInfo is null", data: null });
        await sweeper.runOnce();
        assert.deepEqual(await stored(), []);
      });

      test("the background sweeper alone clears an expired upload (no manual pass)", async () => {
        const rig = await boot({ PEEL_SWEEP_INTERVAL_MS: "100" });
        const up = await rig.upload({ base64Data: b64(fx.png), uploadPath: "bg", fileName: "x.png" });
        const key = `u/${rig.peel.account.id}/bg/x.png`;
        assert.equal(await rig.peel.runtime.fileStore.exists(key), true);
        rig.clock.advance(3 * DAY + 1);
        const until = Date.now() + 5_000;
        while ((await rig.peel.runtime.fileStore.exists(key)) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
        assert.equal(await rig.peel.runtime.fileStore.exists(key), false);
        assert.equal((await fetch(up.json.data.downloadUrl)).status, 404);
      });
    });
  });
}
