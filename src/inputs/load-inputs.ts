import { randomUUID } from "node:crypto";
import { open, rm, type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import type { InputImage } from "../engines/engine.js";
import { ProviderError } from "../errors.js";
import { REFERENCE_MAX_BYTES, prepareReference, prepareReferenceFile } from "../images/reference.js";
import { sniffImage } from "../images/sniff.js";
import type { AddressPolicy } from "../net/address-guard.js";
import { OutboundError, guardedRequest, readAll, type GuardedResponse } from "../net/guarded-fetch.js";
import type { GuardedClient } from "../net/guarded-fetch.js";

/**
 * Turns a task's `image_input` URLs into the InputImages an engine sends upstream (kie-contract
 * §4.1, §6.3; docs/gemini.md#reference-images). URLs are loaded one at a time and in order. A download that
 * grows past REFERENCE_MAX_BYTES (so it will be re-encoded anyway) is spilled to a temporary file
 * and libvips reads it from disk, so a raw input of up to 30 MiB never sits in memory: a task with
 * eight large inputs holds its prepared (≤ 7 MB) references and little else (docs/engines.md).
 */

export interface InputLoaderOptions {
  policy: AddressPolicy;
  /** Largest input accepted, bytes (kie: 30 MiB). */
  maxBytes: number;
  /** Deadline per input for the whole fetch, redirects and body included, ms. */
  timeoutMs: number;
  connectTimeoutMs: number;
  /**
   * Reads a URL that points at peel's own files (prefix publicUrl + "/files/") straight from
   * storage; returns null when it is not peel's or is gone. When absent, such URLs are fetched
   * over HTTP like any other (and the address policy decides).
   */
  readOwnFile?: (url: URL, maxBytes: number) => Promise<Buffer | null>;
  /** peel's public base URL, without a trailing slash. */
  publicUrl: string;
  /**
   * The client to fetch with (its own policy and connect timeout then apply). When absent, the
   * client shared per policy behind guardedFetchBuffer is used; closeGuardedClients() closes it.
   */
  client?: GuardedClient;
  /** Where large downloads are spilled while they are prepared. @defaultValue os.tmpdir() */
  tmpDir?: string;
}

/** docs/kie-contract.md §10.1: inputs follow at most 3 redirects, each hop checked. */
const MAX_REDIRECTS = 3;

export async function loadInputImages(urls: string[], opts: InputLoaderOptions, signal: AbortSignal): Promise<InputImage[]> {
  const images: InputImage[] = [];
  for (const url of urls) images.push(await loadOne(url, opts, signal));
  return images;
}

async function loadOne(url: string, opts: InputLoaderOptions, signal: AbortSignal): Promise<InputImage> {
  signal.throwIfAborted();
  let raw: RawInput | null = null;
  try {
    raw = await fetchRaw(url, opts, signal);
    const size = raw.kind === "memory" ? raw.bytes.length : raw.size;
    if (size > opts.maxBytes) throw new Error(`${size} bytes exceeds the ${opts.maxBytes}-byte limit`);
    // Judged by the bytes only: servers label images wrongly in both directions.
    if (sniffImage(raw.kind === "memory" ? raw.bytes : raw.head) === null) throw new Error("not a JPEG, PNG or WebP file");
    const prepared = raw.kind === "memory" ? await prepareReference(raw.bytes) : await prepareReferenceFile(raw.path);
    signal.throwIfAborted();
    return { bytes: prepared.bytes, mimeType: prepared.mimeType, url };
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    const kind = err instanceof OutboundError ? `${err.kind}: ` : "";
    const detail = err instanceof Error ? err.message : String(err);
    throw new ProviderError("invalid_input", `image_input ${url}: ${kind}${detail}`, {
      retryable: false,
      failMsg: `Invalid image_input: ${url}`,
      cause: err,
    });
  } finally {
    if (raw?.kind === "file") await rm(raw.path, { force: true });
  }
}

/** A downloaded input: in memory when small, else spilled to a file (its first bytes kept to sniff). */
type RawInput = { kind: "memory"; bytes: Buffer } | { kind: "file"; path: string; size: number; head: Buffer };

async function fetchRaw(url: string, opts: InputLoaderOptions, signal: AbortSignal): Promise<RawInput> {
  const own = opts.readOwnFile ? ownFileUrl(url, opts.publicUrl) : null;
  if (own && opts.readOwnFile) {
    // Our own files never go over HTTP: no loopback exemption needed, no socket, no signed link.
    const bytes = await opts.readOwnFile(own, opts.maxBytes);
    if (bytes === null) throw new Error("peel file not found (expired or never uploaded)");
    return { kind: "memory", bytes };
  }
  const req = { url, maxRedirects: MAX_REDIRECTS, timeoutMs: opts.timeoutMs, maxBytes: opts.maxBytes, signal };
  const res = opts.client
    ? await opts.client.request(req)
    : await guardedRequest({ ...req, policy: opts.policy, connectTimeoutMs: opts.connectTimeoutMs });
  if (res.status < 200 || res.status > 299) {
    res.body.destroy();
    throw new Error(`HTTP ${res.status} from ${res.url}`);
  }
  const declared = Number(res.headers["content-length"]);
  // A declared small body is read into one exactly-sized buffer, as before.
  if (Number.isSafeInteger(declared) && declared <= REFERENCE_MAX_BYTES) return { kind: "memory", bytes: await readAll(res) };
  return receive(res, opts.tmpDir ?? os.tmpdir());
}

/** Bytes kept from the start of a spilled file for sniffing (WebP needs 12). */
const HEAD_BYTES = 16;

/**
 * Reads a body of unknown or large size: in memory while it stays within REFERENCE_MAX_BYTES (it
 * would be sent as is), otherwise into a new private temp file.
 */
async function receive(res: GuardedResponse, dir: string): Promise<RawInput> {
  const chunks: Buffer[] = [];
  let size = 0;
  let head = Buffer.alloc(0);
  let file: FileHandle | null = null;
  const filePath = path.join(dir, `peel-input-${randomUUID()}`);
  try {
    for await (const chunk of res.body as Readable & AsyncIterable<Buffer>) {
      size += chunk.length;
      if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
      if (!file && size > REFERENCE_MAX_BYTES) {
        file = await open(filePath, "wx", 0o600);
        for (const c of chunks.splice(0)) await file.write(c);
      }
      if (file) await file.write(chunk);
      else chunks.push(chunk);
    }
  } catch (err) {
    res.body.destroy();
    if (file) await file.close().catch(() => {});
    if (file) await rm(filePath, { force: true });
    throw err;
  }
  if (!file) return { kind: "memory", bytes: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) };
  try {
    await file.close();
  } catch (err) {
    await rm(filePath, { force: true });
    throw err;
  }
  return { kind: "file", path: filePath, size, head };
}

/** The parsed URL when it names a file under publicUrl's /files/ (same origin, same base path). */
export function ownFileUrl(url: string, publicUrl: string): URL | null {
  let u: URL;
  let base: URL;
  try {
    u = new URL(url);
    base = new URL(publicUrl);
  } catch {
    return null;
  }
  const prefix = `${base.pathname.replace(/\/+$/, "")}/files/`;
  return u.origin === base.origin && u.pathname.startsWith(prefix) ? u : null;
}
