import { Readable } from "node:stream";
import { Agent, request } from "undici";
import { ProviderError } from "../errors.js";
import { encodeAs } from "../images/convert.js";
import type { GeneratedImage, GenerateRequest, ImageEngine } from "./engine.js";
import { classifyHttpError, networkError, nextPacificMidnight } from "./gemini-errors.js";
import { generateContentPayload, generateContentUrl, sendsGoogleSearch, type EndpointTarget } from "./gemini-request.js";
import { interpretResponse, type ResponseSummary } from "./gemini-response.js";
import { vertexTokenSource, VertexAuthError, type AccessTokenSource } from "./vertex-auth.js";

/**
 * The Gemini engine: one `generate` call is exactly one upstream generateContent attempt over
 * plain REST (docs/gemini.md#endpoints-and-keys). The worker owns retries and reads only the
 * ProviderError fields set here. Raw REST rather than @google/genai because the SDK drops
 * `finishMessage`, joins draft images in `response.data` and hides undici's timeouts
 * (docs/gemini.md#why-plain-rest-rather-than-googlegenai).
 */

/** Pino-compatible subset; the engine logs outcomes, never bodies or keys. */
export interface EngineLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface GeminiEngineOptions {
  mode: "gemini" | "vertex";
  /** Gemini API key (x-goog-api-key); in Vertex mode without a project it selects express mode. */
  apiKey?: string | null;
  /**
   * @defaultValue https://generativelanguage.googleapis.com (gemini) / the location's Vertex host
   * (docs/gemini.md#endpoints-and-keys)
   */
  baseUrl?: string | null;
  vertexProject?: string | null;
  /** @defaultValue "global" */
  vertexLocation?: string;
  /** a static OAuth token; otherwise Application Default Credentials. */
  vertexAccessToken?: string | null;
  /** per-attempt timeout, ms, for 1K/2K (and single-size models) and for 4K. */
  attemptTimeoutMs: number;
  attemptTimeout4kMs: number;
  /** time source for the daily-quota window. @defaultValue Date.now */
  clock?: { now(): number };
  /** @defaultValue console-backed logger */
  logger?: EngineLogger;
}

const consoleLogger: EngineLogger = {
  warn: (obj, msg) => console.warn(`[gemini] ${msg}`, obj),
  info: () => {},
};

/** Marks our own attempt timeout, to tell it apart from the caller's abort. */
class AttemptTimeout extends Error {}

export class GeminiEngine implements ImageEngine {
  readonly name: "gemini" | "vertex";
  private readonly opts: GeminiEngineOptions;
  private readonly target: EndpointTarget;
  // headersTimeout/bodyTimeout 0: generateContent sends no headers until the image is done, and
  // undici's 300 s defaults would kill 4K calls (docs/gemini.md#latency-and-timeouts). The
  // AbortSignal below is the only limit.
  private readonly agent = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
  private readonly tokens: AccessTokenSource | null;
  private readonly clock: { now(): number };
  private readonly log: EngineLogger;
  /** while clock.now() is below this, the daily quota is known to be spent. */
  private exhaustedUntil = 0;
  private _healthy = true;
  private _lastError: string | null = null;
  private closed = false;

  constructor(opts: GeminiEngineOptions) {
    this.opts = opts;
    this.name = opts.mode;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.log = opts.logger ?? consoleLogger;
    if (opts.mode === "gemini") {
      if (!opts.apiKey) throw new Error("GeminiEngine: gemini mode needs an API key");
      this.target = { mode: "gemini", baseUrl: opts.baseUrl };
      this.tokens = null;
    } else {
      const express = !opts.vertexProject && !!opts.apiKey;
      if (!opts.vertexProject && !express)
        throw new Error("GeminiEngine: vertex mode needs a project (or an API key for express mode)");
      this.target = {
        mode: "vertex",
        baseUrl: opts.baseUrl,
        project: opts.vertexProject,
        location: opts.vertexLocation ?? "global",
      };
      this.tokens = express ? null : vertexTokenSource(opts.vertexAccessToken);
    }
  }

  /** false after a failure that no retry can fix (404 model, rejected key, billing). */
  get healthy(): boolean {
    return this._healthy;
  }

  /** The last configuration-type failure, for the operator (model id or key problem). */
  get lastError(): string | null {
    return this._lastError;
  }

  async generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
    if (this.closed) throw new Error("GeminiEngine: closed");
    throwIfAborted(signal);
    const model = req.upstreamModel;
    // A per-day 429 means every call fails until Pacific midnight; refuse without contacting
    // Google so we neither waste attempts nor hammer the quota.
    if (this.clock.now() < this.exhaustedUntil) {
      const until = new Date(this.exhaustedUntil).toISOString();
      throw new ProviderError("upstream_busy", `Gemini daily quota exhausted until ${until}; not calling ${model}`, {
        retryable: false,
        dailyQuota: true,
        status: 429,
        outcome: "quota_exhausted",
      });
    }

    if (req.googleSearch && !sendsGoogleSearch(req)) {
      this.log.info(
        { event: "engine:gemini:search_unsupported", taskId: req.taskId, model },
        `${model} has no Google Search grounding; google_search is not sent`,
      );
    }

    const attempt = new AbortController();
    const onAbort = () => attempt.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const timeoutMs = req.resolution === "4K" ? this.opts.attemptTimeout4kMs : this.opts.attemptTimeoutMs;
    const timer = setTimeout(() => attempt.abort(new AttemptTimeout()), timeoutMs);

    let status: number;
    let text: string;
    try {
      // Token fetching (ADC) can stall too; the attempt's signal bounds it like the request.
      const headers = await untilAborted(this.headers(model), attempt.signal);
      // Streamed with its exact length: eight large references never exist as one base64 string.
      const payload = generateContentPayload(req);
      headers["content-length"] = String(payload.length);
      const res = await request(generateContentUrl(this.target, model), {
        method: "POST",
        headers,
        body: Readable.from(payload.chunks(), { objectMode: false }),
        dispatcher: this.agent,
        signal: attempt.signal,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      if (signal.aborted) throw abortError(signal);
      if (attempt.signal.reason instanceof AttemptTimeout) {
        // Google may still finish — and bill — a request we gave up on (docs/gemini.md#retries), so
        // a timeout is retried at most once: retryOnce together with retryable (queue/backoff.ts).
        throw new ProviderError("upstream_busy", `Gemini attempt for ${model} timed out after ${timeoutMs} ms`, {
          retryable: true,
          retryOnce: true,
          outcome: "timeout",
        });
      }
      if (err instanceof ProviderError) throw err;
      throw networkError(err, model);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }

    if (status < 200 || status >= 300) throw this.httpFailure(status, text, model, req.taskId);

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      // A truncated or proxy-mangled 200: treat like a network failure.
      throw networkError(err, model);
    }
    const out = interpretResponse(json, model);
    if (!out.ok) {
      this.log.info(
        { event: "engine:gemini:content", taskId: req.taskId, reason: out.error.reason, ...summaryForLog(out.summary) },
        out.error.message,
      );
      throw out.error;
    }
    this._healthy = true;
    throwIfAborted(signal);
    // encodeAs returns the bytes untouched when the sniffed format already matches
    // (docs/gemini.md#image-formats).
    const encoded = await encodeAs(out.image.bytes, req.outputFormat);
    return { bytes: encoded.bytes, format: req.outputFormat, width: encoded.width, height: encoded.height };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.close();
  }

  private async headers(model: string): Promise<Record<string, string>> {
    const h: Record<string, string> = { "content-type": "application/json", "user-agent": "peel" };
    if (!this.tokens) {
      h["x-goog-api-key"] = this.opts.apiKey as string;
      return h;
    }
    try {
      h.authorization = `Bearer ${await this.tokens.token()}`;
    } catch (err) {
      if (!(err instanceof VertexAuthError)) throw err;
      // The metadata server or token endpoint being unreachable is transient; missing or broken
      // credentials are not.
      const code = (err.cause as { code?: unknown } | undefined)?.code;
      if (typeof code === "string" && /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|UND_ERR_)/.test(code))
        throw networkError(err, model);
      this.markUnhealthy(err.message);
      throw new ProviderError("internal", err.message, { cause: err, outcome: "auth" });
    }
    return h;
  }

  private httpFailure(status: number, text: string, model: string, taskId: string): ProviderError {
    const c = classifyHttpError(status, text, model);
    if (c.dailyQuota) {
      this.exhaustedUntil = nextPacificMidnight(this.clock.now());
      this.log.warn(
        { event: "engine:gemini:daily_quota", model, until: new Date(this.exhaustedUntil).toISOString() },
        "Gemini daily quota exhausted; refusing calls until midnight Pacific",
      );
    } else if (c.unhealthy) {
      this.markUnhealthy(c.error.message);
    }
    this.log.info(
      { event: "engine:gemini:http_error", taskId, model, status, reason: c.error.reason, retryable: c.error.retryable },
      c.error.message,
    );
    return c.error;
  }

  private markUnhealthy(message: string): void {
    this._healthy = false;
    this._lastError = message;
    this.log.warn({ event: "engine:gemini:unhealthy" }, message);
  }
}

function summaryForLog(s: ResponseSummary): object {
  return {
    finishReason: s.finishReason,
    finishMessage: s.finishMessage,
    blockReason: s.blockReason,
    // Model text (a refusal or question) is logged with the task, clipped
    // (docs/gemini.md#reading-a-reply).
    text: s.text.join("\n").slice(0, 500) || undefined,
    responseId: s.responseId,
  };
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  return new DOMException(typeof r === "string" ? r : "The operation was aborted", "AbortError");
}

function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}
