import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { sniffImage } from "../../src/images/sniff.js";
import { picture } from "./fake-kie.js";

/**
 * A local stand-in for fal's queue API (fal's "Asynchronous Inference" and "Queue API" pages, the
 * Nano Banana model pages, "Model Errors" and "Request Error Types"): submit
 * `POST /<owner>/<app>[/<path>]` with `Authorization: Key …`, status `GET …/requests/<id>/status`
 * (202 while IN_QUEUE / IN_PROGRESS, 200 when COMPLETED), result `GET …/requests/<id>`, cancel
 * `PUT …/requests/<id>/cancel`, and a CDN path for the images. Inputs are checked against each
 * app's documented fields; unknown fields are refused so adapter mistakes show up here.
 * Scenarios (`enqueue`, or `[[fake:<name>]]` in the prompt):
 *
 *   ok · submit_401 · submit_403_locked · submit_429 · submit_500 · submit_503 · submit_content
 *   result_content · result_image_error · result_500 · result_504 · result_runner · no_images
 *   status_500:<n> · slow:<ms> · hang
 */

export interface FakeFalRequest {
  method: string;
  path: string;
  authorized: boolean;
  body: any;
}

export interface FakeFal {
  url: string;
  requests: FakeFalRequest[];
  enqueue(...scenarios: string[]): void;
  /** the next `n` calls answer with `scenario` (e.g. `failNext(3, "http_429")`). */
  failNext(n: number, scenario: string): void;
  reset(): void;
  close(): Promise<void>;
}

const TEN = ["21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16"];
const EXTREMES = ["1:4", "4:1", "1:8", "8:1"];
/** Documented fields per endpoint: aspect_ratio values and resolution values (null: no such field). */
const APPS: Record<string, { ratios: string[]; resolutions: string[] | null; edit: boolean }> = {
  "fal-ai/nano-banana-pro": { ratios: ["auto", ...TEN], resolutions: ["1K", "2K", "4K"], edit: false },
  "fal-ai/nano-banana-pro/edit": { ratios: ["auto", ...TEN], resolutions: ["1K", "2K", "4K"], edit: true },
  "fal-ai/nano-banana-2": { ratios: ["auto", ...TEN, ...EXTREMES], resolutions: ["0.5K", "1K", "2K", "4K"], edit: false },
  "fal-ai/nano-banana-2/edit": { ratios: ["auto", ...TEN, ...EXTREMES], resolutions: ["0.5K", "1K", "2K", "4K"], edit: true },
  "fal-ai/nano-banana": { ratios: TEN, resolutions: null, edit: false },
  "fal-ai/nano-banana/edit": { ratios: ["auto", ...TEN], resolutions: null, edit: true },
};
const COMMON = new Set([
  "prompt",
  "num_images",
  "seed",
  "aspect_ratio",
  "output_format",
  "safety_tolerance",
  "sync_mode",
  "limit_generations",
]);

interface Job {
  id: string;
  app: string;
  input: Record<string, any>;
  scenario: string;
  createdAt: number;
  polls: number;
}

export async function startFakeFal(opts: { keys?: string[]; pollsBeforeDone?: number } = {}): Promise<FakeFal> {
  const keys = new Set(opts.keys ?? ["fal-test-key"]);
  const pollsBeforeDone = opts.pollsBeforeDone ?? 1;
  const requests: FakeFalRequest[] = [];
  const jobs = new Map<string, Job>();
  const files = new Map<string, Buffer>();
  let queue: string[] = [];
  let url = "";

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    let body: any = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    const u = new URL(req.url ?? "/", url);
    const key = /^Key (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const authorized = key !== undefined && keys.has(key);
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(value));
    };
    const modelError = (loc: unknown[], msg: string, type: string, status = 422) =>
      json(status, { detail: [{ loc, msg, type }] }, { "x-fal-retryable": "false" });
    const requestError = (status: number, errorType: string, detail: string) =>
      json(status, { detail, error_type: errorType }, { "x-fal-error-type": errorType });

    if (u.pathname.startsWith("/files/")) {
      const bytes = files.get(u.pathname);
      if (!bytes) return json(404, { detail: "Not found" });
      res.writeHead(200, { "content-type": sniffImage(bytes) === "jpeg" ? "image/jpeg" : "image/png" });
      return res.end(bytes);
    }
    requests.push({ method: req.method ?? "", path: u.pathname, authorized, body });
    if (!authorized) return json(401, { detail: "No user found for Key ID and Secret" });

    const m = /^\/([^/]+\/[^/]+)\/requests\/([^/]+)(\/status|\/cancel)?$/.exec(u.pathname);
    if (m) {
      const job = jobs.get(m[2]);
      if (!job || job.app.split("/").slice(0, 2).join("/") !== m[1]) return json(404, { detail: "Request not found" });
      const urls = links(job);
      if (m[3] === "/cancel" && req.method === "PUT") return json(202, { status: "CANCELLATION_REQUESTED" });
      if (m[3] === "/status") {
        job.polls++;
        const failing = /^status_500:(\d+)$/.exec(job.scenario);
        if (failing && job.polls <= Number(failing[1])) return json(500, { detail: "Internal Server Error" });
        if (!done(job)) return json(202, { status: job.polls === 1 ? "IN_QUEUE" : "IN_PROGRESS", queue_position: 0, ...urls });
        return json(200, { status: "COMPLETED", ...urls, logs: null, metrics: { inference_time: 1.2 } });
      }
      if (!done(job)) return json(400, { detail: "Request is still in progress" });
      switch (job.scenario) {
        case "result_content":
          return modelError(["body"], "The content was flagged by a content checker.", "content_policy_violation");
        case "result_image_error":
          return modelError(["body", "image_urls", 1], "Failed to load the image.", "image_load_error");
        case "result_500":
          return requestError(500, "internal_error", "Internal Server Error");
        case "result_504":
          return requestError(504, "request_timeout", "Request timed out");
        case "result_runner":
          return requestError(503, "runner_disconnected", "Runner disconnected");
        case "no_images":
          return json(200, { images: [], description: "I cannot draw that." });
      }
      const format = job.input.output_format === "jpeg" ? "jpeg" : "png";
      const path = `/files/${job.id}.${format === "png" ? "png" : "jpg"}`;
      if (!files.has(path)) files.set(path, await picture(format));
      return json(200, {
        images: [{ url: url + path, content_type: `image/${format}`, file_name: path.slice(7), width: 48, height: 32 }],
        description: "",
      });
    }

    if (req.method !== "POST") return json(405, { detail: "Method Not Allowed" });
    const app = u.pathname.slice(1);
    const spec = APPS[app];
    if (!spec) return json(404, { detail: `Application '${app}' not found` });
    const marker = /\[\[fake:([^\]]+)\]\]/.exec(String(body?.prompt ?? ""))?.[1];
    const scenario = marker ?? queue.shift() ?? "ok";
    switch (scenario) {
      case "submit_401":
        return json(401, { detail: "Invalid Key" });
      case "submit_403_locked":
        return json(403, {
          detail: "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.",
        });
      case "submit_429":
        return json(429, { detail: "Too many concurrent requests" }, { "retry-after": "5" });
      case "submit_500":
        return requestError(500, "internal_error", "Internal Server Error");
      case "submit_503":
        return requestError(503, "runner_scheduling_failure", "No runner could be allocated");
      case "submit_content":
        return modelError(["body", "prompt"], "The content was flagged by a content checker.", "content_policy_violation");
    }
    // input validation, as the app's schema states it
    if (typeof body !== "object" || body === null)
      return modelError(["body"], "Input should be an object", "model_attributes_type");
    for (const k of Object.keys(body)) {
      const allowed =
        COMMON.has(k) ||
        (k === "resolution" && spec.resolutions) ||
        (k === "image_urls" && spec.edit) ||
        (k === "enable_web_search" && app.startsWith("fal-ai/nano-banana-2"));
      if (!allowed) return modelError(["body", k], "Extra inputs are not permitted", "extra_forbidden");
    }
    if (typeof body.prompt !== "string" || !body.prompt) return modelError(["body", "prompt"], "Field required", "missing");
    if (body.aspect_ratio !== undefined && !spec.ratios.includes(body.aspect_ratio))
      return modelError(["body", "aspect_ratio"], "Input should be one of the listed values", "enum");
    if (body.resolution !== undefined && !spec.resolutions?.includes(body.resolution))
      return modelError(["body", "resolution"], "Input should be one of the listed values", "enum");
    if (!["jpeg", "png", "webp", undefined].includes(body.output_format))
      return modelError(["body", "output_format"], "Input should be 'jpeg', 'png' or 'webp'", "enum");
    if (body.num_images !== undefined && !(Number.isInteger(body.num_images) && body.num_images >= 1 && body.num_images <= 4))
      return modelError(["body", "num_images"], "Input should be between 1 and 4", "less_than_equal");
    if (spec.edit) {
      if (!Array.isArray(body.image_urls) || body.image_urls.length === 0)
        return modelError(["body", "image_urls"], "Field required", "missing");
      for (const [i, v] of (body.image_urls as unknown[]).entries()) {
        const d = /^data:image\/(?:png|jpeg|webp);base64,(.+)$/s.exec(String(v));
        if (!d || sniffImage(Buffer.from(d[1], "base64")) === null)
          return modelError(["body", "image_urls", i], "Failed to load the image.", "image_load_error");
      }
    }
    const id = randomUUID();
    const job: Job = { id, app, input: body, scenario, createdAt: Date.now(), polls: 0 };
    jobs.set(id, job);
    return json(200, { status: "IN_QUEUE", request_id: id, ...links(job), queue_position: 0, logs: null, metrics: {} });
  });

  function links(job: Job) {
    const base = `${url}/${job.app.split("/").slice(0, 2).join("/")}/requests/${job.id}`;
    return { response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
  }

  function done(job: Job): boolean {
    if (job.scenario === "hang") return false;
    const slow = /^slow:(\d+)$/.exec(job.scenario);
    if (slow && Date.now() - job.createdAt < Number(slow[1])) return false;
    return job.polls > pollsBeforeDone;
  }

  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    enqueue: (...s) => queue.push(...s),
    failNext: (n, s) => queue.push(...Array.from({ length: n }, () => s)),
    reset: () => {
      queue = [];
      requests.length = 0;
      jobs.clear();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
