import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";

/**
 * A small local server that answers like kie.ai does for what the client and `peel generate` use:
 * createTask, recordInfo (a task moves waiting → generating → success over a few polls), the
 * base64 and stream uploads on a separate "upload host" origin, and a result image — and no
 * events endpoint (404 in the kie envelope), so clients must poll.
 */
export class KieLikeServer {
  readonly requests: { method: string; path: string; auth?: string }[] = [];
  readonly uploads: { path: string; bytes: number }[] = [];
  private polls = new Map<string, number>();
  private tasks = new Map<string, { model: string; input: Record<string, unknown>; fail: boolean }>();
  private seq = 0;
  private server!: Server;
  url = "";

  constructor(
    readonly key: string,
    /** recordInfo polls before a task reports success. */
    private pollsToFinish = 2,
  ) {}

  static async start(key: string, pollsToFinish = 2): Promise<KieLikeServer> {
    const s = new KieLikeServer(key, pollsToFinish);
    s.server = createServer((req, res) => {
      void s.handle(req).then(
        ({ status, body, type }) => {
          res.writeHead(status, { "content-type": type ?? "application/json" });
          res.end(body);
        },
        (err) => {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ code: 500, msg: String(err), data: null }));
        },
      );
    });
    await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", r));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: string | Buffer; type?: string }> {
    const url = new URL(req.url ?? "/", this.url);
    this.requests.push({ method: req.method ?? "", path: url.pathname, auth: req.headers.authorization });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const json = (code: number, data: unknown, msg = code === 200 ? "success" : "error") => ({
      status: 200,
      body: JSON.stringify({ code, msg, data }),
    });
    if (url.pathname.startsWith("/result/")) {
      const png = await sharp({ create: { width: 64, height: 32, channels: 3, background: "#c33" } })
        .png()
        .toBuffer();
      return { status: 200, body: png, type: "image/png" };
    }
    if (req.headers.authorization !== `Bearer ${this.key}`) return json(401, null, "You do not have access permissions");
    if (req.method === "POST" && url.pathname === "/api/v1/jobs/createTask") {
      const body = JSON.parse(raw.toString("utf8")) as { model: string; input: Record<string, unknown> };
      const taskId = `task${++this.seq}`.padEnd(32, "0");
      this.tasks.set(taskId, { model: body.model, input: body.input, fail: body.input.prompt === "please fail" });
      this.polls.set(taskId, 0);
      return json(200, { taskId });
    }
    if (req.method === "GET" && url.pathname === "/api/v1/jobs/recordInfo") {
      const id = url.searchParams.get("taskId") ?? "";
      const t = this.tasks.get(id);
      if (!t) return json(422, null, "recordInfo is null");
      const n = (this.polls.get(id) ?? 0) + 1;
      this.polls.set(id, n);
      const done = n > this.pollsToFinish;
      const state = !done ? (n === 1 ? "waiting" : "generating") : t.fail ? "fail" : "success";
      return json(200, {
        taskId: id,
        model: t.model,
        state,
        param: JSON.stringify({ model: t.model, input: t.input }),
        resultJson: state === "success" ? JSON.stringify({ resultUrls: [`${this.url}/result/${id}.png`] }) : "",
        failCode: state === "fail" ? "500" : "",
        failMsg: state === "fail" ? "Internal server error" : "",
        costTime: 0,
        completeTime: done ? Date.now() : null,
        createTime: Date.now() - 1000,
        updateTime: Date.now(),
        consumeCredits: 0,
        creditsConsumed: 0,
      });
    }
    if (req.method === "POST" && (url.pathname === "/api/file-base64-upload" || url.pathname === "/api/file-stream-upload")) {
      this.uploads.push({ path: url.pathname, bytes: raw.length });
      const fileUrl = `${this.url}/uploads/${this.uploads.length}.png`;
      return {
        status: 200,
        body: JSON.stringify({
          success: true,
          code: 200,
          msg: "File uploaded successfully",
          data: { fileName: "x.png", filePath: "uploads/x.png", downloadUrl: fileUrl, fileUrl, fileSize: raw.length },
        }),
      };
    }
    return { status: 404, body: JSON.stringify({ code: 404, msg: "Not Found", data: null }) };
  }
}
