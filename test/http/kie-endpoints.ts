import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import assert from "node:assert/strict";

/**
 * The kie endpoints peel serves (docs/kie-contract.md §2), with a request that would succeed with a good
 * key. The auth and tenancy suites generate their cases from this list, so a new endpoint added
 * here is covered everywhere at once.
 */
export type EnvelopeKind = "kie" | "upload";

export interface KieEndpoint {
  name: string;
  method: "GET" | "POST";
  path: string;
  envelope: EnvelopeKind;
  /** a JSON body a valid caller could send (undefined for GET). */
  body?: unknown;
}

/** 1x1 transparent PNG. */
export const TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

export const CREATE_BODY = { model: "nano-banana-pro", input: { prompt: "a lighthouse at dusk" } };

export const KIE_ENDPOINTS: readonly KieEndpoint[] = [
  { name: "createTask", method: "POST", path: "/api/v1/jobs/createTask", envelope: "kie", body: CREATE_BODY },
  { name: "playground createTask", method: "POST", path: "/api/v1/playground/createTask", envelope: "kie", body: CREATE_BODY },
  { name: "recordInfo", method: "GET", path: "/api/v1/jobs/recordInfo?taskId=0123456789abcdef0123456789abcdef", envelope: "kie" },
  {
    name: "playground recordInfo",
    method: "GET",
    path: "/api/v1/playground/recordInfo?taskId=0123456789abcdef0123456789abcdef",
    envelope: "kie",
  },
  { name: "chat/credit", method: "GET", path: "/api/v1/chat/credit", envelope: "kie" },
  {
    name: "download-url",
    method: "POST",
    path: "/api/v1/common/download-url",
    envelope: "kie",
    body: { url: "https://example.com/a.png" },
  },
  {
    name: "cancel",
    method: "POST",
    path: "/api/v1/jobs/cancel",
    envelope: "kie",
    body: { taskId: "0123456789abcdef0123456789abcdef" },
  },
  {
    name: "playground cancel",
    method: "POST",
    path: "/api/v1/playground/cancel",
    envelope: "kie",
    body: { taskId: "0123456789abcdef0123456789abcdef" },
  },
  {
    name: "file-base64-upload",
    method: "POST",
    path: "/api/file-base64-upload",
    envelope: "upload",
    body: { base64Data: TINY_PNG_B64 },
  },
  { name: "file-stream-upload", method: "POST", path: "/api/file-stream-upload", envelope: "upload" },
  {
    name: "file-url-upload",
    method: "POST",
    path: "/api/file-url-upload",
    envelope: "upload",
    body: { fileUrl: "http://127.0.0.1:9/a.png" },
  },
];

export const KIE_UNAUTHORIZED = { code: 401, msg: "You do not have access permissions", data: null };
export const UPLOAD_UNAUTHORIZED = { success: false, code: 401, msg: "Authentication failed: Invalid API Key", data: null };

export function unauthorizedBody(envelope: EnvelopeKind): Record<string, unknown> {
  return envelope === "upload" ? UPLOAD_UNAUTHORIZED : KIE_UNAUTHORIZED;
}

/** Sends the endpoint's request with exactly the given Authorization header (or none). */
export async function callEndpoint(
  baseUrl: string,
  ep: KieEndpoint,
  authorization: string | null,
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const headers: Record<string, string> = {};
  if (authorization !== null) headers.authorization = authorization;
  let body: FormData | string | undefined;
  if (ep.path === "/api/file-stream-upload") {
    const form = new FormData();
    form.append("file", new Blob([Buffer.from(TINY_PNG_B64, "base64")], { type: "image/png" }), "a.png");
    body = form;
  } else if (ep.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(ep.body);
  }
  const res = await fetch(baseUrl + ep.path, { method: ep.method, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** kie business error: HTTP 200, the exact body, the JSON content type. */
export function assertKieError(
  res: { status: number; json: any; headers: Headers },
  code: number,
  msg: string,
  http = 200,
): void {
  assert.equal(res.status, http, `HTTP status for ${msg}: ${JSON.stringify(res.json)}`);
  assert.deepEqual(res.json, { code, msg, data: null });
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
}

/** A local HTTP server on 127.0.0.1 (the harness allow-lists it) that answers by path. */
export async function startFileServer(
  routes: Record<string, { status: number; type?: string; body?: Buffer | string }>,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const r = routes[req.url ?? ""] ?? { status: 404, body: "not found" };
    res.writeHead(r.status, r.type ? { "content-type": r.type } : {});
    res.end(r.body ?? "");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
