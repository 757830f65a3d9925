import type { InputImage } from "../engines/engine.js";
import { ProviderError } from "../errors.js";
import { prepareReference } from "../images/reference.js";
import { sniffImage } from "../images/sniff.js";
import type { AddressPolicy } from "../net/address-guard.js";
import { OutboundError, guardedFetchBuffer } from "../net/guarded-fetch.js";
import type { GuardedClient } from "../net/guarded-fetch.js";

/**
 * Turns a task's `image_input` URLs into the InputImages an engine sends upstream (kie-contract
 * §4.1, §6.3; gemini-notes §12). URLs are loaded one at a time and in order, and each raw file is
 * dropped as soon as its prepared (≤ 7 MB) form exists, so a task with eight 30 MiB inputs holds
 * at most one raw input besides the prepared ones.
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
}

/** kie-contract §10.1: inputs follow at most 3 redirects, each hop checked. */
const MAX_REDIRECTS = 3;

export async function loadInputImages(urls: string[], opts: InputLoaderOptions, signal: AbortSignal): Promise<InputImage[]> {
  const images: InputImage[] = [];
  for (const url of urls) images.push(await loadOne(url, opts, signal));
  return images;
}

async function loadOne(url: string, opts: InputLoaderOptions, signal: AbortSignal): Promise<InputImage> {
  signal.throwIfAborted();
  try {
    const raw = await fetchRaw(url, opts, signal);
    if (raw.length > opts.maxBytes) throw new Error(`${raw.length} bytes exceeds the ${opts.maxBytes}-byte limit`);
    // Judged by the bytes only: servers label images wrongly in both directions.
    const format = sniffImage(raw);
    if (format === null) throw new Error("not a JPEG, PNG or WebP file");
    const prepared = await prepareReference(raw);
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
  }
}

async function fetchRaw(url: string, opts: InputLoaderOptions, signal: AbortSignal): Promise<Buffer> {
  const own = opts.readOwnFile ? ownFileUrl(url, opts.publicUrl) : null;
  if (own && opts.readOwnFile) {
    // Our own files never go over HTTP: no loopback exemption needed, no socket, no signed link.
    const bytes = await opts.readOwnFile(own, opts.maxBytes);
    if (bytes === null) throw new Error("peel file not found (expired or never uploaded)");
    return bytes;
  }
  const req = { url, maxRedirects: MAX_REDIRECTS, timeoutMs: opts.timeoutMs, maxBytes: opts.maxBytes, signal };
  const res = opts.client
    ? await opts.client.fetchBuffer(req)
    : await guardedFetchBuffer({ ...req, policy: opts.policy, connectTimeoutMs: opts.connectTimeoutMs });
  if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status} from ${res.url}`);
  return res.body;
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
