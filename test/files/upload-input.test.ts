import assert from "node:assert/strict";
import { test } from "node:test";
import { UploadError } from "../../src/errors.js";
import {
  checkFileName,
  decodeBase64Upload,
  finalFileName,
  normalizeUploadPath,
  numberedFileName,
  sanitizePartFileName,
} from "../../src/files/upload-input.js";

const is = (msg: string) => (err: unknown) => err instanceof UploadError && err.message === msg;
const BAD_PATH = is("Invalid uploadPath");
const BAD_NAME = is("Invalid fileName");
const BAD_B64 = is("Base64 decoding failed: Invalid Base64 format");
const MISSING_B64 = is("Missing required parameter: base64Data");

test("uploadPath: slashes stripped, default `uploads`", () => {
  assert.equal(normalizeUploadPath(undefined), "uploads");
  assert.equal(normalizeUploadPath(null), "uploads");
  assert.equal(normalizeUploadPath(""), "uploads");
  assert.equal(normalizeUploadPath("/"), "uploads");
  assert.equal(normalizeUploadPath("/images/user-uploads/"), "images/user-uploads");
  assert.equal(normalizeUploadPath("a.b_c-D/9"), "a.b_c-D/9");
  assert.equal(normalizeUploadPath(".hidden"), ".hidden");
});

test("uploadPath: traversal, odd characters and non-strings are refused", () => {
  for (const p of [
    "..",
    "a/../b",
    "./a",
    "a/.",
    "a//b",
    "a\\b",
    "a b",
    "a/%2e%2e",
    "a\u0000",
    "é",
    "a?b",
    "a#b",
    42,
    {},
    ["a"],
    "x".repeat(256),
    "a/".repeat(300),
  ]) {
    assert.throws(() => normalizeUploadPath(p), BAD_PATH, JSON.stringify(p));
  }
});

test("fileName: bare safe names only", () => {
  assert.equal(checkFileName(undefined), null);
  assert.equal(checkFileName(""), null);
  assert.equal(checkFileName("sketch.png"), "sketch.png");
  assert.equal(checkFileName("my_file-1.v2.JPG"), "my_file-1.v2.JPG");
  for (const n of ["a/b.png", "a\\b.png", "..", ".", "a..png", "../a.png", "a b.png", "a\nb", "x".repeat(256), 7, true]) {
    assert.throws(() => checkFileName(n), BAD_NAME, JSON.stringify(n));
  }
});

test("fileName: generated when absent, detected extension appended when missing", () => {
  assert.match(finalFileName(null, "png"), /^[0-9a-f]{16}\.png$/);
  assert.match(finalFileName(null, "jpeg"), /^[0-9a-f]{16}\.jpg$/);
  assert.equal(finalFileName("photo", "webp"), "photo.webp");
  assert.equal(finalFileName(".env", "png"), ".env.png");
  assert.equal(finalFileName("photo.png", "jpeg"), "photo.png", "a given extension is kept");
  assert.equal(finalFileName("x".repeat(251), "png"), "x".repeat(251) + ".png");
  assert.throws(() => finalFileName("x".repeat(252), "webp"), BAD_NAME);
});

test("base64: bare, data URL, wrapped lines, URL-safe, unpadded", () => {
  const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0xfe, 0xfd]);
  const b64 = bytes.toString("base64");
  assert.deepEqual(decodeBase64Upload(b64), bytes);
  assert.deepEqual(decodeBase64Upload(`data:image/png;base64,${b64}`), bytes);
  assert.deepEqual(decodeBase64Upload(`DATA:image/jpeg;name=x.jpg;base64,${b64}`), bytes);
  assert.deepEqual(decodeBase64Upload(`data:;base64,${b64}`), bytes);
  assert.deepEqual(decodeBase64Upload(b64.slice(0, 4) + "\r\n" + b64.slice(4)), bytes);
  assert.deepEqual(decodeBase64Upload(bytes.toString("base64url")), bytes);
  assert.deepEqual(decodeBase64Upload(b64.replace(/=+$/, "")), bytes);
});

test("base64: missing vs malformed", () => {
  for (const v of [undefined, null, ""]) assert.throws(() => decodeBase64Upload(v), MISSING_B64);
  for (const v of [
    "abc!",
    "ab=c",
    "a",
    "abcde",
    "abc===",
    "data:image/png,iVBORw0K",
    "data:image/png;base64,",
    "data:image/png;base64,@@",
    "   ",
    12,
    {},
  ]) {
    assert.throws(() => decodeBase64Upload(v), BAD_B64, JSON.stringify(v));
  }
});

test("sanitizePartFileName: a multipart part's own name made safe, or null when nothing is left", () => {
  const cases: Array<[unknown, string | null]> = [
    ["image_1700000000_abc.png", "image_1700000000_abc.png"],
    ["my photo (1).png", "my_photo_1.png"],
    ["C:\\fakepath\\café.JPG", "cafe.JPG"],
    ["../../etc/passwd", "passwd"],
    ["a..b.png", "a.b.png"],
    ["résumé final!!.jpeg", "resume_final.jpeg"],
    ["scan", "scan"],
    [".env", null],
    ["..png", null],
    ["日本.png", null],
    ["-_-.png", null],
    ["", null],
    [undefined, null],
    [42, null],
  ];
  for (const [raw, want] of cases) {
    const got = sanitizePartFileName(raw);
    assert.equal(got, want, JSON.stringify(raw));
    // whatever comes out passes the same check as a client's fileName
    if (got !== null) assert.equal(checkFileName(got), got);
  }
  const long = sanitizePartFileName(`${"x".repeat(300)}.png`)!;
  assert.equal(long.length, 255);
  assert.ok(long.endsWith(".png"));
});

test("numberedFileName: a suffix before the extension, within 255 characters", () => {
  assert.equal(numberedFileName("photo.png", 2), "photo-2.png");
  assert.equal(numberedFileName("README", 3), "README-3");
  assert.equal(numberedFileName("a.tar.gz", 2), "a.tar-2.gz");
  const long = numberedFileName(`${"a".repeat(251)}.png`, 12);
  assert.equal(long.length, 255);
  assert.ok(long.endsWith("-12.png"));
});
