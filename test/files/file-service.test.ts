import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { UploadError } from "../../src/errors.js";
import { FileService } from "../../src/files/file-service.js";
import { FileTooLargeError } from "../../src/files/store-common.js";
import { generatedStream, hashStream } from "./contract.js";
import { BACKENDS, DAY, GIF, JPEG, MiB, PNG, PUBLIC_URL, WEBP, fileEnv, type Env } from "./harness.js";

const envs = fileEnv();
after(() => envs.stopS3());

const uploadError = (msg: string) => (err: unknown) => err instanceof UploadError && err.message === msg;

async function body(obj: { body: Readable }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of obj.body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A PNG-looking stream of exactly `total` bytes (signature first, then generated filler). */
function pngStream(total: number, chunk = 256 * 1024) {
  const filler = generatedStream(total - 8, chunk).body;
  return Readable.from(
    (async function* () {
      yield PNG.subarray(0, 8);
      yield* filler;
    })(),
  );
}

for (const backend of BACKENDS) {
  describe(`FileService (${backend})`, () => {
    const it = (title: string, fn: (env: Env) => Promise<void>) =>
      test(title, async () => {
        const env = await envs.make(backend);
        try {
          await fn(env);
        } finally {
          await env.close();
        }
      });

    it("saveUpload stores under the account token and answers kie's data object", async ({ files, a, clock }) => {
      const res = await files.saveUpload({ account: a, uploadPath: "/images/user-uploads/", fileName: "sketch.png", body: PNG });
      const url = `${PUBLIC_URL}/files/u/${a.token}/images/user-uploads/sketch.png`;
      assert.deepEqual(res, {
        fileName: "sketch.png",
        filePath: "images/user-uploads/sketch.png",
        downloadUrl: url,
        fileUrl: url,
        fileSize: PNG.length,
        mimeType: "image/png",
        uploadedAt: new Date(clock.now()).toISOString(),
        expiresAt: new Date(clock.now() + 3 * DAY).toISOString(),
      });
      const opened = await files.open(new URL(url).pathname, {});
      assert.equal(opened.kind, "ok");
      assert.ok(opened.kind === "ok");
      assert.equal(opened.attachment, false);
      assert.equal(opened.object.contentType, "image/png");
      assert.equal(opened.object.size, PNG.length);
      assert.deepEqual(await body(opened.object), PNG);
      assert.equal(opened.record.storageKey, `u/${a.id}/images/user-uploads/sketch.png`);
    });

    it("the type comes from the bytes, never from the name", async ({ files, a }) => {
      const res = await files.saveUpload({ account: a, fileName: "photo.png", body: JPEG });
      assert.equal(res.mimeType, "image/jpeg");
      assert.equal(res.fileName, "photo.png");
      const opened = await files.open(new URL(res.fileUrl).pathname, {});
      assert.ok(opened.kind === "ok");
      assert.equal(opened.object.contentType, "image/jpeg");
      opened.object.body.destroy();
    });

    it("names: generated when absent, extension appended when missing; default folder `uploads`", async ({ files, a }) => {
      const gen = await files.saveUpload({ account: a, body: WEBP });
      assert.match(gen.filePath, /^uploads\/[0-9a-f]{16}\.webp$/);
      const named = await files.saveUpload({ account: a, uploadPath: "", fileName: "photo", body: JPEG });
      assert.equal(named.filePath, "uploads/photo.jpg");
    });

    it("unsupported bytes and bad fields are refused and store nothing", async (env) => {
      const { files, a } = env;
      await assert.rejects(files.saveUpload({ account: a, fileName: "x.png", body: GIF }), uploadError("Unsupported file type"));
      await assert.rejects(files.saveUpload({ account: a, body: Buffer.alloc(0) }), uploadError("Unsupported file type"));
      await assert.rejects(
        files.saveUpload({ account: a, body: Readable.from([Buffer.from("<svg")]) }),
        uploadError("Unsupported file type"),
      );
      await assert.rejects(files.saveUpload({ account: a, uploadPath: "a/../b", body: PNG }), uploadError("Invalid uploadPath"));
      await assert.rejects(files.saveUpload({ account: a, fileName: "../x.png", body: PNG }), uploadError("Invalid fileName"));
      assert.deepEqual(await env.leftovers(), []);
      assert.deepEqual(await env.db.listFiles({ accountId: a.id }), []);
    });

    it("a stream is sniffed even when it arrives one byte at a time", async ({ files, a }) => {
      const chunks = [...PNG].map((b) => Buffer.from([b]));
      const res = await files.saveUpload({ account: a, fileName: "slow.png", body: Readable.from(chunks) });
      assert.equal(res.mimeType, "image/png");
      assert.equal(res.fileSize, PNG.length);
    });

    it("re-uploading the same path replaces the file at the same URL", async ({ files, a, db }) => {
      const first = await files.saveUpload({ account: a, fileName: "same.png", body: PNG });
      const second = await files.saveUpload({ account: a, fileName: "same.png", body: JPEG });
      assert.equal(second.fileUrl, first.fileUrl);
      const opened = await files.open(new URL(second.fileUrl).pathname, {});
      assert.ok(opened.kind === "ok");
      assert.equal(opened.object.contentType, "image/jpeg");
      assert.deepEqual(await body(opened.object), JPEG);
      assert.equal((await db.listFiles({ accountId: a.id })).length, 1, "one live record");
    });

    it("ownership: another account's paths, names and URLs stay out of reach", async (env) => {
      const { files, a, b } = env;
      const mine = await files.saveUpload({ account: a, uploadPath: "shared", fileName: "x.png", body: PNG });
      // B sends A's folder and name: it lands in B's own space, A's file is untouched
      const theirs = await files.saveUpload({ account: b, uploadPath: "shared", fileName: "x.png", body: JPEG });
      assert.notEqual(theirs.fileUrl, mine.fileUrl);
      assert.ok(theirs.fileUrl.includes(`/files/u/${b.token}/`));
      // path tricks aiming at A's token are refused outright
      for (const uploadPath of [`../${a.token}/shared`, `../../u/${a.token}`, `/files/u/${a.token}/shared/..`]) {
        await assert.rejects(
          files.saveUpload({ account: b, uploadPath, fileName: "x.png", body: JPEG }),
          uploadError("Invalid uploadPath"),
        );
      }
      await assert.rejects(
        files.saveUpload({ account: b, uploadPath: "shared", fileName: `..\\${a.token}`, body: JPEG }),
        uploadError("Invalid fileName"),
      );
      const opened = await files.open(new URL(mine.fileUrl).pathname, {});
      assert.ok(opened.kind === "ok");
      assert.deepEqual(await body(opened.object), PNG);

      assert.deepEqual(await files.downloadLink(mine.fileUrl, b.id), { kind: "not_ours" });
      assert.equal(await files.readOwnFile(new URL(mine.fileUrl), MiB, b.id), null);
      assert.deepEqual(await files.readOwnFile(new URL(mine.fileUrl), MiB, a.id), PNG);
      // without an account (trusted internal reads) any live peel file is readable
      assert.deepEqual(await files.readOwnFile(new URL(mine.fileUrl), MiB), PNG);
    });

    it("download-url: non-peel, unknown and malformed URLs are not ours", async ({ files, a }) => {
      const up = await files.saveUpload({ account: a, fileName: "x.png", body: PNG });
      const path = new URL(up.fileUrl).pathname;
      for (const url of [
        `https://example.com${path}`,
        `http://peel.test${path}`,
        `${PUBLIC_URL}/files/u/${a.token}/uploads/none.png`,
        `${PUBLIC_URL}/api${path}`,
        "not a url",
        42,
        null,
      ]) {
        assert.deepEqual(await files.downloadLink(url, a.id), { kind: "not_ours" }, String(url));
      }
      assert.equal(await files.readOwnFile(new URL(`https://example.com${path}`), MiB, a.id), null);
    });

    it("download-url gives a 20-minute link that serves the file as an attachment", async ({ files, a, clock }) => {
      const up = await files.saveUpload({ account: a, fileName: "dl.png", body: PNG });
      const link = await files.downloadLink(up.fileUrl, a.id);
      assert.equal(link.kind, "link");
      assert.ok(link.kind === "link");
      const u = new URL(link.url);
      if (backend === "s3") {
        assert.equal(u.searchParams.get("X-Amz-Expires"), "1200");
        const res = await fetch(link.url);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-disposition"), 'attachment; filename="dl.png"');
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), PNG);
        return;
      }
      assert.equal(u.origin + u.pathname, up.fileUrl);
      const exp = u.searchParams.get("exp")!;
      const sig = u.searchParams.get("sig")!;
      assert.equal(Number(exp), Math.floor(clock.now() / 1000) + 1200);
      const ok = await files.open(u.pathname, { exp, sig });
      assert.ok(ok.kind === "ok");
      assert.equal(ok.attachment, true);
      ok.object.body.destroy();
      const altered = sig.slice(0, -1) + (sig.endsWith("a") ? "b" : "a");
      assert.equal((await files.open(u.pathname, { exp, sig: altered })).kind, "bad_signature");
      assert.equal((await files.open(u.pathname, { exp: String(Number(exp) + 60), sig })).kind, "bad_signature");
      assert.equal((await files.open(u.pathname, { exp })).kind, "bad_signature");
      clock.advance(1201 * 1000);
      assert.equal((await files.open(u.pathname, { exp, sig })).kind, "link_expired");
      // the plain URL keeps working for the file's own lifetime
      const plain = await files.open(u.pathname, {});
      assert.ok(plain.kind === "ok");
      plain.object.body.destroy();
    });

    it("a download link never outlives the file", async ({ files, a, clock }) => {
      const up = await files.saveUpload({ account: a, fileName: "late.png", body: PNG });
      clock.advance(3 * DAY - 300_000); // 5 minutes left
      const link = await files.downloadLink(up.fileUrl, a.id);
      assert.ok(link.kind === "link");
      const u = new URL(link.url);
      if (backend === "s3") assert.equal(u.searchParams.get("X-Amz-Expires"), "300");
      else assert.equal(Number(u.searchParams.get("exp")), Math.floor(clock.now() / 1000) + 300);
    });

    it("after retention: open says expired, download-url says gone, input reads get null", async ({ files, a, clock }) => {
      const up = await files.saveUpload({ account: a, fileName: "old.png", body: PNG });
      const path = new URL(up.fileUrl).pathname;
      clock.advance(3 * DAY - 1);
      const still = await files.open(path, {});
      assert.ok(still.kind === "ok");
      still.object.body.destroy();
      clock.advance(1);
      assert.equal((await files.open(path, {})).kind, "expired");
      assert.deepEqual(await files.downloadLink(up.fileUrl, a.id), { kind: "gone" });
      assert.equal(await files.readOwnFile(new URL(up.fileUrl), MiB, a.id), null);
      assert.equal((await files.open("/files/u/nobody/uploads/x.png", {})).kind, "not_found");
    });

    it("30 MiB is accepted as a stream; one byte more is refused and leaves nothing", async (env) => {
      const { files, a, store, db } = env;
      const ok = await files.saveUpload({ account: a, fileName: "max.png", body: pngStream(30 * MiB) });
      assert.equal(ok.fileSize, 30 * MiB);
      const before = await env.leftovers();

      await assert.rejects(
        files.saveUpload({ account: a, fileName: "over.png", body: pngStream(30 * MiB + 1) }),
        uploadError("File size exceeds the limit"),
      );
      assert.equal(await store.exists(`u/${a.id}/uploads/over.png`), false);
      assert.deepEqual(await env.leftovers(), before);
      assert.equal(await db.getFileByUrlPath(`/files/u/${a.token}/uploads/over.png`), null);

      // replacing with an oversized stream keeps the earlier file whole
      await assert.rejects(
        files.saveUpload({ account: a, fileName: "max.png", body: pngStream(30 * MiB + 1) }),
        uploadError("File size exceeds the limit"),
      );
      const kept = await files.open(`/files/u/${a.token}/uploads/max.png`, {});
      assert.ok(kept.kind === "ok");
      assert.equal((await hashStream(kept.object.body)).bytes, 30 * MiB);

      const big = Buffer.alloc(30 * MiB + 1);
      PNG.copy(big);
      await assert.rejects(
        files.saveUpload({ account: a, fileName: "buf.png", body: big }),
        uploadError("File size exceeds the limit"),
      );
      assert.deepEqual(await env.leftovers(), before);
    });

    it("saveResult stores /files/r/<taskId>/<12 chars>.<png|jpg> for 14 days", async ({ files, a, b, clock }) => {
      const taskId = "3f9c2b7e8a614d0f9b1e5c7a2d4f6081";
      const png = await files.saveResult({ accountId: a.id, taskId, bytes: PNG, format: "png" });
      const jpg = await files.saveResult({ accountId: a.id, taskId, bytes: JPEG, format: "jpeg" });
      assert.match(png, new RegExp(`^${PUBLIC_URL}/files/r/${taskId}/[0-9a-z]{12}\\.png$`));
      assert.match(jpg, new RegExp(`^${PUBLIC_URL}/files/r/${taskId}/[0-9a-z]{12}\\.jpg$`));
      const opened = await files.open(new URL(jpg).pathname, {});
      assert.ok(opened.kind === "ok");
      assert.equal(opened.object.contentType, "image/jpeg");
      assert.equal(opened.record.storageKey, `r/${taskId}/${jpg.slice(jpg.lastIndexOf("/") + 1)}`);
      assert.deepEqual(await body(opened.object), JPEG);

      assert.deepEqual(await files.readOwnFile(new URL(png), MiB, a.id), PNG);
      assert.equal(await files.readOwnFile(new URL(png), MiB, b.id), null);
      await assert.rejects(files.readOwnFile(new URL(png), 4, a.id), FileTooLargeError);
      assert.deepEqual(await files.downloadLink(png, b.id), { kind: "not_ours" });

      clock.advance(14 * DAY);
      assert.equal((await files.open(new URL(png).pathname, {})).kind, "expired");
      await assert.rejects(files.saveResult({ accountId: a.id, taskId: "../x", bytes: PNG, format: "png" }));
    });
  });
}

test("a publicUrl with a path prefix issues and recognises prefixed URLs", async () => {
  const env = await envs.make("local");
  try {
    const files = new FileService({
      store: env.store,
      records: env.db,
      publicUrl: "https://example.org/peel",
      secret: "s",
      uploadRetentionMs: DAY,
      resultRetentionMs: DAY,
      uploadMaxBytes: MiB,
      clock: env.clock,
    });
    const up = await files.saveUpload({ account: env.a, fileName: "p.png", body: PNG });
    assert.equal(up.fileUrl, `https://example.org/peel/files/u/${env.a.token}/uploads/p.png`);
    assert.deepEqual(await files.readOwnFile(new URL(up.fileUrl), MiB, env.a.id), PNG);
    const link = await files.downloadLink(up.fileUrl, env.a.id);
    assert.ok(link.kind === "link");
    assert.ok(link.url.startsWith(`${up.fileUrl}?exp=`));
    assert.deepEqual(await files.downloadLink(`https://example.org/files/u/${env.a.token}/uploads/p.png`, env.a.id), {
      kind: "not_ours",
    });
  } finally {
    await env.close();
  }
});
