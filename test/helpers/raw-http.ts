import net from "node:net";

/**
 * Sends bytes on a fresh TCP connection and collects everything the server writes until it closes
 * the connection (or `timeoutMs` passes). For requests fetch() and inject() cannot express:
 * malformed framing, conflicting length headers, odd Expect values, huge headers.
 */
export interface RawResponse {
  /** the raw text received ("" when the server wrote nothing). */
  text: string;
  /** status of the first response, or 0. */
  status: number;
  headers: Record<string, string>;
  /** body of the first response (de-chunked when chunked). */
  body: string;
  /** parsed JSON body, or undefined. */
  json: any;
  /** the server closed the connection (rather than the timeout). */
  closed: boolean;
}

export function rawRequest(
  port: number,
  bytes: string | Buffer,
  opts: { host?: string; timeoutMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = false;
    const s = net.connect(port, opts.host ?? "127.0.0.1", () => s.write(bytes));
    const timer = setTimeout(() => s.destroy(), opts.timeoutMs ?? 5000);
    s.on("data", (d) => chunks.push(d));
    s.on("error", () => {});
    s.on("end", () => {
      closed = true;
      s.end();
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks).toString("latin1"), closed));
    });
  });
}

/** Parses the first HTTP/1.1 response in `text`. */
export function parseResponse(text: string, closed = true): RawResponse {
  const headEnd = text.indexOf("\r\n\r\n");
  const head = headEnd < 0 ? text : text.slice(0, headEnd);
  const lines = head.split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = headEnd < 0 ? "" : text.slice(headEnd + 4);
  if (headers["content-length"] !== undefined) body = body.slice(0, Number(headers["content-length"]));
  else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) body = dechunk(body);
  body = Buffer.from(body, "latin1").toString("utf8");
  let json: any;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { text, status, headers, body, json, closed };
}

function dechunk(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; ) {
    const eol = s.indexOf("\r\n", i);
    if (eol < 0) break;
    const n = Number.parseInt(s.slice(i, eol), 16);
    if (!(n > 0)) break;
    out += s.slice(eol + 2, eol + 2 + n);
    i = eol + 2 + n + 2;
  }
  return out;
}

/** `METHOD path HTTP/1.1` with Host, the given headers, and a body with its Content-Length. */
export function httpRequest(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Buffer {
  const b = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const all: Record<string, string> = { host: "peel.test", connection: "close", ...headers };
  if (body !== undefined && all["content-length"] === undefined) all["content-length"] = String(b.length);
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), b]);
}
