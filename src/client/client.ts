import { readSse } from "./sse.js";
import {
  type CreateTaskRequest,
  type Delivery,
  isTerminalState,
  type LedgerEntry,
  resultUrlsOf,
  type TaskPage,
  type TaskRecord,
  type TaskState,
  type UploadResult,
} from "./types.js";

export interface PeelClientOptions {
  /** e.g. `http://localhost:8080`, or kie.ai's `https://api.kie.ai`. */
  baseUrl: string;
  apiKey: string;
  /**
   * Base URL of the upload API. peel serves it on the same origin; kie.ai on its own host.
   * @defaultValue baseUrl (kie.ai's upload host when baseUrl is api.kie.ai)
   */
  uploadBaseUrl?: string;
  /** @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
}

export interface WaitOptions {
  /** called with every new state seen (from events or polls). */
  onUpdate?: (record: TaskRecord) => void;
  signal?: AbortSignal;
  /**
   * `events`: server-sent events only; `poll`: recordInfo only; `auto` uses events when the
   * server has them (peel) and polls otherwise (kie.ai). @defaultValue "auto"
   */
  mode?: "auto" | "events" | "poll";
  /** give up after this long (rejects with a PeelError code 408). @defaultValue 20 minutes */
  timeoutMs?: number;
  /**
   * Polling schedule: the delay before the next recordInfo poll, from the time waited so far.
   * @defaultValue kie's advice: 2 s for the first 30 s, then 5 s, after 2 min 15 s
   */
  pollDelayMs?: (elapsedMs: number) => number;
}

/** An error answer of the API (kie envelope), or a transport failure (code 0). */
export class PeelError extends Error {
  constructor(
    message: string,
    /** the body `code` (kie's business code), or the HTTP status when there was no body. */
    readonly code: number,
    readonly httpStatus: number,
    /** seconds, from Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "PeelError";
  }
}

/** `generate` settles with this when the task ends in `fail`. */
export class TaskFailedError extends Error {
  constructor(readonly record: TaskRecord) {
    super(record.failMsg || `task ${record.taskId} failed (${record.failCode})`);
    this.name = "TaskFailedError";
  }
}

const KIE_HOST = "api.kie.ai";
const KIE_UPLOAD_BASE = "https://kieai.redpandaai.co";

/** kie's published polling advice (docs/kie-contract.md §6.2). */
export const defaultPollDelay = (elapsedMs: number): number =>
  elapsedMs < 30_000 ? 2_000 : elapsedMs < 120_000 ? 5_000 : 15_000;

/**
 * A client of peel's task API, and of kie.ai's (the same wire contract). No dependencies:
 * fetch only, in Node 20+ and browsers. The key travels in the Authorization header only.
 */
export class PeelClient {
  readonly baseUrl: string;
  readonly uploadBaseUrl: string;
  private readonly key: string;
  private readonly fetch: typeof fetch;
  /** false once the server answered the events endpoint with 404 (kie.ai): poll from then on. */
  private eventsAvailable: boolean | null = null;

  constructor(o: PeelClientOptions) {
    this.baseUrl = o.baseUrl.replace(/\/+$/, "");
    this.key = o.apiKey;
    const isKie = safeHost(this.baseUrl) === KIE_HOST;
    this.uploadBaseUrl = (o.uploadBaseUrl ?? (isKie ? KIE_UPLOAD_BASE : this.baseUrl)).replace(/\/+$/, "");
    this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** POST /api/v1/jobs/createTask → the taskId. The input is typed per model. */
  async createTask(
    req: CreateTaskRequest | { model: string; input: Record<string, unknown>; callBackUrl?: string },
    opts: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<string> {
    const headers: Record<string, string> = {};
    if (opts.idempotencyKey) headers["idempotency-key"] = opts.idempotencyKey;
    const data = await this.call<{ taskId: string }>("POST", "/api/v1/jobs/createTask", {
      body: req,
      headers,
      signal: opts.signal,
    });
    return data.taskId;
  }

  /** GET /api/v1/jobs/recordInfo. */
  getTask(taskId: string, opts: { signal?: AbortSignal } = {}): Promise<TaskRecord> {
    return this.call<TaskRecord>("GET", `/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(taskId)}`, opts);
  }

  /** POST /api/v1/jobs/cancel (peel extension). */
  cancelTask(taskId: string): Promise<TaskRecord> {
    return this.call<TaskRecord>("POST", "/api/v1/jobs/cancel", { body: { taskId } });
  }

  /**
   * Resolves with the task's final record (`success` or `fail`: check `state`). Follows the
   * task's server-sent events where the server has them, and polls recordInfo otherwise or when
   * the stream keeps breaking.
   */
  async waitForTask(taskId: string, opts: WaitOptions = {}): Promise<TaskRecord> {
    const mode = opts.mode ?? "auto";
    const deadline = Date.now() + (opts.timeoutMs ?? 20 * 60_000);
    const started = Date.now();
    let last: TaskRecord | undefined;
    const seen = (r: TaskRecord) => {
      if (last && last.state === r.state && last.updateTime === r.updateTime && last.queuePosition === r.queuePosition) return;
      last = r;
      opts.onUpdate?.(r);
    };
    if (mode !== "poll" && this.eventsAvailable !== false) {
      const r = await this.followEvents(taskId, seen, deadline, opts.signal, mode === "events");
      if (r) return r;
    }
    for (;;) {
      throwIfAborted(opts.signal);
      try {
        const r = await this.getTask(taskId, { signal: opts.signal });
        seen(r);
        if (isTerminalState(r.state)) return r;
      } catch (err) {
        // rate limits, 5xx and network trouble are passing; anything else is an answer
        if (!(err instanceof PeelError) || !(err.code === 0 || err.code === 429 || err.httpStatus >= 500)) throw err;
      }
      const wait = (opts.pollDelayMs ?? defaultPollDelay)(Date.now() - started);
      if (Date.now() + wait > deadline) throw new PeelError(`task ${taskId} did not finish in time`, 408, 0);
      await sleep(wait, opts.signal);
    }
  }

  /** createTask, then waitForTask; rejects with TaskFailedError when the task fails. */
  async generate(
    req: Parameters<PeelClient["createTask"]>[0],
    opts: WaitOptions & { idempotencyKey?: string } = {},
  ): Promise<{ taskId: string; record: TaskRecord; urls: string[] }> {
    const taskId = await this.createTask(req, { idempotencyKey: opts.idempotencyKey, signal: opts.signal });
    const record = await this.waitForTask(taskId, opts);
    if (record.state !== "success") throw new TaskFailedError(record);
    return { taskId, record, urls: resultUrlsOf(record) };
  }

  /** POST /api/file-base64-upload: bytes, bare Base64 or a data URL. */
  uploadBase64(
    data: string | Uint8Array,
    opts: { uploadPath?: string; fileName?: string; mimeType?: string } = {},
  ): Promise<UploadResult> {
    const base64Data = typeof data === "string" ? data : `data:${opts.mimeType ?? "image/png"};base64,${toBase64(data)}`;
    return this.upload("/api/file-base64-upload", {
      body: { base64Data, uploadPath: opts.uploadPath, fileName: opts.fileName },
    });
  }

  /** POST /api/file-stream-upload (multipart): a Blob or File (in Node: `fs.openAsBlob(path)` streams from disk). */
  uploadFile(file: Blob, opts: { uploadPath?: string; fileName?: string } = {}): Promise<UploadResult> {
    const form = new FormData();
    if (opts.uploadPath) form.set("uploadPath", opts.uploadPath);
    if (opts.fileName) form.set("fileName", opts.fileName);
    form.set("file", file, opts.fileName ?? (file as { name?: string }).name ?? "upload");
    return this.upload("/api/file-stream-upload", { form });
  }

  /** POST /api/file-url-upload: the server fetches the URL. */
  uploadUrl(fileUrl: string, opts: { uploadPath?: string; fileName?: string } = {}): Promise<UploadResult> {
    return this.upload("/api/file-url-upload", { body: { fileUrl, uploadPath: opts.uploadPath, fileName: opts.fileName } });
  }

  /** GET /api/v1/chat/credit: the available balance. */
  credits(): Promise<number> {
    return this.call<number>("GET", "/api/v1/chat/credit");
  }

  /** POST /api/v1/common/download-url: a 20-minute link served as an attachment. */
  downloadUrl(url: string): Promise<string> {
    return this.call<string>("POST", "/api/v1/common/download-url", { body: { url } });
  }

  /** GET /api/v1/jobs/list (peel extension): this account's tasks, newest first. */
  listTasks(q: { pageNum?: number; pageSize?: number; state?: TaskState; model?: string } = {}): Promise<TaskPage> {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") p.set(k, String(v));
    return this.call<TaskPage>("GET", `/api/v1/jobs/list${p.size ? `?${p}` : ""}`);
  }

  /** GET /api/v1/jobs/deliveries (peel extension): a task's callback deliveries and their attempts. */
  taskDeliveries(taskId: string): Promise<Delivery[]> {
    return this.call<Delivery[]>("GET", `/api/v1/jobs/deliveries?taskId=${encodeURIComponent(taskId)}`);
  }

  /** GET /api/v1/chat/credit/ledger (peel extension): credit movements, newest first. */
  ledger(q: { limit?: number } = {}): Promise<LedgerEntry[]> {
    return this.call<LedgerEntry[]>("GET", `/api/v1/chat/credit/ledger${q.limit ? `?limit=${q.limit}` : ""}`);
  }

  /**
   * Follows /api/v1/jobs/events. Returns the terminal record, or null to fall back to polling
   * (no events endpoint, or the stream broke too often). Resumes with Last-Event-ID.
   */
  private async followEvents(
    taskId: string,
    seen: (r: TaskRecord) => void,
    deadline: number,
    signal: AbortSignal | undefined,
    only: boolean,
  ): Promise<TaskRecord | null> {
    let lastId: string | undefined;
    let final: TaskRecord | null = null;
    for (let breaks = 0; breaks < 5; breaks++) {
      throwIfAborted(signal);
      const ctrl = new AbortController();
      const onAbort = () => ctrl.abort(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => ctrl.abort(), Math.max(0, deadline - Date.now()));
      try {
        const res = await this.fetch(`${this.baseUrl}/api/v1/jobs/events?taskId=${encodeURIComponent(taskId)}`, {
          headers: {
            authorization: `Bearer ${this.key}`,
            accept: "text/event-stream",
            ...(lastId ? { "last-event-id": lastId } : {}),
          },
          signal: ctrl.signal,
        });
        const type = res.headers.get("content-type") ?? "";
        if (res.status === 204) break;
        if (!type.startsWith("text/event-stream") || !res.body) {
          const body = await parseBody(res);
          if (res.status === 404 || (body && body.code === 404)) {
            this.eventsAvailable = false;
            if (only) throw new PeelError("this server has no events endpoint", 404, res.status);
            return null;
          }
          throw errorOf(res, body);
        }
        this.eventsAvailable = true;
        await readSse(res.body, (m) => {
          if (m.id) lastId = m.id;
          if (m.event !== "state") return;
          const r = JSON.parse(m.data) as TaskRecord;
          seen(r);
          if (isTerminalState(r.state)) final = r;
        });
        if (final) return final;
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        if (err instanceof PeelError) throw err;
        if (Date.now() >= deadline) throw new PeelError(`task ${taskId} did not finish in time`, 408, 0);
        // a broken stream: resume shortly with Last-Event-ID
        await sleep(Math.min(5_000, 250 * 2 ** breaks), signal);
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
      if (final) return final;
    }
    if (only) throw new PeelError("the events stream kept breaking", 0, 0);
    return null;
  }

  private async upload(path: string, o: { body?: unknown; form?: FormData }): Promise<UploadResult> {
    const res = await this.send("POST", this.uploadBaseUrl + path, o);
    const body = await parseBody(res);
    if (body?.code !== 200 || body.success === false) throw errorOf(res, body);
    return body.data as UploadResult;
  }

  private async call<T>(
    method: string,
    path: string,
    o: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<T> {
    const res = await this.send(method, this.baseUrl + path, o);
    const body = await parseBody(res);
    if (body?.code !== 200) throw errorOf(res, body);
    return body.data as T;
  }

  private async send(
    method: string,
    url: string,
    o: { body?: unknown; form?: FormData; headers?: Record<string, string>; signal?: AbortSignal },
  ): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, ...o.headers };
    let body: RequestInit["body"];
    if (o.form) body = o.form;
    else if (o.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(o.body);
    }
    try {
      return await this.fetch(url, { method, headers, body, signal: o.signal });
    } catch (err) {
      if (o.signal?.aborted) throw err;
      throw new PeelError(`cannot reach ${safeOrigin(url)}: ${(err as Error).message}`, 0, 0);
    }
  }
}

type Envelope = { code?: number; msg?: string; data?: unknown; success?: boolean };

async function parseBody(res: Response): Promise<Envelope | null> {
  const text = await res.text().catch(() => "");
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" ? (v as Envelope) : null;
  } catch {
    return null;
  }
}

function errorOf(res: Response, body: Envelope | null): PeelError {
  const retry = Number(res.headers.get("retry-after"));
  const code = typeof body?.code === "number" ? body.code : res.status;
  const msg = typeof body?.msg === "string" && body.msg ? body.msg : `HTTP ${res.status}`;
  return new PeelError(msg, code, res.status, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason ?? new Error("aborted");
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "";
  }
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "the server";
  }
}
