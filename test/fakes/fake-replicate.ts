import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { sniffImage } from "../../src/images/sniff.js";
import { picture } from "./fake-kie.js";

/**
 * A local stand-in for Replicate's HTTP API (the HTTP API reference, "Create a prediction" with
 * `Prefer: wait`, "Prediction lifecycle", "Rate limits", "Input files", and the input schemas of
 * google/nano-banana-pro, google/nano-banana-2 and google/nano-banana): official-model predictions,
 * prediction polling and cancel, the Files API, and a delivery path for outputs. Problem-detail
 * errors as Replicate sends them. Scenarios (`enqueue`, or `[[fake:<name>]]` in the prompt):
 *
 *   ok (finishes within Prefer: wait) · async (needs polling) · http_401 · http_402 · http_429
 *   http_500 · http_503 · fail_sensitive · fail_generic · fail_no_image · canceled · aborted
 *   data_url · hang · poll_500:<n> · upload_413
 */

export interface FakeReplicateRequest {
  method: string;
  path: string;
  authorized: boolean;
  prefer: string;
  contentType?: string;
  body: any;
}

export interface FakeReplicate {
  url: string;
  requests: FakeReplicateRequest[];
  files: Map<string, { name: string; type: string; bytes: Buffer }>;
  enqueue(...scenarios: string[]): void;
  /** the next `n` calls answer with `scenario` (e.g. `failNext(3, "http_429")`). */
  failNext(n: number, scenario: string): void;
  reset(): void;
  close(): Promise<void>;
}

const TEN = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"];
const MODELS: Record<string, { ratios: string[]; resolutions: string[] | null; extra: string[] }> = {
  "google/nano-banana-pro": {
    ratios: ["match_input_image", ...TEN],
    resolutions: ["1K", "2K", "4K"],
    extra: ["safety_filter_level"],
  },
  "google/nano-banana-2": {
    ratios: ["match_input_image", ...TEN, "1:4", "4:1", "1:8", "8:1"],
    resolutions: ["1K", "2K", "4K"],
    extra: ["google_search", "image_search"],
  },
  "google/nano-banana": { ratios: ["match_input_image", ...TEN], resolutions: null, extra: [] },
};

interface Prediction {
  id: string;
  model: string;
  input: Record<string, any>;
  scenario: string;
  polls: number;
  status: string;
  output: string | null;
  error: string | null;
}

export async function startFakeReplicate(opts: { tokens?: string[]; pollsBeforeDone?: number } = {}): Promise<FakeReplicate> {
  const tokens = new Set(opts.tokens ?? ["r8_test_token"]);
  const pollsBeforeDone = opts.pollsBeforeDone ?? 1;
  const requests: FakeReplicateRequest[] = [];
  const files = new Map<string, { name: string; type: string; bytes: Buffer }>();
  const predictions = new Map<string, Prediction>();
  const outputs = new Map<string, Buffer>();
  let queue: string[] = [];
  let url = "";

  const problem = (
    res: http.ServerResponse,
    status: number,
    title: string,
    detail: string,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { "content-type": "application/problem+json", ...headers });
    res.end(JSON.stringify({ title, detail, status }));
  };
  const json = (res: http.ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };

  const view = (p: Prediction) => ({
    id: p.id,
    model: p.model,
    version: "hidden",
    input: p.input,
    logs: "",
    output: p.output,
    data_removed: false,
    error: p.error,
    status: p.status,
    created_at: new Date().toISOString(),
    urls: {
      cancel: `${url}/v1/predictions/${p.id}/cancel`,
      get: `${url}/v1/predictions/${p.id}`,
      web: `https://replicate.com/p/${p.id}`,
    },
  });

  /** Moves a prediction to its end state (on the create call for sync ones, else after polls). */
  async function finish(p: Prediction): Promise<void> {
    switch (p.scenario) {
      case "fail_sensitive":
        return void Object.assign(p, {
          status: "failed",
          error: "The input or output was flagged as sensitive. Please try again with different inputs. (E005)",
        });
      case "fail_generic":
        return void Object.assign(p, { status: "failed", error: "Prediction failed: internal error" });
      case "fail_no_image":
        return void Object.assign(p, { status: "failed", error: "The model returned no image. Try a different prompt." });
      case "canceled":
      case "aborted":
        return void Object.assign(p, { status: p.scenario });
    }
    const format = p.input.output_format === "png" ? "png" : "jpeg";
    const bytes = await picture(format);
    if (p.scenario === "data_url") {
      p.output = `data:image/${format};base64,${bytes.toString("base64")}`;
    } else {
      const path = `/delivery/${p.id}/output.${format === "png" ? "png" : "jpg"}`;
      outputs.set(path, bytes);
      p.output = url + path;
    }
    p.status = "succeeded";
  }

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const u = new URL(req.url ?? "/", url);
    if (u.pathname.startsWith("/delivery/")) {
      const bytes = outputs.get(u.pathname);
      if (!bytes) return problem(res, 404, "Not found", "The requested resource could not be found.");
      res.writeHead(200, { "content-type": sniffImage(bytes) === "png" ? "image/png" : "image/jpeg" });
      return res.end(bytes);
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const authorized = token !== undefined && tokens.has(token);
    const isJson = (req.headers["content-type"] ?? "").startsWith("application/json");
    let body: any = null;
    if (isJson) {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        return problem(res, 400, "Bad request", "The request body is not valid JSON.");
      }
    }
    requests.push({
      method: req.method ?? "",
      path: u.pathname,
      authorized,
      prefer: String(req.headers.prefer ?? ""),
      contentType: req.headers["content-type"],
      body,
    });
    if (!authorized) return problem(res, 401, "Unauthenticated", "You did not pass a valid authentication token");

    if (req.method === "POST" && u.pathname === "/v1/files") {
      if (queue[0] === "upload_413") {
        queue.shift();
        return problem(res, 413, "Payload too large", "The file is larger than the limit.");
      }
      const boundary = /boundary=([^;]+)/.exec(req.headers["content-type"] ?? "")?.[1];
      const part = boundary ? multipartPart(raw, boundary, "content") : null;
      if (!part) return problem(res, 400, "Bad request", "Missing file content.");
      const id = randomBytes(8).toString("hex");
      files.set(id, part);
      return json(res, 201, {
        id,
        name: part.name,
        content_type: part.type,
        size: part.bytes.length,
        urls: { get: `${url}/v1/files/${id}` },
      });
    }

    const pred = /^\/v1\/predictions\/([^/]+)(\/cancel)?$/.exec(u.pathname);
    if (pred) {
      const p = predictions.get(pred[1]);
      if (!p) return problem(res, 404, "Not found", "The requested resource could not be found.");
      if (pred[2] && req.method === "POST") {
        if (p.status === "starting" || p.status === "processing") p.status = "canceled";
        return json(res, 200, view(p));
      }
      p.polls++;
      const failing = /^poll_500:(\d+)$/.exec(p.scenario);
      if (failing && p.polls <= Number(failing[1])) return problem(res, 500, "Internal server error", "Something went wrong.");
      if (p.status === "starting" || p.status === "processing") {
        if (p.scenario !== "hang" && p.polls > pollsBeforeDone) await finish(p);
        else p.status = "processing";
      }
      return json(res, 200, view(p));
    }

    const create = /^\/v1\/models\/([^/]+\/[^/]+)\/predictions$/.exec(u.pathname);
    if (req.method === "POST" && create) {
      const model = create[1];
      const spec = MODELS[model];
      if (!spec) return problem(res, 404, "Not found", "The requested resource could not be found.");
      const input = body?.input;
      const marker = /\[\[fake:([^\]]+)\]\]/.exec(String(input?.prompt ?? ""))?.[1];
      const scenario = marker ?? queue.shift() ?? "ok";
      switch (scenario) {
        case "http_402":
          return problem(
            res,
            402,
            "Insufficient credit",
            "You have insufficient credit to run this model. Go to billing to add credit.",
          );
        case "http_429":
          return problem(res, 429, "Request was throttled", "Request was throttled. Your rate limit resets in ~30s.");
        case "http_500":
          return problem(res, 500, "Internal server error", "Something went wrong.");
        case "http_503":
          return problem(res, 503, "Service unavailable", "The service is temporarily unavailable.");
      }
      const invalid = validate(input, spec);
      if (invalid) return problem(res, 422, "Input validation failed", invalid);
      const p: Prediction = {
        id: randomBytes(10).toString("hex"),
        model,
        input,
        scenario,
        polls: 0,
        status: "starting",
        output: null,
        error: null,
      };
      predictions.set(p.id, p);
      // Prefer: wait → a quick prediction comes back finished; the others come back still running
      const sync =
        /^wait(=\d+)?$/.test(String(req.headers.prefer ?? "")) &&
        !["async", "hang"].includes(scenario) &&
        !scenario.startsWith("poll_");
      if (sync) await finish(p);
      return json(res, 201, view(p));
    }
    problem(res, 404, "Not found", "The requested resource could not be found.");
  });

  function validate(input: any, spec: (typeof MODELS)[string]): string | null {
    if (typeof input !== "object" || input === null) return "- input: Invalid type. Expected: object";
    const known = new Set([
      "prompt",
      "image_input",
      "aspect_ratio",
      "output_format",
      ...(spec.resolutions ? ["resolution"] : []),
      ...spec.extra,
    ]);
    for (const k of Object.keys(input)) if (!known.has(k)) return `- input: Additional property ${k} is not allowed`;
    if (typeof input.prompt !== "string" || !input.prompt) return "- input: prompt is required";
    if (input.aspect_ratio !== undefined && !spec.ratios.includes(input.aspect_ratio))
      return `- input.aspect_ratio: input.aspect_ratio must be one of the following: ${spec.ratios.join(", ")}`;
    if (input.resolution !== undefined && !spec.resolutions?.includes(input.resolution))
      return "- input.resolution: input.resolution must be one of the following: 1K, 2K, 4K";
    if (input.output_format !== undefined && !["jpg", "png"].includes(input.output_format))
      return '- input.output_format: input.output_format must be one of the following: "jpg", "png"';
    if (input.image_input !== undefined) {
      if (!Array.isArray(input.image_input) || input.image_input.length > 14)
        return "- input.image_input: Array must have at most 14 items";
      for (const f of input.image_input) {
        const id = new RegExp(`^${url}/v1/files/([0-9a-f]+)$`).exec(String(f))?.[1];
        if (!id || !files.has(id)) return `- input.image_input: cannot read file ${String(f)}`;
      }
    }
    return null;
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
    files,
    enqueue: (...s) => queue.push(...s),
    failNext: (n, s) => queue.push(...Array.from({ length: n }, () => s)),
    reset: () => {
      queue = [];
      requests.length = 0;
      predictions.clear();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The named part of a multipart/form-data body (enough for one file part). */
function multipartPart(raw: Buffer, boundary: string, name: string): { name: string; type: string; bytes: Buffer } | null {
  const delim = Buffer.from(`--${boundary}`);
  let at = raw.indexOf(delim);
  while (at >= 0) {
    const next = raw.indexOf(delim, at + delim.length);
    if (next < 0) break;
    const part = raw.subarray(at + delim.length + 2, next - 2); // drop the CRLF after the delimiter and before the next
    const split = part.indexOf("\r\n\r\n");
    const head = part.subarray(0, split).toString("utf8");
    if (new RegExp(`name="${name}"`).test(head)) {
      return {
        name: /filename="([^"]*)"/.exec(head)?.[1] ?? "file",
        type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? "application/octet-stream",
        bytes: Buffer.from(part.subarray(split + 4)),
      };
    }
    at = next;
  }
  return null;
}
