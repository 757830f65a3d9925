import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real HTTP callback receiver for tests (outbound HTTP in tests goes to a real local
 * server, not a fetch mock). It records every request and answers with a configurable plan:
 * fail N times then succeed, stay slow, redirect, 410, 429 with Retry-After; `down()` closes the
 * listener so connections are refused, `up()` listens again on the same port.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** wall-clock ms when the body had fully arrived. */
  receivedAt: number;
}

export interface Reply {
  /** @defaultValue 200 */
  status?: number;
  headers?: Record<string, string>;
  /** @defaultValue `{"code":200,"msg":"success"}` for 2xx, "" otherwise */
  body?: string;
  /** wait this long (real ms) before answering; the wait ends early if the client hangs up. */
  delayMs?: number;
}

/** Decides the reply for the n-th request (0-based, counting every request to this receiver). */
export type Plan = (req: RecordedRequest, n: number) => Reply;

export const plans = {
  ok: (): Plan => () => ({ status: 200 }),
  status:
    (status: number, headers?: Record<string, string>): Plan =>
    () => ({ status, headers }),
  failThenSucceed:
    (failures: number, status = 500): Plan =>
    (_r, n) => ({ status: n < failures ? status : 200 }),
  slow:
    (delayMs: number, status = 200): Plan =>
    () => ({ status, delayMs }),
  redirect:
    (location: string, status = 302): Plan =>
    () => ({ status, headers: { location } }),
  /** the first reply carries a Retry-After (seconds or HTTP date), then 200. */
  retryAfterOnce:
    (retryAfter: string, status = 429): Plan =>
    (_r, n) =>
      n === 0 ? { status, headers: { "retry-after": retryAfter } } : { status: 200 },
};

export class FakeReceiver {
  readonly requests: RecordedRequest[] = [];
  /** requests whose response has not finished (or whose client has not hung up) yet. */
  inFlight = 0;
  maxInFlight = 0;
  private server: Server;
  private port = 0;
  private timers = new Set<NodeJS.Timeout>();

  private constructor(public plan: Plan) {
    this.server = this.makeServer();
  }

  /** Listens on 127.0.0.1 at a free port (or `port`). */
  static async start(plan: Plan = plans.ok(), port = 0): Promise<FakeReceiver> {
    const r = new FakeReceiver(plan);
    await r.listen(port);
    return r;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  url(path = "/hook"): string {
    return this.origin + path;
  }

  /** Requests to one path, in arrival order. */
  at(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Closes the listener and every open connection: new connections are refused until `up()`. */
  async down(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Listens again on the same port. */
  async up(): Promise<void> {
    this.server = this.makeServer();
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  private makeServer(): Server {
    const server = createServer((req, res) => {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          this.inFlight--;
        }
      };
      res.on("close", finish);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const rec: RecordedRequest = {
          method: req.method ?? "",
          path: (req.url ?? "/").split("?")[0],
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          receivedAt: Date.now(),
        };
        const n = this.requests.push(rec) - 1;
        const reply = this.plan(rec, n);
        if (reply.delayMs) {
          const t = setTimeout(() => {
            this.timers.delete(t);
            this.answer(res, reply);
          }, reply.delayMs);
          this.timers.add(t);
          res.on("close", () => {
            clearTimeout(t);
            this.timers.delete(t);
          });
        } else {
          this.answer(res, reply);
        }
      });
    });
    // Keep-alive sockets would outlive down(); closeAllConnections handles them, this bounds idle ones.
    server.keepAliveTimeout = 1_000;
    return server;
  }

  private answer(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.writableEnded) return;
    const status = reply.status ?? 200;
    const body = reply.body ?? (status >= 200 && status < 300 ? '{"code":200,"msg":"success"}' : "");
    res.writeHead(status, { "content-type": "application/json", ...reply.headers });
    res.end(body);
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }
}
