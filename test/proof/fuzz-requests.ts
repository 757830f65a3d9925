import fc from "fast-check";
import type { FuzzContext, FuzzRequest } from "./fuzz.js";
import { createTaskBody, jsonish, multipart, nasty, text, urlish } from "./fuzz-values.js";

/**
 * The fuzz's requests (test/proof/fuzz.ts): a target among every endpoint peel serves, random
 * auth, content type, framing and extra headers; raw protocol abuse below the routes; and the
 * requests issue 10 reported, word for word.
 */

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
