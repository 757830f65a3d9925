import { randomBytes } from "node:crypto";
import { encodeAs } from "../images/convert.js";
import { EXT_OF, sniffImage } from "../images/sniff.js";
import type { GuardedClient } from "../net/guarded-fetch.js";
import {
  RelayAttempt,
  SILENT_RELAY_LOGGER,
  dig,
  downloadResult,
  pollDelay,
  relayCall,
  relayError,
  retryAfterMs,
  sleep,
  type RelayLogger,
  type RelayReply,
} from "../upstreams/relay-http.js";
import type { GeneratedImage, GenerateRequest, ImageEngine, InputImage } from "./engine.js";
import { replicateHttpError, replicatePredictionFailure } from "./replicate-errors.js";
import { REPLICATE_MODELS } from "./replicate-models.js";

/**
 * The `replicate` relay: predictions on Replicate's official Nano Banana models
 * (docs/engines.md#replicate). Input images are uploaded with the Files API first; the prediction
 * is created on `/v1/models/<owner>/<name>/predictions` with `Prefer: wait`, so a fast one comes
 * back finished, and a slower one is polled on its `urls.get` until it succeeds, fails or is
 * canceled. `GenerateRequest.upstreamModel` is the model's `owner/name`.
 */
export interface ReplicateRelayOptions {
  /** origin of Replicate's API. @defaultValue "https://api.replicate.com" */
  baseUrl?: string | null;
  /** an API token, sent as `Authorization: Bearer <token>`. */
  apiKey: string;
  client: GuardedClient;
  attemptTimeoutMs: number;
  attemptTimeout4kMs: number;
  /** one API call or upload, ms (the create call adds its `Prefer: wait`). @defaultValue 60000 */
  requestTimeoutMs?: number;
  /** how long the create call may wait for the prediction, s (Replicate allows 1–60). @defaultValue 60 */
  waitSeconds?: number;
  /** waits before each poll, ms; the last one repeats. @defaultValue [1000, 1000, 2000, 2000, 3000, 5000] */
  pollDelaysMs?: readonly number[];
  /** consecutive failed polls tolerated. @defaultValue 5 */
  maxPollErrors?: number;
  routeName?: string;
  logger?: RelayLogger;
}

const REPLICATE_API = "https://api.replicate.com";
const DEFAULT_POLL_MS = [1000, 1000, 2000, 2000, 3000, 5000] as const;
const TERMINAL = new Set(["succeeded", "failed", "canceled", "aborted"]);

export class ReplicateRelayEngine implements ImageEngine {
  readonly name = "replicate";
  private readonly base: string;
  private readonly route: string;
  private readonly log: RelayLogger;

  constructor(private readonly o: ReplicateRelayOptions) {
    this.base = (o.baseUrl ?? REPLICATE_API).replace(/\/+$/, "");
    this.route = o.routeName ?? "replicate";
    this.log = o.logger ?? SILENT_RELAY_LOGGER;
  }

  async generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
    signal.throwIfAborted();
    const what = `replicate route ${this.route}`;
    const timeout = req.resolution === "4K" ? this.o.attemptTimeout4kMs : this.o.attemptTimeoutMs;
    const attempt = new RelayAttempt(signal, timeout, what);
    let cancelUrl: string | null = null;
    try {
      const files: string[] = [];
      for (const [i, image] of req.images.entries())
        files.push(await this.upload(image, `${req.taskId}-${i + 1}`, attempt.signal));
      const wait = Math.min(60, Math.max(1, this.o.waitSeconds ?? 60));
      const created = await relayCall(this.o.client, {
        url: `${this.base}/v1/models/${req.upstreamModel}/predictions`,
        headers: { ...this.headers(), prefer: `wait=${wait}` },
        json: { input: replicateInput(req, files) },
        signal: attempt.signal,
        timeoutMs: wait * 1000 + this.timeout,
        what: `${what} create prediction`,
      });
      if (created.status < 200 || created.status >= 300) throw replicateHttpError(created, `${what} create prediction`);
      let prediction = created.json;
      const id = dig(prediction, "id");
      if (typeof id !== "string" || !id) throw relayError("server_error", `${what}: create answered without a prediction id`);
      cancelUrl = this.sameOrigin(dig(prediction, "urls", "cancel")) ?? `${this.base}/v1/predictions/${id}/cancel`;
      this.log.info(
        { event: "engine:replicate:created", route: this.route, taskId: req.taskId, predictionId: id },
        "prediction created",
      );
      if (!TERMINAL.has(String(dig(prediction, "status")))) {
        const getUrl = this.sameOrigin(dig(prediction, "urls", "get")) ?? `${this.base}/v1/predictions/${id}`;
        prediction = await this.poll(getUrl, attempt.signal);
      }
      const status = String(dig(prediction, "status"));
      if (status !== "succeeded") throw replicatePredictionFailure(status, dig(prediction, "error"), what);
      cancelUrl = null;
      const output = dig(prediction, "output");
      const url = Array.isArray(output) ? output[0] : output;
      if (typeof url !== "string" || !url) throw relayError("no_image", `${what}: the prediction succeeded without an output`);
      if (url.startsWith("data:")) return await this.fromDataUrl(url, req, what);
      return await downloadResult(this.o.client, {
        url,
        format: req.outputFormat,
        signal: attempt.signal,
        timeoutMs: this.timeout,
        what,
      });
    } catch (err) {
      // A prediction we stop waiting for keeps running (and billing) unless it is canceled.
      if (cancelUrl && attempt.signal.aborted) this.cancel(cancelUrl);
      throw attempt.settle(err);
    } finally {
      attempt.done();
    }
  }

  private get timeout(): number {
    return this.o.requestTimeoutMs ?? 60_000;
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.o.apiKey}` };
  }

  private sameOrigin(v: unknown): string | null {
    if (typeof v !== "string") return null;
    try {
      return new URL(v).origin === new URL(this.base).origin ? v : null;
    } catch {
      return null;
    }
  }

  /** Files API: multipart `content` part; the file's `urls.get` is what a model input takes. */
  private async upload(image: InputImage, name: string, signal: AbortSignal): Promise<string> {
    const boundary = `peel${randomBytes(12).toString("hex")}`;
    const filename = `${name}.${EXT_OF[sniffImage(image.bytes) ?? "png"]}`;
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${filename}"\r\nContent-Type: ${image.mimeType}\r\n\r\n`,
      ),
      image.bytes,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const reply = await relayCall(this.o.client, {
      url: `${this.base}/v1/files`,
      method: "POST",
      headers: { ...this.headers(), "content-type": `multipart/form-data; boundary=${boundary}` },
      body,
      signal,
      timeoutMs: this.timeout,
      what: `replicate route ${this.route} file upload`,
    });
    const url = dig(reply.json, "urls", "get");
    if (reply.status >= 200 && reply.status < 300 && typeof url === "string" && url) return url;
    const err = replicateHttpError(reply, `replicate route ${this.route} upload of ${image.url}`);
    if (err.outcome === "bad_input" || reply.status === 413) {
      throw relayError("bad_input", err.message, {
        status: reply.status,
        reason: "invalid_input",
        failMsg: `Invalid image_input: ${image.url}`,
      });
    }
    throw err;
  }

  private async poll(url: string, signal: AbortSignal): Promise<unknown> {
    const schedule = this.o.pollDelaysMs ?? DEFAULT_POLL_MS;
    const maxErrors = this.o.maxPollErrors ?? 5;
    let errors = 0;
    for (let n = 0; ; n++) {
      await sleep(pollDelay(n, schedule), signal);
      let reply: RelayReply;
      try {
        reply = await relayCall(this.o.client, {
          url,
          headers: this.headers(),
          signal,
          timeoutMs: this.timeout,
          what: `replicate route ${this.route} poll`,
        });
      } catch (err) {
        if (signal.aborted || ++errors > maxErrors) throw err;
        continue;
      }
      if (reply.status === 429) {
        await sleep(retryAfterMs(reply.headers) ?? 0, signal);
        continue;
      }
      if (reply.status >= 500 && ++errors <= maxErrors) continue;
      if (reply.status < 200 || reply.status >= 300) throw replicateHttpError(reply, `replicate route ${this.route} poll`);
      errors = 0;
      if (TERMINAL.has(String(dig(reply.json, "status")))) return reply.json;
    }
  }

  /** Fire-and-forget: the attempt is over either way. */
  private cancel(url: string): void {
    relayCall(this.o.client, {
      url,
      method: "POST",
      headers: this.headers(),
      signal: AbortSignal.timeout(10_000),
      timeoutMs: 10_000,
      what: `replicate route ${this.route} cancel`,
    }).catch((err) =>
      this.log.warn({ event: "engine:replicate:cancel_failed", route: this.route, err: String(err) }, "cancel failed"),
    );
  }

  private async fromDataUrl(url: string, req: GenerateRequest, what: string): Promise<GeneratedImage> {
    const m = /^data:[^;,]*;base64,(.*)$/s.exec(url);
    if (!m) throw relayError("server_error", `${what}: unreadable data URL output`);
    const bytes = Buffer.from(m[1], "base64");
    if (sniffImage(bytes) === null) throw relayError("server_error", `${what}: the output is not an image`);
    const out = await encodeAs(bytes, req.outputFormat);
    return { bytes: out.bytes, format: req.outputFormat, width: out.width, height: out.height };
  }
}

/** The prediction input for a Replicate Nano Banana model; values it does not accept are left out. */
export function replicateInput(req: GenerateRequest, files: string[]): Record<string, unknown> {
  const spec = REPLICATE_MODELS[req.upstreamModel];
  const input: Record<string, unknown> = { prompt: req.prompt, output_format: req.outputFormat === "png" ? "png" : "jpg" };
  if (files.length > 0) input.image_input = files;
  if (req.aspectRatio === "auto") {
    // Replicate's "auto" is match_input_image; without inputs the model's default applies
    if (files.length > 0) input.aspect_ratio = "match_input_image";
  } else if (!spec || spec.ratios.includes(req.aspectRatio)) {
    input.aspect_ratio = req.aspectRatio;
  }
  if (req.resolution && (!spec || spec.resolutions?.includes(req.resolution))) input.resolution = req.resolution;
  if (req.googleSearch && spec?.googleSearch) input.google_search = true;
  return input;
}
