import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import type { GenerateRequest, GeneratedImage, ImageEngine } from "../../src/engines/engine.js";
import { SandboxEngine } from "../../src/engines/sandbox.js";

/**
 * A third-party-style kie upload client (plain fetch, FormData, Blob — what a kie SDK does) and
 * the fixtures the upload suite shares.
 */

export const DAY = 24 * 3_600_000;
export const MiB = 1024 * 1024;

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

async function toReply(res: Response): Promise<Reply> {
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json, text };
}

const auth = (key: string | null): Record<string, string> => (key === null ? {} : { authorization: `Bearer ${key}` });

/** POST a JSON body the way kie's docs show (base64 and URL uploads). */
export async function postJson(base: string, route: string, key: string | null, body: unknown): Promise<Reply> {
  const res = await fetch(base + route, {
    method: "POST",
    headers: { ...auth(key), "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return toReply(res);
}

/** A multipart form part: text, or a file with the client's (possibly lying) name and type. */
export type Part = [name: string, value: string | { bytes: Buffer; filename: string; type?: string }];

/** POST multipart/form-data with the parts in the given order. */
export async function postForm(base: string, key: string | null, parts: Part[]): Promise<Reply> {
  const form = new FormData();
  for (const [name, value] of parts) {
    if (typeof value === "string") form.append(name, value);
    else form.append(name, new Blob([value.bytes], { type: value.type ?? "application/octet-stream" }), value.filename);
  }
  const res = await fetch(`${base}/api/file-stream-upload`, { method: "POST", headers: auth(key), body: form });
  return toReply(res);
}

export const sha = (b: Buffer | Uint8Array) => createHash("sha256").update(b).digest("hex");

export async function getBytes(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Small decodable images (the sandbox engine decodes its inputs) and non-images. */
export interface Fixtures {
  png: Buffer;
  jpeg: Buffer;
  webp: Buffer;
  gif: Buffer;
  text: Buffer;
}

export async function makeFixtures(): Promise<Fixtures> {
  const noise = (w: number, h: number) => sharp(randomBytes(w * h * 3), { raw: { width: w, height: h, channels: 3 } });
  return {
    png: await noise(48, 32).png().toBuffer(),
    jpeg: await noise(40, 40).jpeg().toBuffer(),
    webp: await noise(30, 20).webp().toBuffer(),
    // GIF89a 1×1 (a real image, just not one image_input can use)
    gif: Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64"),
    text: Buffer.from("hello, this is not an image\n"),
  };
}

/** `n` bytes that sniff as PNG (magic number, then filler): enough for the upload API, which only sniffs. */
export function pngLike(n: number): Buffer {
  const b = Buffer.alloc(n, 7);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b);
  return b;
}

/** The sandbox engine, recording every request so a test can see the input bytes the engine got. */
export class RecordingEngine implements ImageEngine {
  readonly name = "sandbox";
  readonly seen: GenerateRequest[] = [];
  private readonly inner = new SandboxEngine();
  generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
    this.seen.push(req);
    return this.inner.generate(req, signal);
  }
}

/** Every file under `dir`, relative, with `/` separators (missing dir → []). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) =>
      path
        .relative(dir, path.join(e.parentPath ?? (e as { path: string }).path, e.name))
        .split(path.sep)
        .join("/"),
    )
    .sort();
}

export function assertUploadError(res: Reply, code: number, msg: string, http = 200): void {
  assert.equal(res.status, http, res.text);
  assert.deepEqual(res.json, { success: false, code, msg, data: null });
}

/** docs/kie-contract.md §10.2, exactly: the envelope's four keys and data's eight. */
export function assertUploadOk(
  res: Reply,
  expect: { origin: string; token: string; filePath: string; bytes: Buffer; mimeType: string; at: number; retentionMs: number },
): { downloadUrl: string; fileName: string; filePath: string } {
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.json).sort(), ["code", "data", "msg", "success"], res.text);
  assert.equal(res.json.success, true);
  assert.equal(res.json.code, 200);
  assert.equal(res.json.msg, "File uploaded successfully");
  const d = res.json.data;
  assert.deepEqual(Object.keys(d).sort(), [
    "downloadUrl",
    "expiresAt",
    "fileName",
    "filePath",
    "fileSize",
    "fileUrl",
    "mimeType",
    "uploadedAt",
  ]);
  const url = `${expect.origin}/files/u/${expect.token}/${expect.filePath}`;
  assert.equal(d.filePath, expect.filePath);
  assert.equal(d.fileName, expect.filePath.slice(expect.filePath.lastIndexOf("/") + 1));
  assert.equal(d.downloadUrl, url);
  assert.equal(d.fileUrl, d.downloadUrl);
  assert.equal(d.fileSize, expect.bytes.length);
  assert.equal(d.mimeType, expect.mimeType);
  assert.equal(d.uploadedAt, new Date(expect.at).toISOString());
  assert.equal(d.expiresAt, new Date(expect.at + expect.retentionMs).toISOString());
  return { downloadUrl: d.downloadUrl, fileName: d.fileName, filePath: d.filePath };
}
