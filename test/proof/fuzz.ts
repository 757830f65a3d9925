import fc from "fast-check";
import { fuzzRequest, issueCorpus } from "./fuzz-requests.js";
import { parseResponse, type RawResponse, rawRequest } from "../helpers/raw-http.js";

/**
 * Hostile HTTP requests for the proof suite (issue 10): generated with fast-check over every
 * endpoint peel serves, sent as raw bytes (so broken framing, odd headers and invalid bodies can
 * be expressed), and judged: no 5xx for a client's mistake, and the documented envelope on every
 * answer that can carry a body.
 *
 * `fuzzRequest(ctx)` (fuzz-requests.ts) is the arbitrary; `sendRequest` writes one on a fresh connection; `judge`
 * says what is wrong with an answer, or null.
 */

export interface FuzzContext {
  /** a valid API key (1000+ credits), another account's key, and the admin token. */
  key: string;
  otherKey: string;
  adminToken: string;
  /** ids that exist: a task of `key`, a task of `otherKey`, an account. */
  taskId: string;
  otherTaskId: string;
  accountId: string;
  /** peel's public URL (file URLs for download-url and image_input). */
  publicUrl: string;
}

export interface FuzzRequest {
  /** what the request aims at, for the report. */
  target: string;
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer | null;
  /** how the body is framed on the wire. */
  framing: "length" | "chunked" | "none" | "raw";
  /** for framing "raw": the exact bytes sent (request line included). */
  raw?: Buffer;
}

export function wireBytes(r: FuzzRequest): Buffer {
  if (r.framing === "raw") return r.raw!;
  const lines = [`${r.method} ${r.path || "/"} HTTP/1.1`, "Host: peel.test", "Connection: close"];
  for (const [k, v] of r.headers) lines.push(`${k}: ${v}`);
  let body: Buffer = Buffer.alloc(0);
  if (r.body && r.framing === "length") {
    lines.push(`Content-Length: ${r.body.length}`);
    body = r.body;
  } else if (r.body && r.framing === "chunked") {
    lines.push("Transfer-Encoding: chunked");
    body = Buffer.concat([Buffer.from(`${r.body.length.toString(16)}\r\n`), r.body, Buffer.from("\r\n0\r\n\r\n")]);
  }
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body]);
}

export function sendRequest(port: number, r: FuzzRequest): Promise<RawResponse> {
  // an accepted event stream stays open (heartbeats): its head is all there is to judge
  return rawRequest(port, wireBytes(r), { timeoutMs: r.target === "events" ? 1500 : 15_000 });
}

/**
 * What is wrong with the answer, or null. A 5xx is always wrong (these are client requests);
 * no answer at all is wrong; a body that can be there must be the route family's envelope.
 */
export function judge(r: FuzzRequest, res: RawResponse): string | null {
  if (res.status === 0) return "no answer";
  if (res.status >= 500) return `HTTP ${res.status}`;
  // `Expect: 100-continue` gets an interim answer first
  const final = res.status === 100 ? parseResponse(res.text.slice(res.text.indexOf("HTTP/1.1", 1))) : res;
  if (final.status >= 500) return `HTTP ${final.status}`;
  if (r.method === "HEAD" || final.status === 204 || final.status === 304) return null;
  const path = (r.path || "/").split("?")[0];
  const isAdmin = path.startsWith("/admin/");
  const eventStream = /^text\/event-stream/.test(final.headers["content-type"] ?? "");
  // The web console is a browser surface (HTML, static assets, plain-text 404s for assets).
  const browser = path === "/console" || path.startsWith("/console/");
  const free =
    browser ||
    (final.status < 300 &&
      (path.startsWith("/files/") ||
        path.startsWith("/docs") ||
        path === "/openapi.json" ||
        path === "/healthz" ||
        eventStream)) ||
    (final.status >= 300 && final.status < 400);
  if (free) return null;
  const j = final.json;
  if (isAdmin && final.status !== 400 && final.status !== 431 && final.status !== 417) {
    const ok = j && typeof j === "object" && ("data" in j || (j.error && typeof j.error.code === "string"));
    return ok ? null : `not the admin envelope: ${final.body.slice(0, 120)}`;
  }
  const ok = j && typeof j === "object" && typeof j.code === "number" && typeof j.msg === "string" && "data" in j;
  if (!ok && isAdmin && j?.error && typeof j.error.code === "string") return null;
  return ok ? null : `not the kie envelope (HTTP ${final.status}): ${final.body.slice(0, 120)}`;
}

export interface FuzzStats {
  total: number;
  byStatus: Map<number, number>;
  byTarget: Map<string, { total: number; bad: number }>;
  /** failures with the request that caused them (first 20). */
  failures: { problem: string; request: FuzzRequest; answer: string }[];
  failureCount: number;
  fiveXX: number;
  /** 5xx answers per target. */
  fiveXXByTarget: Map<string, number>;
  noAnswer: number;
  badEnvelope: number;
  withBody: number;
}

export function newStats(): FuzzStats {
  return {
    total: 0,
    byStatus: new Map(),
    byTarget: new Map(),
    failures: [],
    failureCount: 0,
    fiveXX: 0,
    fiveXXByTarget: new Map(),
    noAnswer: 0,
    badEnvelope: 0,
    withBody: 0,
  };
}

export function record(stats: FuzzStats, r: FuzzRequest, res: RawResponse, problem: string | null): void {
  stats.total++;
  stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
  const t = stats.byTarget.get(r.target) ?? { total: 0, bad: 0 };
  t.total++;
  if (res.status !== 0 && r.method !== "HEAD" && res.status !== 204 && res.status !== 304) stats.withBody++;
  if (problem) {
    t.bad++;
    stats.failureCount++;
    if (problem === "no answer") stats.noAnswer++;
    else if (problem.startsWith("HTTP 5")) {
      stats.fiveXX++;
      stats.fiveXXByTarget.set(r.target, (stats.fiveXXByTarget.get(r.target) ?? 0) + 1);
    } else stats.badEnvelope++;
    if (stats.failures.length < 20) stats.failures.push({ problem, request: r, answer: res.text.slice(0, 300) });
  }
  stats.byTarget.set(r.target, t);
}

/**
 * The requests issue 10 reported as 5xx or envelope-less, sent first on every run, word for word.
 * (The admin ledger one belongs to the admin API's schema work.)
 */
export async function runFuzz(opts: {
  port: number;
  ctx: FuzzContext;
  count: number;
  seed: number;
  parallel?: number;
}): Promise<FuzzStats> {
  const requests = [...issueCorpus(opts.ctx), ...fc.sample(fuzzRequest(opts.ctx), { numRuns: opts.count, seed: opts.seed })];
  const stats = newStats();
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.parallel ?? 8 }, async () => {
      while (next < requests.length) {
        const r = requests[next++];
        const res = await sendRequest(opts.port, r);
        record(stats, r, res, judge(r, res));
      }
    }),
  );
  return stats;
}

export function describeRequest(r: FuzzRequest): string {
  if (r.framing === "raw") return JSON.stringify(r.raw!.toString("latin1").slice(0, 200));
  return `${r.method} ${r.path.slice(0, 200)} [${r.headers.map(([k]) => k).join(",")}] ${r.body ? `${r.body.length} B ${JSON.stringify(r.body.toString("utf8").slice(0, 160))}` : ""}`;
}
