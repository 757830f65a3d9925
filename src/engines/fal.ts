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
import type { GeneratedImage, GenerateRequest, ImageEngine } from "./engine.js";
import { falError } from "./fal-errors.js";
import { FAL_APPS } from "./fal-models.js";

/**
 * The `fal` relay: fal's queue API for the Nano Banana apps (docs/engines.md#fal). One generate()
 * submits one request (`POST <queue>/<app>` or `<app>/edit` when the task has input images, which
 * are sent as data URIs), polls its status URL until COMPLETED, reads the result and downloads the
 * image. `GenerateRequest.upstreamModel` is the fal app id (`fal-ai/nano-banana-pro`).
 */
export interface FalRelayOptions {
  /** origin of fal's queue. @defaultValue "https://queue.fal.run" */
  baseUrl?: string | null;
  /** a fal key, sent as `Authorization: Key <key>`. */
  apiKey: string;
  client: GuardedClient;
  attemptTimeoutMs: number;
  attemptTimeout4kMs: number;
  /** one API call, ms. @defaultValue 60000 */
  requestTimeoutMs?: number;
  /** waits before each status poll, ms; the last one repeats. @defaultValue [1000, 1000, 2000, 2000, 3000, 5000] */
  pollDelaysMs?: readonly number[];
  /** consecutive failed polls tolerated. @defaultValue 5 */
  maxPollErrors?: number;
  routeName?: string;
  logger?: RelayLogger;
}

const FAL_QUEUE = "https://queue.fal.run";
const DEFAULT_POLL_MS = [1000, 1000, 2000, 2000, 3000, 5000] as const;

export class FalRelayEngine implements ImageEngine {
  readonly name = "fal";
  private readonly base: string;
  private readonly route: string;
  private readonly log: RelayLogger;

  constructor(private readonly o: FalRelayOptions) {
    this.base = (o.baseUrl ?? FAL_QUEUE).replace(/\/+$/, "");
    this.route = o.routeName ?? "fal";
    this.log = o.logger ?? SILENT_RELAY_LOGGER;
  }

  async generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
    signal.throwIfAborted();
    const what = `fal route ${this.route}`;
    const timeout = req.resolution === "4K" ? this.o.attemptTimeout4kMs : this.o.attemptTimeoutMs;
    const attempt = new RelayAttempt(signal, timeout, what);
    const inputs = req.images.map((i) => i.url);
    try {
      const app = req.upstreamModel.replace(/\/edit$/, "");
      const endpoint = req.images.length > 0 ? `${app}/edit` : app;
      const submit = await relayCall(this.o.client, {
        url: `${this.base}/${endpoint}`,
        headers: this.headers(),
        json: falInput(req, app),
        signal: attempt.signal,
        timeoutMs: this.timeout,
        what: `${what} submit to ${endpoint}`,
      });
      if (submit.status < 200 || submit.status >= 300) throw falError(submit, `${what} submit to ${endpoint}`, inputs);
      const requestId = dig(submit.json, "request_id");
      if (typeof requestId !== "string" || !requestId)
        throw relayError("server_error", `${what}: submit answered without a request_id`);
      this.log.info({ event: "engine:fal:submitted", route: this.route, taskId: req.taskId, requestId }, "fal request queued");
      // fal says to use the URLs it returns; they address the app without its endpoint path
      const appPath = app.split("/").slice(0, 2).join("/");
      const statusUrl = this.sameOrigin(submit, "status_url") ?? `${this.base}/${appPath}/requests/${requestId}/status`;
      const responseUrl = this.sameOrigin(submit, "response_url") ?? `${this.base}/${appPath}/requests/${requestId}`;
      await this.waitForCompletion(statusUrl, attempt.signal);

      const result = await relayCall(this.o.client, {
        url: responseUrl,
        headers: this.headers(),
        signal: attempt.signal,
        timeoutMs: this.timeout,
        what: `${what} result`,
      });
      if (result.status < 200 || result.status >= 300) throw falError(result, `${what} result`, inputs);
      const images = dig(result.json, "images");
      const url = Array.isArray(images) ? dig(images[0], "url") : undefined;
      if (typeof url !== "string" || !url) throw relayError("no_image", `${what}: the request completed without an image`);
      return await downloadResult(this.o.client, {
        url,
        format: req.outputFormat,
        signal: attempt.signal,
        timeoutMs: this.timeout,
        what,
      });
    } catch (err) {
      throw attempt.settle(err);
    } finally {
      attempt.done();
    }
  }

  private get timeout(): number {
    return this.o.requestTimeoutMs ?? 60_000;
  }

  private headers(): Record<string, string> {
    return { authorization: `Key ${this.o.apiKey}` };
  }

  /** A URL from the submit answer, used only when it is on the queue's own origin (the key goes with it). */
  private sameOrigin(reply: RelayReply, field: string): string | null {
    const v = dig(reply.json, field);
    if (typeof v !== "string") return null;
    try {
      return new URL(v).origin === new URL(this.base).origin ? v : null;
    } catch {
      return null;
    }
  }

  private async waitForCompletion(statusUrl: string, signal: AbortSignal): Promise<void> {
    const schedule = this.o.pollDelaysMs ?? DEFAULT_POLL_MS;
    const maxErrors = this.o.maxPollErrors ?? 5;
    let errors = 0;
    for (let n = 0; ; n++) {
      await sleep(pollDelay(n, schedule), signal);
      let reply: RelayReply;
      try {
        reply = await relayCall(this.o.client, {
          url: statusUrl,
          headers: this.headers(),
          signal,
          timeoutMs: this.timeout,
          what: `fal route ${this.route} status`,
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
      if (reply.status < 200 || reply.status >= 300) throw falError(reply, `fal route ${this.route} status`, []);
      errors = 0;
      const status = dig(reply.json, "status");
      if (status === "COMPLETED") return;
      if (status !== "IN_QUEUE" && status !== "IN_PROGRESS") {
        throw relayError("server_error", `fal route ${this.route}: unexpected request status ${JSON.stringify(status)}`);
      }
    }
  }
}

/** The request body for a fal Nano Banana app; values the app does not accept are left out. */
export function falInput(req: GenerateRequest, app: string): Record<string, unknown> {
  const spec = FAL_APPS[app];
  const edit = req.images.length > 0;
  const input: Record<string, unknown> = {
    prompt: req.prompt,
    num_images: 1,
    output_format: req.outputFormat === "png" ? "png" : "jpeg",
  };
  const ratios = spec ? (edit ? spec.editRatios : spec.ratios) : null;
  if (!ratios || ratios.includes(req.aspectRatio)) input.aspect_ratio = req.aspectRatio;
  if (req.resolution && (!spec || spec.resolutions?.includes(req.resolution))) input.resolution = req.resolution;
  if (req.googleSearch && spec?.webSearch) input.enable_web_search = true;
  // fal accepts data URIs wherever it takes a file URL, so inputs only peel can reach still work
  if (edit) input.image_urls = req.images.map((i) => `data:${i.mimeType};base64,${i.bytes.toString("base64")}`);
  return input;
}
