import { modelSpec, type ModelSpec } from "../domain/models.js";
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
import { kieCodeOutcome, kieTaskFailure } from "./kie-errors.js";

/**
 * The `kie` relay: any kie-compatible API, kie.ai itself or another peel
 * (docs/engines.md#kie-any-kie-compatible-api). One generate() is one upstream task: input images are uploaded to the upstream first (so inputs only
 * this peel can reach still work), createTask is called with the same model and input, recordInfo
 * is polled with a growing delay, and the result is downloaded and returned as bytes — the worker
 * stores it on this peel, so the upstream's URLs never reach the client.
 */
export interface KieRelayOptions {
  /** origin of the kie-compatible API. @defaultValue "https://api.kie.ai" */
  baseUrl?: string | null;
  /** origin of its file-upload API. @defaultValue "https://kieai.redpandaai.co" for kie.ai, else baseUrl */
  uploadUrl?: string | null;
  apiKey: string;
  /** the outbound client (address policy applies to the API, uploads and result downloads). */
  client: GuardedClient;
  /** whole-attempt timeout, ms, for 1K/2K (and single-size models) and for 4K. */
  attemptTimeoutMs: number;
  attemptTimeout4kMs: number;
  /** one API call or upload, ms. @defaultValue 60000 */
  requestTimeoutMs?: number;
  /** waits before each recordInfo poll, ms; the last one repeats. @defaultValue [2000, 2000, 3000, 3000, 5000, 5000, 8000] */
  pollDelaysMs?: readonly number[];
  /** consecutive failed polls (5xx, network) tolerated before the attempt fails. @defaultValue 5 */
  maxPollErrors?: number;
  /** the route's name, for messages and logs. @defaultValue "kie" */
  routeName?: string;
  logger?: RelayLogger;
}

const KIE_AI = "https://api.kie.ai";
const KIE_AI_UPLOAD = "https://kieai.redpandaai.co";
/** kie's polling advice: every 2–3 s at first, then every 5–10 s (docs/kie-contract.md §6.2). */
const DEFAULT_POLL_MS = [2000, 2000, 3000, 3000, 5000, 5000, 8000] as const;
/** recordInfo may briefly not know a task kie.ai has just accepted (docs/kie-contract.md §5.3). */
const UNKNOWN_TASK_GRACE = 5;

export class KieRelayEngine implements ImageEngine {
  readonly name = "kie";
  private readonly base: string;
  private readonly uploadBase: string;
  private readonly route: string;
  private readonly log: RelayLogger;

  constructor(private readonly o: KieRelayOptions) {
    this.base = (o.baseUrl ?? KIE_AI).replace(/\/+$/, "");
    this.uploadBase = (o.uploadUrl ?? (new URL(this.base).hostname === "api.kie.ai" ? KIE_AI_UPLOAD : this.base)).replace(
      /\/+$/,
      "",
    );
    this.route = o.routeName ?? "kie";
    this.log = o.logger ?? SILENT_RELAY_LOGGER;
  }

  async generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
    signal.throwIfAborted();
    const timeout = req.resolution === "4K" ? this.o.attemptTimeout4kMs : this.o.attemptTimeoutMs;
    const attempt = new RelayAttempt(signal, timeout, `kie route ${this.route}`);
    try {
      // upstream URL → the task's own input URL, to name the right one in `Invalid image_input: <url>`
      const inputs = new Map<string, string>();
      const urls: string[] = [];
      for (const [i, image] of req.images.entries()) {
        const url = await this.upload(image, `${req.taskId}-${i + 1}`, attempt.signal);
        urls.push(url);
        inputs.set(url, image.url);
      }
      const upstreamTaskId = await this.createTask(req, urls, attempt.signal);
      this.log.info(
        { event: "engine:kie:created", route: this.route, taskId: req.taskId, upstreamTaskId },
        "upstream task created",
      );
      const resultUrl = await this.waitForResult(upstreamTaskId, inputs, attempt.signal);
      return await downloadResult(this.o.client, {
        url: resultUrl,
        format: req.outputFormat,
        signal: attempt.signal,
        timeoutMs: this.timeout,
        what: `kie route ${this.route}`,
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
    return { authorization: `Bearer ${this.o.apiKey}` };
  }

  /** Uploads one input with the Base64 upload API; returns the URL the upstream can read. */
  private async upload(image: InputImage, name: string, signal: AbortSignal): Promise<string> {
    const ext = EXT_OF[sniffImage(image.bytes) ?? "png"];
    const reply = await relayCall(this.o.client, {
      url: `${this.uploadBase}/api/file-base64-upload`,
      headers: this.headers(),
      json: {
        base64Data: `data:${image.mimeType};base64,${image.bytes.toString("base64")}`,
        uploadPath: "peel-relay",
        fileName: `${name}.${ext}`,
      },
      signal,
      timeoutMs: this.timeout,
      what: `kie route ${this.route} upload`,
    });
    const code = envelopeCode(reply);
    const url = dig(reply.json, "data", "downloadUrl") ?? dig(reply.json, "data", "fileUrl");
    if (code === 200 && typeof url === "string" && url) return url;
    const msg = envelopeMsg(reply);
    const what = `kie route ${this.route}: upload of ${image.url} refused (${code}: ${msg})`;
    // the upload API answers 400 for the file itself (type, size): this input cannot be used
    if (code === 400) {
      throw relayError("bad_input", what, { reason: "invalid_input", failMsg: `Invalid image_input: ${image.url}` });
    }
    throw this.envelopeError(reply, code, msg, what);
  }

  private async createTask(req: GenerateRequest, urls: string[], signal: AbortSignal): Promise<string> {
    const spec = modelSpec(req.upstreamModel) ?? modelSpec(req.model);
    const reply = await relayCall(this.o.client, {
      url: `${this.base}/api/v1/jobs/createTask`,
      headers: this.headers(),
      json: { model: req.upstreamModel, input: kieInput(req, spec, urls) },
      signal,
      timeoutMs: this.timeout,
      what: `kie route ${this.route} createTask`,
    });
    const code = envelopeCode(reply);
    const taskId = dig(reply.json, "data", "taskId");
    if (code === 200 && typeof taskId === "string" && taskId) return taskId;
    const msg = envelopeMsg(reply);
    throw this.envelopeError(
      reply,
      code,
      msg,
      `kie route ${this.route}: createTask for ${req.upstreamModel} refused (${code}: ${msg})`,
    );
  }

  /** Polls recordInfo until the task ends; returns the result URL or throws its failure. */
  private async waitForResult(taskId: string, inputs: ReadonlyMap<string, string>, signal: AbortSignal): Promise<string> {
    const schedule = this.o.pollDelaysMs ?? DEFAULT_POLL_MS;
    const maxErrors = this.o.maxPollErrors ?? 5;
    let errors = 0;
    let unknown = 0;
    let wait = pollDelay(0, schedule);
    for (let n = 0; ; n++) {
      await sleep(wait, signal);
      wait = pollDelay(n + 1, schedule);
      let reply: RelayReply;
      try {
        reply = await relayCall(this.o.client, {
          url: `${this.base}/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(taskId)}`,
          headers: this.headers(),
          signal,
          timeoutMs: this.timeout,
          what: `kie route ${this.route} recordInfo`,
        });
      } catch (err) {
        if (signal.aborted || ++errors > maxErrors) throw err;
        continue;
      }
      const code = envelopeCode(reply);
      if (code === 429) {
        // the upstream's read limit, not the task: wait as told and keep polling
        wait = Math.max(wait, retryAfterMs(reply.headers) ?? wait);
        continue;
      }
      if (code === 422 && /recordInfo is null/i.test(envelopeMsg(reply)) && ++unknown <= UNKNOWN_TASK_GRACE) continue;
      if (code !== 200) {
        const msg = envelopeMsg(reply);
        const err = this.envelopeError(
          reply,
          code,
          msg,
          `kie route ${this.route}: recordInfo for ${taskId} answered ${code}: ${msg}`,
        );
        if (err.outcome === "server_error" || err.outcome === "overloaded") {
          if (++errors <= maxErrors) continue;
        }
        throw err;
      }
      errors = 0;
      const state = dig(reply.json, "data", "state");
      if (state === "success") return resultUrlOf(reply, this.route);
      if (state === "fail") {
        const failCode = dig(reply.json, "data", "failCode");
        const failMsg = dig(reply.json, "data", "failMsg");
        throw kieTaskFailure(String(failCode ?? ""), typeof failMsg === "string" ? failMsg : "", inputs);
      }
    }
  }

  private envelopeError(reply: RelayReply, code: number, msg: string, what: string) {
    const outcome = kieCodeOutcome(code, msg);
    return relayError(outcome, what, { status: reply.status, retryAfterMs: retryAfterMs(reply.headers) });
  }
}

/** The createTask `input` for the upstream model, with kie's field names for that model. */
export function kieInput(req: GenerateRequest, spec: ModelSpec | undefined, urls: string[]): Record<string, unknown> {
  const input: Record<string, unknown> = { prompt: req.prompt };
  if (urls.length > 0 || spec?.imageRequired) input[spec?.imageField ?? "image_input"] = urls;
  input[spec?.ratioField ?? "aspect_ratio"] = req.aspectRatio;
  if (req.resolution && (spec?.resolutions ?? ["1K", "2K", "4K"]).includes(req.resolution)) input.resolution = req.resolution;
  const formats = spec?.formats ?? ["png", "jpg"];
  if (formats.length > 0) input.output_format = req.outputFormat === "png" ? "png" : formats.includes("jpg") ? "jpg" : "jpeg";
  if (req.googleSearch && spec?.hasGoogleSearch) input.google_search = true;
  return input;
}

/** The body `code`; HTTP statuses outside 2xx win (a proxy's 502 has no kie body). */
function envelopeCode(reply: RelayReply): number {
  const code = dig(reply.json, "code");
  if (reply.status < 200 || reply.status >= 300) return reply.status;
  return typeof code === "number" ? code : 500;
}

function envelopeMsg(reply: RelayReply): string {
  const msg = dig(reply.json, "msg") ?? dig(reply.json, "message");
  return typeof msg === "string" ? msg.slice(0, 200) : reply.text.slice(0, 200) || `HTTP ${reply.status}`;
}

function resultUrlOf(reply: RelayReply, route: string): string {
  const raw = dig(reply.json, "data", "resultJson");
  let urls: unknown;
  try {
    urls = typeof raw === "string" ? dig(JSON.parse(raw), "resultUrls") : dig(raw, "resultUrls");
  } catch {
    urls = undefined;
  }
  if (Array.isArray(urls) && typeof urls[0] === "string" && urls[0]) return urls[0];
  throw relayError("server_error", `kie route ${route}: a successful task without resultUrls`);
}
