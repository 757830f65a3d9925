import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import sharp from "sharp";
import { MODELS } from "../../src/domain/models.js";
import { sniffImage } from "../../src/images/sniff.js";

/**
 * A local stand-in for a kie-compatible API (kie.ai's Market jobs API and its upload API, as
 * docs/kie-contract.md describes them): createTask, recordInfo, file-base64-upload, and the file
 * URLs it hands out. Real HTTP on 127.0.0.1, real decodable images, kie's envelopes and codes.
 * Scenarios (queued with `enqueue`, or `[[fake:<name>]]` in a prompt) provoke every outcome:
 *
 *   ok · http_429 · http_500 · http_502_html · code_401 · code_402 · code_433 · code_455 · code_505
 *   model_unsupported · bad_field · fail_prompt_blocked · fail_output_blocked · fail_invalid_input
 *   fail_no_image · fail_busy · fail_timeout · fail_internal · slow:<ms> · hang · result_404
 *   record_500:<n> · record_unknown:<n> · record_429 · upload_401 · upload_400
 */

export interface FakeKieRequest {
  method: string;
  path: string;
  /** whether the bearer key was one the fake accepts. */
  authorized: boolean;
  body: any;
  receivedAt: number;
}

export interface FakeKieTask {
  id: string;
  model: string;
  input: Record<string, any>;
  scenario: string;
  createdAt: number;
  polls: number;
}

export interface FakeKie {
  url: string;
  requests: FakeKieRequest[];
  tasks: Map<string, FakeKieTask>;
  /** uploaded files by URL. */
  uploads: Map<string, Buffer>;
  enqueue(...scenarios: string[]): void;
  /** the next `n` calls answer with `scenario` (e.g. `failNext(3, "http_429")`). */
  failNext(n: number, scenario: string): void;
  reset(): void;
  close(): Promise<void>;
}

const KIE_MSGS: Record<number, string> = {
  401: "You do not have access permissions",
  402: "The current credits are insufficient. Please top up.",
  433: "The current number of points used by apiKey has exceeded the daily limit",
  455: "Service is under maintenance, please try again later",
  505: "This feature is currently disabled",
};
const FAILS: Record<string, [string, string]> = {
  fail_prompt_blocked: ["422", "The prompt was blocked by the content policy"],
  fail_output_blocked: ["422", "The generated image was blocked by the content policy"],
  fail_no_image: ["501", "Generation failed: the model returned no image"],
  fail_busy: ["500", "Upstream service is busy, please try again later"],
  fail_timeout: ["500", "Generation timed out, please try again later"],
  fail_internal: ["500", "Internal server error"],
};

export async function startFakeKie(opts: { keys?: string[]; pollsBeforeDone?: number } = {}): Promise<FakeKie> {
  const keys = new Set(opts.keys ?? ["kie-test-key"]);
  const pollsBeforeDone = opts.pollsBeforeDone ?? 1;
  const known = new Set(MODELS.map((m) => m.id));
  const requests: FakeKieRequest[] = [];
  const tasks = new Map<string, FakeKieTask>();
  const uploads = new Map<string, Buffer>();
  const results = new Map<string, Buffer>();
  let queue: string[] = [];
  let url = "";

  const take = (prefix: string): string | null => {
    const i = queue.findIndex((s) => s.startsWith(prefix));
    return i < 0 ? null : queue.splice(i, 1)[0];
  };

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
    const auth = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const authorized = auth !== undefined && keys.has(auth);
    if (!u.pathname.startsWith("/files/")) {
      requests.push({ method: req.method ?? "", path: u.pathname + u.search, authorized, body, receivedAt: Date.now() });
    }
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(JSON.stringify(value));
    };
    const kie = (code: number, msg: string, data: unknown = null) => json(200, { code, msg, data });

    try {
      if (req.method === "GET" && u.pathname.startsWith("/files/")) {
        const bytes = uploads.get(url + u.pathname) ?? results.get(url + u.pathname);
        if (!bytes) return json(404, { code: 404, msg: "File not found", data: null });
        res.writeHead(200, {
          "content-type": sniffImage(bytes) === "jpeg" ? "image/jpeg" : "image/png",
          "content-length": bytes.length,
        });
        return res.end(bytes);
      }

      if (req.method === "POST" && u.pathname === "/api/file-base64-upload") {
        const s = take("upload_");
        if (!authorized || s === "upload_401")
          return json(200, { success: false, code: 401, msg: "Authentication failed: Invalid API Key", data: null });
        if (s === "upload_400") return json(200, { success: false, code: 400, msg: "File size exceeds the limit", data: null });
        const m = /^data:image\/(png|jpeg|webp);base64,(.+)$/s.exec(String(body?.base64Data ?? ""));
        const bytes = m ? Buffer.from(m[2], "base64") : null;
        if (!bytes || sniffImage(bytes) === null)
          return json(200, { success: false, code: 400, msg: "Unsupported file type", data: null });
        const filePath = `${body.uploadPath ?? "uploads"}/${body.fileName ?? randomBytes(8).toString("hex")}`;
        const fileUrl = `${url}/files/u/${filePath}`;
        uploads.set(fileUrl, bytes);
        return json(200, {
          success: true,
          code: 200,
          msg: "File uploaded successfully",
          data: { fileName: body.fileName, filePath, downloadUrl: fileUrl, fileUrl, fileSize: bytes.length },
        });
      }

      if (req.method === "POST" && u.pathname === "/api/v1/jobs/createTask") {
        const marker = /\[\[fake:([^\]]+)\]\]/.exec(String(body?.input?.prompt ?? ""))?.[1];
        let scenario = marker ?? queue.find((s) => !s.startsWith("upload_")) ?? "ok";
        if (!marker && queue.length) queue.splice(queue.indexOf(scenario), 1);
        if (!authorized) scenario = "code_401";
        if (scenario === "http_429")
          return json(429, { code: 429, msg: "Rate limit exceeded", data: null }, { "retry-after": "7" });
        if (scenario === "http_500") return json(500, { code: 500, msg: "Internal server error", data: null });
        if (scenario === "http_502_html") {
          res.writeHead(502, { "content-type": "text/html" });
          return res.end("<html><body>Bad gateway</body></html>");
        }
        const code = /^code_(\d+)$/.exec(scenario)?.[1];
        if (code) return kie(Number(code), KIE_MSGS[Number(code)]);
        if (scenario === "model_unsupported" || !known.has(body?.model)) {
          return kie(422, "The model name you specified is not supported");
        }
        if (scenario === "bad_field" || typeof body?.input?.prompt !== "string") return kie(422, "prompt is required");
        const id = randomBytes(16).toString("hex");
        tasks.set(id, { id, model: body.model, input: body.input, scenario, createdAt: Date.now(), polls: 0 });
        return kie(200, "success", { taskId: id });
      }

      if (req.method === "GET" && u.pathname === "/api/v1/jobs/recordInfo") {
        if (!authorized) return kie(401, KIE_MSGS[401]);
        const task = tasks.get(u.searchParams.get("taskId") ?? "");
        if (!task) return kie(422, "recordInfo is null");
        task.polls++;
        const sc = task.scenario;
        const n = Number(/:(\d+)$/.exec(sc)?.[1] ?? 0);
        if (sc.startsWith("record_500:") && task.polls <= n)
          return json(500, { code: 500, msg: "Internal server error", data: null });
        if (sc.startsWith("record_unknown:") && task.polls <= n) return kie(422, "recordInfo is null");
        if (sc === "record_429" && task.polls === 1)
          return json(429, { code: 429, msg: "Rate limit exceeded", data: null }, { "retry-after": "0" });
        return json(200, { code: 200, msg: "success", data: await record(task) });
      }
      json(404, { code: 404, msg: "Not Found", data: null });
    } catch (err) {
      json(500, { code: 500, msg: `fake-kie: ${(err as Error).message}`, data: null });
    }
  });

  async function record(task: FakeKieTask) {
    const base = {
      taskId: task.id,
      model: task.model,
      param: JSON.stringify({ model: task.model, input: task.input }),
      resultJson: "",
      failCode: "",
      failMsg: "",
      costTime: 0,
      completeTime: null as number | null,
      createTime: task.createdAt,
      updateTime: Date.now(),
    };
    const slow = /^slow:(\d+)$/.exec(task.scenario);
    const running =
      task.scenario === "hang" || task.polls <= pollsBeforeDone || (slow && Date.now() - task.createdAt < Number(slow[1]));
    if (running) return { ...base, state: task.polls === 1 ? "queuing" : "generating" };
    const images: string[] = task.input.image_input ?? task.input.image_urls ?? [];
    const unreadable = images.find((i) => !uploads.has(i));
    const fail =
      FAILS[task.scenario] ??
      (task.scenario === "fail_invalid_input" || unreadable ? ["422", `Invalid image_input: ${unreadable ?? images[0]}`] : null);
    if (fail) return { ...base, state: "fail", failCode: fail[0], failMsg: fail[1], completeTime: Date.now() };
    const format = task.input.output_format === "png" || task.input.output_format === undefined ? "png" : "jpeg";
    const resultUrl = `${url}/files/r/${task.id}.${format === "png" ? "png" : "jpg"}`;
    if (task.scenario !== "result_404" && !results.has(resultUrl)) results.set(resultUrl, await picture(format));
    return {
      ...base,
      state: "success",
      resultJson: JSON.stringify({ resultUrls: [resultUrl] }),
      costTime: Date.now() - task.createdAt,
      completeTime: Date.now(),
    };
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
    tasks,
    uploads,
    enqueue: (...s) => queue.push(...s),
    failNext: (n, s) => queue.push(...Array.from({ length: n }, () => s)),
    reset: () => {
      queue = [];
      requests.length = 0;
      tasks.clear();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A small real image in the format asked for. */
export async function picture(format: "png" | "jpeg", width = 48, height = 32): Promise<Buffer> {
  const img = sharp({ create: { width, height, channels: 3, background: { r: 200, g: 120, b: 40 } } });
  return (format === "png" ? img.png() : img.jpeg()).toBuffer();
}
