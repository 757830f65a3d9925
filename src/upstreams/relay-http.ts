import type { OutputFormat } from "../domain/types.js";
import type { GeneratedImage } from "../engines/engine.js";
import { ProviderError, type FailReason, type UpstreamOutcome } from "../errors.js";
import { encodeAs } from "../images/convert.js";
import { sniffImage } from "../images/sniff.js";
import { OutboundError, readAll, type GuardedClient, type ResponseHeaders } from "../net/guarded-fetch.js";

/**
 * What the relay engines (kie, fal, Replicate) share: one JSON call through the guarded client
 * with every transport failure turned into a classified ProviderError, the attempt's own timeout,
 * abortable poll sleeps, Retry-After, and the result download. Messages name the provider and the
 * step, never a key or a request body.
 */

export interface RelayLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export const SILENT_RELAY_LOGGER: RelayLogger = { warn() {}, info() {} };

/** Largest JSON answer read from a provider API (bytes). */
const MAX_JSON_BYTES = 4 * 1024 * 1024;
/** Largest result image downloaded (bytes): a 4K PNG is ~25 MB. */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024;

export interface RelayRequest {
  url: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  /** a JSON value (sent as JSON) or raw bytes with their own content-type header. */
  json?: unknown;
  body?: Buffer;
  signal: AbortSignal;
  timeoutMs: number;
  /** the provider and step, for messages: "kie createTask". */
  what: string;
}

export interface RelayReply {
  status: number;
  headers: ResponseHeaders;
  text: string;
  /** the parsed body, or undefined when it is not JSON. */
  json: unknown;
}

/** One API call. Transport failures become ProviderErrors; the caller's abort passes through. */
export async function relayCall(client: GuardedClient, req: RelayRequest): Promise<RelayReply> {
  const headers: Record<string, string> = { accept: "application/json", ...req.headers };
  let body: string | Buffer | undefined = req.body;
  if (req.json !== undefined) {
    body = JSON.stringify(req.json);
    headers["content-type"] = "application/json";
  }
  try {
    const res = await client.fetchBuffer({
      url: req.url,
      method: req.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
      maxRedirects: 0,
      timeoutMs: req.timeoutMs,
      maxBytes: MAX_JSON_BYTES,
      signal: req.signal,
    });
    const text = res.body.toString("utf8");
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  } catch (err) {
    throw transportError(err, req.signal, req.what);
  }
}

/** Downloads the result image and returns it in the requested format (converted when needed). */
export async function downloadResult(
  client: GuardedClient,
  o: {
    url: string;
    format: OutputFormat;
    signal: AbortSignal;
    timeoutMs: number;
    what: string;
    headers?: Record<string, string>;
  },
): Promise<GeneratedImage> {
  let bytes: Buffer;
  try {
    // Result hosts are CDNs that redirect; every hop is checked by the address policy.
    const res = await client.request({
      url: o.url,
      headers: o.headers,
      maxRedirects: 3,
      timeoutMs: o.timeoutMs,
      maxBytes: MAX_RESULT_BYTES,
      signal: o.signal,
    });
    if (res.status < 200 || res.status >= 300) {
      res.body.destroy();
      throw relayError("server_error", `${o.what}: result download answered HTTP ${res.status}`, { status: res.status });
    }
    bytes = await readAll(res);
  } catch (err) {
    if (err instanceof ProviderError) throw err;
    throw transportError(err, o.signal, `${o.what} result download`);
  }
  if (sniffImage(bytes) === null) throw relayError("server_error", `${o.what}: the result is not a PNG, JPEG or WebP image`);
  try {
    const out = await encodeAs(bytes, o.format);
    return { bytes: out.bytes, format: o.format, width: out.width, height: out.height };
  } catch (cause) {
    throw relayError("server_error", `${o.what}: the result image cannot be decoded`, { cause });
  }
}

/**
 * A ProviderError whose retry fields agree with its outcome class, so the single-engine worker
 * (which reads `retryable`/`retryAfterMs`/`retryOnce`) and route failover (which reads `outcome`)
 * make the same decision.
 */
export function relayError(
  outcome: UpstreamOutcome,
  message: string,
  o: { status?: number; retryAfterMs?: number; reason?: FailReason; failMsg?: string; cause?: unknown } = {},
): ProviderError {
  const common = { status: o.status, outcome, cause: o.cause, failMsg: o.failMsg };
  switch (outcome) {
    case "rate_limited":
      return new ProviderError("upstream_busy", message, { ...common, retryable: true, retryAfterMs: o.retryAfterMs });
    case "quota_exhausted":
      return new ProviderError("upstream_busy", message, { ...common, dailyQuota: true });
    case "overloaded":
    case "server_error":
    case "network":
      return new ProviderError("upstream_busy", message, { ...common, retryable: true, retryAfterMs: o.retryAfterMs });
    case "timeout":
      // the provider may still finish (and bill) the abandoned job: at most one more attempt
      return new ProviderError("upstream_busy", message, { ...common, retryable: true, retryOnce: true });
    case "auth":
    case "billing":
    case "unknown_model":
      return new ProviderError("internal", message, common);
    case "content_policy":
      return new ProviderError(o.reason ?? "prompt_blocked", message, common);
    case "bad_input":
      return new ProviderError(o.reason ?? "internal", message, common);
    case "no_image":
      return new ProviderError("no_image", message, { ...common, retryOnce: true });
  }
}

/** The usual meaning of a provider's HTTP status; each engine refines it from the body. */
export function statusOutcome(status: number): UpstreamOutcome {
  if (status === 401 || status === 403) return "auth";
  if (status === 402) return "billing";
  if (status === 404) return "unknown_model";
  if (status === 408 || status === 504) return "timeout";
  if (status === 429) return "rate_limited";
  if (status === 503 || status === 529) return "overloaded";
  if (status >= 500) return "server_error";
  return "bad_input";
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: ResponseHeaders, now: number = Date.now()): number | undefined {
  const raw = headers["retry-after"];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Sleeps `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const done = () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Poll delay before poll number `n` (0-based): the schedule's entries, then its last one. */
export function pollDelay(n: number, schedule: readonly number[]): number {
  return schedule[Math.min(n, schedule.length - 1)];
}

/** Marks the attempt's own timeout, to tell it apart from the caller's abort. */
class AttemptTimeout extends Error {}

/**
 * One generate() call: the caller's signal plus the attempt timeout. `settle(err)` turns whatever
 * was thrown inside into what generate() must throw: the caller's abort reason untouched, our own
 * timeout as a `timeout` ProviderError, ProviderErrors as they are.
 */
export class RelayAttempt {
  private readonly ctl = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: () => void;

  constructor(
    private readonly outer: AbortSignal,
    private readonly timeoutMs: number,
    private readonly what: string,
  ) {
    this.onAbort = () => this.ctl.abort(outer.reason);
    if (outer.aborted) this.onAbort();
    else outer.addEventListener("abort", this.onAbort, { once: true });
    this.timer = setTimeout(() => this.ctl.abort(new AttemptTimeout()), timeoutMs);
  }

  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  settle(err: unknown): unknown {
    if (this.outer.aborted) return abortReason(this.outer);
    if (this.ctl.signal.reason instanceof AttemptTimeout) {
      return relayError("timeout", `${this.what}: no result within the attempt timeout of ${this.timeoutMs} ms`);
    }
    if (err instanceof ProviderError) return err;
    return relayError("server_error", `${this.what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  done(): void {
    clearTimeout(this.timer);
    this.outer.removeEventListener("abort", this.onAbort);
  }
}

function abortReason(signal: AbortSignal): unknown {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new DOMException(typeof r === "string" ? r : "The operation was aborted", "AbortError");
}

function transportError(err: unknown, signal: AbortSignal, what: string): unknown {
  if (signal.aborted) return signal.reason ?? err; // RelayAttempt.settle decides what it was
  if (err instanceof ProviderError) return err;
  if (err instanceof OutboundError) {
    if (err.kind === "timeout") return relayError("timeout", `${what}: ${err.message}`, { cause: err });
    if (err.kind === "network") return relayError("network", `${what}: ${err.message}`, { cause: err });
    // blocked / bad URL / too large: the route or its answers are unusable as configured
    return relayError("server_error", `${what}: ${err.message}`, { cause: err });
  }
  return relayError("network", `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** Reads `obj.a.b…` when every step is an object; undefined otherwise. */
export function dig(obj: unknown, ...keys: string[]): unknown {
  let v = obj;
  for (const k of keys) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
