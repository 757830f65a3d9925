import fc from "fast-check";
import { parseResponse, type RawResponse, rawRequest } from "../helpers/raw-http.js";

/**
 * Hostile HTTP requests for the proof suite (issue 10): generated with fast-check over every
 * endpoint peel serves, sent as raw bytes (so broken framing, odd headers and invalid bodies can
 * be expressed), and judged: no 5xx for a client's mistake, and the documented envelope on every
 * answer that can carry a body.
 *
 * `fuzzRequest(ctx)` is the arbitrary; `sendRequest` writes one on a fresh connection; `judge`
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

// --- pieces -----------------------------------------------------------------------------------

const nasty = fc.constantFrom(
  "",
  " ",
  "%zz",
  "%",
  "%00",
  "%E0%A4%A",
  "..",
  "../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "\u0000",
  "\uFFFD",
  "🙂",
  "a".repeat(300),
  "x".repeat(5000),
  "null",
  "undefined",
  "-1",
  "1e999",
  "0x10",
  "NaN",
  "[]",
  "{}",
  "<script>",
  "' OR 1=1 --",
  "\r\nX-Injected: 1",
);

/** A string for an id, a query value or a field: plain, random unicode or nasty. */
const text = fc.oneof(
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 3, arbitrary: nasty },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
);

/** Any JSON value, now and then very deep or very wide. */
const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 20, max: 6000 }).map((n) => deep(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 9000, max: 12000 }).map((n) => Array(n).fill(0)) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, 0, -1, 1e308, "", "x".repeat(20_000)) },
);

function deep(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

const models = fc.constantFrom(
  "nano-banana-pro",
  "nano-banana-2",
  "nano-banana-2-lite",
  "google/nano-banana",
  "google/nano-banana-edit",
  "NANO-BANANA-PRO",
  "gpt-image-1",
  "",
);

function urlish(ctx: FuzzContext) {
  return fc.oneof(
    fc.constantFrom(
      `${ctx.publicUrl}/files/u/nope/uploads/a.png`,
      `${ctx.publicUrl}/files/r/${ctx.taskId}/x.png`,
      "http://127.0.0.1:1/x.png",
      "http://[::1]/x.png",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::ffff:127.0.0.1]/",
      "http://0x7f000001/",
      "http://localhost./",
      "ftp://example.com/a.png",
      "javascript:alert(1)",
      "file:///etc/passwd",
      "data:image/png;base64,iVBORw0KGgo=",
      "http://user:pw@127.0.0.1/",
      "https://",
      "not a url",
    ),
    text,
  );
}

/** A createTask body: mostly close to valid, with one or more fields replaced by junk. */
function createTaskBody(ctx: FuzzContext): fc.Arbitrary<unknown> {
  const input = fc.record(
    {
      prompt: fc.oneof(fc.string({ maxLength: 200 }), text, jsonish),
      image_input: fc.oneof(fc.array(urlish(ctx), { maxLength: 10 }), jsonish),
      image_urls: fc.oneof(fc.array(urlish(ctx), { maxLength: 15 }), jsonish),
      aspect_ratio: fc.oneof(fc.constantFrom("1:1", "16:9", "auto", "9:16", "21:9", "1:0", ""), text),
      resolution: fc.oneof(fc.constantFrom("1K", "2K", "4K", "8K", "1k"), text),
      output_format: fc.oneof(fc.constantFrom("png", "jpg", "jpeg", "webp"), text),
      google_search: fc.oneof(fc.boolean(), jsonish),
      extra: jsonish,
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({ model: models, input, callBackUrl: fc.option(urlish(ctx)) }, { requiredKeys: ["model"] }),
    },
    { weight: 1, arbitrary: fc.record({ model: fc.oneof(models, jsonish), input: jsonish, callBackUrl: jsonish }) },
    { weight: 1, arbitrary: jsonish },
  );
}

/** multipart/form-data bodies: well-formed, cut short, without a boundary, with junk parts. */
function multipart(): fc.Arbitrary<{ contentType: string; body: Buffer }> {
  const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");
  return fc
    .record({
      boundary: fc.oneof(fc.constantFrom("XyZ", "----b", "a".repeat(70)), fc.string({ minLength: 1, maxLength: 20 })),
      declared: fc.oneof(fc.constant("same"), fc.constant("none"), fc.constant("other"), text),
      parts: fc.array(
        fc.record({
          name: fc.oneof(fc.constantFrom("file", "uploadPath", "fileName", "file"), text),
          filename: fc.option(fc.oneof(fc.constantFrom("a.png", "../../x.png", "", "a b.png"), text)),
          content: fc.oneof(
            fc.constant(png),
            fc.uint8Array({ maxLength: 300 }).map(Buffer.from),
            text.map((s) => Buffer.from(s)),
          ),
        }),
        { maxLength: 4 },
      ),
      cut: fc.oneof(fc.constant(-1), fc.nat(400)),
    })
    .map(({ boundary, declared, parts, cut }) => {
      const chunks: Buffer[] = [];
      for (const p of parts) {
        const disp = `form-data; name="${p.name}"${p.filename === null ? "" : `; filename="${p.filename}"`}`;
        chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n\r\n`, "utf8"), p.content, Buffer.from("\r\n"));
      }
      chunks.push(Buffer.from(`--${boundary}--\r\n`));
      let body = Buffer.concat(chunks);
      if (cut >= 0 && cut < body.length) body = body.subarray(0, cut);
      const declaredText = declared.replace(/[\r\n\u0000]/g, "");
      const b =
        declared === "same" ? boundary : declared === "other" ? `${boundary}x` : declared === "none" ? null : declaredText;
      const contentType = b === null ? "multipart/form-data" : `multipart/form-data; boundary=${b.replace(/[\r\n\u0000]/g, "")}`;
      return { contentType, body };
    });
}

// --- requests ---------------------------------------------------------------------------------

type Auth = "key" | "other" | "none" | "bad" | "admin" | "junk";
const auths = fc.constantFrom<Auth>("key", "key", "key", "other", "none", "bad", "admin", "junk");

function authHeader(ctx: FuzzContext, a: Auth): [string, string][] {
  switch (a) {
    case "key":
      return [["authorization", `Bearer ${ctx.key}`]];
    case "other":
      return [["authorization", `Bearer ${ctx.otherKey}`]];
    case "admin":
      return [["authorization", `Bearer ${ctx.adminToken}`]];
    case "bad":
      return [["authorization", "Bearer peel_0000000000000000000000000000"]];
    case "junk":
      return [["authorization", "Basic ☃ \t x"]];
    default:
      return [];
  }
}

const contentTypes = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/octet-stream",
  "multipart/form-data",
  "image/png",
  ";;;",
  "application/json; charset=latin1",
  "",
);

interface Target {
  target: string;
  method: string;
  path: string;
  body?: unknown;
  rawBody?: Buffer;
  contentType?: string;
  envelopeAuth?: Auth;
}

function targets(ctx: FuzzContext): fc.Arbitrary<Target> {
  const jobs = fc.constantFrom("/api/v1/jobs", "/api/v1/playground");
  const q = (k: string) =>
    fc.oneof(
      fc.constant(""),
      text.map((v) => `?${k}=${encodeQuery(v)}`),
      nasty.map((v) => `?${k}=${v}`),
    );
  const id = fc.oneof(fc.constantFrom(ctx.taskId, ctx.otherTaskId, ctx.accountId), text.map(encodeSeg));
  const admin = fc.oneof(
    fc.constantFrom("/admin/v1/accounts", "/admin/v1/keys", "/admin/v1/switches", "/admin/v1/deliveries"),
    fc.tuple(fc.constantFrom("accounts", "keys", "tasks", "deliveries"), id).map(([k, i]) => `/admin/v1/${k}/${i}`),
    fc
      .tuple(id, fc.constantFrom("credits", "ledger", "webhook-secret", "webhook-hmac-key"), q("limit"))
      .map(([i, s, qs]) => `/admin/v1/accounts/${i}/${s}${qs}`),
    fc.tuple(q("limit"), q("since")).map(([a, b]) => `/admin/v1/deliveries${a}${b.replace("?", a ? "&" : "?")}`),
    text.map((t) => `/admin/v1/models/${encodeSeg(t)}`),
  );
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ p: jobs, body: createTaskBody(ctx) })
        .map(({ p, body }) => ({ target: "createTask", method: "POST", path: `${p}/createTask`, body })),
    },
    {
      weight: 3,
      arbitrary: fc
        .record({
          p: jobs,
          qs: fc.oneof(
            fc.constantFrom(
              `?taskId=${ctx.taskId}`,
              `?taskId=${ctx.otherTaskId}`,
              "?taskId=%zz",
              "?taskId=",
              "?taskId=a&taskId=b",
            ),
            q("taskId"),
          ),
        })
        .map(({ p, qs }) => ({ target: "recordInfo", method: "GET", path: `${p}/recordInfo${qs}` })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          p: jobs,
          body: fc.oneof(fc.record({ taskId: fc.oneof(fc.constantFrom(ctx.taskId, ctx.otherTaskId), text, jsonish) }), jsonish),
        })
        .map(({ p, body }) => ({ target: "cancel", method: "POST", path: `${p}/cancel`, body })),
    },
    { weight: 1, arbitrary: fc.constant({ target: "credit", method: "GET", path: "/api/v1/chat/credit" }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(q("limit"), fc.constantFrom("", "&limit=0", "&limit=201", "&limit=1e3", "&offset=-1"))
        .map(([a, b]) => ({ target: "ledger", method: "GET", path: `/api/v1/chat/credit/ledger${a || "?"}${b}` })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.constantFrom(`?taskId=${ctx.taskId}`, `?taskId=${ctx.otherTaskId}`, "", "?taskId=%zz"), q("taskId"))
        .map((qs) => ({ target: "deliveries", method: "GET", path: `/api/v1/jobs/deliveries${qs}` })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          q("pageNum"),
          q("pageSize"),
          fc.oneof(
            fc.constantFrom("", "&state=success", "&state=nope", "&model=nano-banana-pro", "&model=../x"),
            text.map((t) => `&state=${encodeQuery(t)}`),
          ),
        )
        .map(([a, b, c]) => ({
          target: "task-list",
          method: "GET",
          path: `/api/v1/jobs/list${a || "?"}${b.replace("?", "&")}${c}`,
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.constantFrom(
            `?taskId=${ctx.taskId}`,
            `?taskIds=${ctx.taskId},${ctx.otherTaskId}`,
            `?taskIds=${Array(101).fill("a").join(",")}`,
            "",
            "?taskId=%zz",
          ),
          q("taskId"),
          q("taskIds"),
        )
        .map((qs) => ({ target: "events", method: "GET", path: `/api/v1/jobs/events${qs}` })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.constantFrom("/console", "/console/", "/console/assets/index.js", "/console/assets/..%2f..%2fpackage.json"),
          text.map((t) => `/console/assets/${encodeSeg(t)}`),
        )
        .map((path) => ({ target: "console", method: "GET", path })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(fc.record({ url: urlish(ctx) }), jsonish)
        .map((body) => ({ target: "download-url", method: "POST", path: "/api/v1/common/download-url", body })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.record(
            {
              base64Data: fc.oneof(
                fc.base64String({ maxLength: 200 }),
                fc.constantFrom("data:image/png;base64,iVBORw0KGgo=", "data:;base64,", "===="),
                text,
                jsonish,
              ),
              uploadPath: fc.oneof(text, jsonish),
              fileName: fc.oneof(text, jsonish),
            },
            { requiredKeys: [] },
          ),
          jsonish,
        )
        .map((body) => ({ target: "base64-upload", method: "POST", path: "/api/file-base64-upload", body })),
    },
    {
      weight: 2,
      arbitrary: multipart().map(({ contentType, body }) => ({
        target: "stream-upload",
        method: "POST",
        path: "/api/file-stream-upload",
        rawBody: body,
        contentType,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.record(
            { fileUrl: fc.oneof(urlish(ctx), jsonish), uploadPath: fc.option(text), fileName: fc.option(text) },
            { requiredKeys: [] },
          ),
          jsonish,
        )
        .map((body) => ({ target: "url-upload", method: "POST", path: "/api/file-url-upload", body })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.constantFrom("/files/%zz", "/files/", "/files/r/x/y.png?exp=1&sig=zz", `/files/r/${ctx.taskId}/a.png?exp=abc`),
          text.map((t) => `/files/${encodeSeg(t)}`),
          nasty.map((t) => `/files/u/${t}/a.png`),
        )
        .chain((path) => fc.constantFrom("GET", "HEAD").map((method) => ({ target: "files", method, path }))),
    },
    {
      weight: 2,
      arbitrary: admin.chain((path) =>
        fc
          .constantFrom("GET", "POST", "PUT", "PATCH", "DELETE")
          .chain((method) => jsonish.map((body) => ({ target: "admin", method, path, body, envelopeAuth: "admin" as Auth }))),
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            "/healthz",
            "/openapi.json",
            "/docs",
            "/docs/json",
            "/",
            "/api",
            "/api/v1/jobs/createTask/x",
            "//api/v1/jobs/recordInfo",
            "/api/v1/jobs/recordInfo/../createTask",
          ),
          fc.constantFrom("GET", "POST", "OPTIONS", "HEAD", "TRACE", "PROPFIND"),
        )
        .map(([path, method]) => ({ target: "other", method, path })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(text, fc.constantFrom("GET", "POST", "DELETE"))
        .map(([t, method]) => ({ target: "random-path", method, path: `/${encodeSeg(t)}/${t.length}` })),
    },
  );
}

function encodeSeg(s: string): string {
  // keep raw `%` sequences in every other one: a malformed escape is part of what is tested
  const keepPercent = s.includes("%") && s.length % 2 === 0;
  return keepPercent ? s.replace(/[^%A-Za-z0-9._~-]/g, (c) => escapeOne(c)) : escapeAll(s);
}

function encodeQuery(s: string): string {
  return escapeAll(s);
}

/** encodeURIComponent, with lone surrogates (which it refuses) replaced by U+FFFD first. */
function escapeAll(s: string): string {
  return encodeURIComponent(wellFormed(s));
}

function escapeOne(c: string): string {
  return encodeURIComponent(wellFormed(c));
}

function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** Broken HTTP below the routes: framing, headers, request lines. */
function protocolAbuse(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const a = `Authorization: Bearer ${ctx.key}\r\n`;
  const raw = (s: string) => ({
    target: "protocol",
    method: "RAW",
    path: "",
    headers: [],
    body: null,
    framing: "raw" as const,
    raw: Buffer.from(s, "latin1"),
  });
  return fc.oneof(
    fc.constantFrom(
      raw(`POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n${a}Content-Length: abc\r\n\r\n`),
      raw(`POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n${a}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`),
      raw(
        `POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n${a}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      ),
      raw(`POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n${a}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`),
      raw(`POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n${a}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`),
      raw(`POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n${a}Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}`),
      raw(`GET /api/v1/jobs/recordInfo?taskId=x HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`),
      raw(`GET / HTTP/9.9\r\nHost: x\r\n\r\n`),
      raw("G\u00e9T / HTTP/1.1\r\nHost: x\r\n\r\n"),
      raw("\u0000\u0001\u0002garbage\r\n\r\n"),
      raw(`GET /api/v1/jobs/recordInfo?taskId=x HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n`),
      raw(`GET /api/v1/jobs/recordInfo?taskId=x HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n`),
      raw(`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`),
      raw(`GET http://evil.example/api/v1/chat/credit HTTP/1.1\r\nHost: x\r\n${a}\r\n`),
      raw(`GET /files/%zz HTTP/1.1\r\nHost: x\r\n\r\n`),
      raw(`GET /api/v1/jobs/recordInfo?taskId=%zz HTTP/1.1\r\nHost: x\r\n${a}\r\n`),
    ),
    fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => ({
      target: "protocol",
      method: "RAW",
      path: "",
      headers: [],
      body: null,
      framing: "raw" as const,
      raw: Buffer.concat([Buffer.from(bytes), Buffer.from("\r\n\r\n")]),
    })),
  );
}

/** The arbitrary: a hostile request over every endpoint. */
export function fuzzRequest(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const routed = fc
    .record({
      t: targets(ctx),
      auth: auths,
      ct: fc.option(contentTypes, { freq: 4 }),
      chunked: fc.boolean(),
      extra: fc.array(
        fc.tuple(
          fc.constantFrom(
            "idempotency-key",
            "x-request-id",
            "accept",
            "accept-encoding",
            "content-encoding",
            "x-forwarded-for",
            "expect",
          ),
          text,
        ),
        { maxLength: 2 },
      ),
      bodyAsJunk: fc.option(fc.uint8Array({ maxLength: 100 }), { freq: 8 }),
    })
    .map(({ t, auth, ct, chunked, extra, bodyAsJunk }): FuzzRequest => {
      const headers: [string, string][] = [...authHeader(ctx, t.envelopeAuth && auth === "key" ? t.envelopeAuth : auth)];
      let body: Buffer | null = null;
      if (t.rawBody) body = t.rawBody;
      else if (bodyAsJunk) body = Buffer.from(bodyAsJunk);
      else if (t.body !== undefined && t.method !== "GET" && t.method !== "HEAD")
        body = Buffer.from(safeStringify(t.body), "utf8");
      const contentType = t.contentType ?? (ct === null ? (body ? "application/json" : null) : ct);
      if (contentType) headers.push(["content-type", contentType]);
      for (const [k, v] of extra) {
        // header values cannot carry CR/LF or NUL on the wire without breaking the request itself
        // (that is protocolAbuse's job); `expect` other than 100-continue is covered there too
        if (k === "expect") continue;
        headers.push([k, v.replace(/[\r\n\u0000]/g, "").replace(/[^\x20-\x7e]/g, "?")]);
      }
      return {
        target: t.target,
        method: t.method,
        path: t.path,
        headers,
        body,
        framing: body ? (chunked ? "chunked" : "length") : "none",
      };
    });
  return fc.oneof({ weight: 12, arbitrary: routed }, { weight: 1, arbitrary: protocolAbuse(ctx) });
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? "null";
  } catch {
    // JSON.stringify overflows on the deepest values: build the text by hand
    return "[".repeat(5000) + "]".repeat(5000);
  }
}

/** The bytes of a request on the wire. */
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
export function issueCorpus(ctx: FuzzContext): FuzzRequest[] {
  const auth: [string, string][] = [["authorization", `Bearer ${ctx.key}`]];
  const json = (target: string, path: string, body: string): FuzzRequest => ({
    target,
    method: "POST",
    path,
    headers: [...auth, ["content-type", "application/json"]],
    body: Buffer.from(body),
    framing: "length",
  });
  const get = (target: string, path: string, headers: [string, string][] = auth): FuzzRequest => ({
    target,
    method: "GET",
    path,
    headers,
    body: null,
    framing: "none",
  });
  const multipart = (contentType: string, body: string): FuzzRequest => ({
    target: "stream-upload",
    method: "POST",
    path: "/api/file-stream-upload",
    headers: [...auth, ["content-type", contentType]],
    body: Buffer.from(body),
    framing: "length",
  });
  const part = '--B\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nabc';
  const raw = (s: string): FuzzRequest => ({
    target: "protocol",
    method: "RAW",
    path: "",
    headers: [],
    body: null,
    framing: "raw",
    raw: Buffer.from(s, "latin1"),
  });
  return [
    json(
      "createTask",
      "/api/v1/jobs/createTask",
      `{"model":"nano-banana-pro","input":{"prompt":"x","a":${"[".repeat(4500)}${"]".repeat(4500)}}}`,
    ),
    json(
      "createTask",
      "/api/v1/jobs/createTask",
      `{"model":"nano-banana-pro","input":{"prompt":"x","a":${"[".repeat(4000)}${"]".repeat(4000)}}}`,
    ),
    multipart("multipart/form-data", `${part}\r\n--B--\r\n`),
    multipart("multipart/form-data; boundary=B", part),
    get("files", "/files/%zz", []),
    get("recordInfo", "/api/v1/jobs/recordInfo?taskId=%zz"),
    get("admin", `/admin/v1/accounts/${ctx.accountId}/ledger?limit=abc`, [["authorization", `Bearer ${ctx.adminToken}`]]),
    raw("POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"),
    raw("POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
    raw("POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nExpect: 418-teapot\r\nContent-Length: 2\r\n\r\n{}"),
    raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: ${"c".repeat(17_000)}\r\n\r\n`),
  ];
}

/** Runs the issue corpus, then `count` generated requests (seeded, reproducible), `parallel` at a time. */
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
