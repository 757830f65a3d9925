import { Readable } from "node:stream";
import { Agent } from "undici";
import type { Dispatcher } from "undici";
import type { AddressPolicy } from "./address-guard.js";

/**
 * The only way peel makes HTTP requests on a client's behalf (input images, callbacks, URL
 * uploads). Every hop is checked against the AddressPolicy: literal IP hosts before any socket is
 * opened, host names inside the socket's own DNS lookup (`policy.lookup` as undici's
 * `connect.lookup`), so the socket only ever connects to an address that was checked and DNS
 * rebinding between "check" and "connect" is impossible. Redirects are followed by hand so each
 * Location is checked the same way. Response bodies are streamed through a byte counter and a
 * total deadline; nothing is buffered without a bound.
 *
 * Two ways in:
 * - `new GuardedClient(policy, opts)` owns one undici Agent; call `close()` at shutdown. Use this
 *   from long-lived components (webhook dispatcher, worker).
 * - `guardedRequest(req)` / `guardedFetchBuffer(req)` share one GuardedClient per (policy,
 *   connectTimeoutMs) pair, created on first use; `closeGuardedClients()` closes them all.
 */

export type OutboundErrorKind = "blocked" | "timeout" | "too_large" | "network" | "bad_url" | "too_many_redirects";

export class OutboundError extends Error {
  readonly kind: OutboundErrorKind;
  constructor(kind: OutboundErrorKind, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = "OutboundError";
    this.kind = kind;
  }
}

export interface GuardedRequest {
  url: string;
  /** @defaultValue "GET" */
  method?: "GET" | "POST" | "HEAD";
  /** A `user-agent: peel` is added when none is given (some CDNs refuse requests without one). */
  headers?: Record<string, string>;
  body?: string | Buffer;
  policy: AddressPolicy;
  /** Redirects followed, each hop re-checked. 0 = a 3xx is returned as the response. */
  maxRedirects: number;
  /** TCP (and TLS) connect timeout per socket, ms. */
  connectTimeoutMs: number;
  /** Deadline for the whole exchange, all hops and the response body included, ms. */
  timeoutMs: number;
  /** Response body cap, bytes; a larger Content-Length is refused unread, a longer body aborted. */
  maxBytes: number;
  signal?: AbortSignal;
}

export type ResponseHeaders = Record<string, string | string[] | undefined>;

export interface GuardedResponse {
  status: number;
  headers: ResponseHeaders;
  /** the final URL, after redirects. */
  url: string;
  /**
   * Buffers, at most maxBytes in all. Read it to the end or `destroy()` it: the socket and the
   * deadline timer are released when it closes. Errors while reading are OutboundErrors (or the
   * caller's abort reason).
   */
  body: Readable;
}

export interface GuardedClientOptions {
  /** TCP (and TLS) connect timeout, ms. */
  connectTimeoutMs: number;
  /**
   * Sockets per origin; further requests queue (their wait counts against their deadline), so a
   * slow or hostile receiver can hold at most this many sockets.
   * @defaultValue 8
   */
  connectionsPerOrigin?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Credentials the caller meant for the first origin only; dropped when a redirect leaves it. */
const ORIGIN_BOUND_HEADERS = ["authorization", "cookie", "proxy-authorization"];

export class GuardedClient {
  private readonly agent: Agent;
  constructor(
    private readonly policy: AddressPolicy,
    opts: GuardedClientOptions,
  ) {
    this.agent = new Agent({
      connect: { lookup: policy.lookup, timeout: opts.connectTimeoutMs },
      connections: opts.connectionsPerOrigin ?? 8,
    });
  }

  /** Sends the request, following up to maxRedirects checked redirects; the body is streamed. */
  async request(req: Omit<GuardedRequest, "policy" | "connectTimeoutMs">): Promise<GuardedResponse> {
    // One controller for the whole exchange: the deadline and the caller's signal both abort it.
    const ctl = new AbortController();
    const timeout = new OutboundError("timeout", `no complete response within ${req.timeoutMs} ms`);
    const timer = setTimeout(() => ctl.abort(timeout), req.timeoutMs);
    const onCallerAbort = () => ctl.abort(req.signal!.reason);
    if (req.signal?.aborted) onCallerAbort();
    else req.signal?.addEventListener("abort", onCallerAbort, { once: true });
    const release = () => {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onCallerAbort);
    };

    try {
      let url = this.checkUrl(req.url);
      let method = req.method ?? "GET";
      let body = req.body;
      let headers = withDefaults(req.headers);
      for (let hop = 0; ; hop++) {
        const res = await this.send(url, method, headers, body, ctl.signal, req.timeoutMs);
        const location = res.headers.location;
        if (req.maxRedirects > 0 && REDIRECTS.has(res.statusCode) && typeof location === "string") {
          discard(res.body); // the redirect's own body is of no use; free the socket now
          if (hop >= req.maxRedirects) {
            throw new OutboundError("too_many_redirects", `more than ${req.maxRedirects} redirects from ${req.url}`);
          }
          let next: URL;
          try {
            next = new URL(location, url);
          } catch (cause) {
            throw new OutboundError("bad_url", `unparsable redirect Location ${JSON.stringify(location)}`, { cause });
          }
          next = this.checkUrl(next.href);
          // Fetch standard, HTTP-redirect fetch step 12: 303 (and 301/302 after POST) become GET.
          if (
            (res.statusCode === 303 && method !== "HEAD") ||
            ((res.statusCode === 301 || res.statusCode === 302) && method === "POST")
          ) {
            method = "GET";
            body = undefined;
            headers = dropHeaders(headers, ["content-type", "content-length"]);
          }
          if (next.origin !== url.origin) headers = dropHeaders(headers, ORIGIN_BOUND_HEADERS);
          url = next;
          continue;
        }
        const declared = Number(res.headers["content-length"]);
        if (method !== "HEAD" && Number.isFinite(declared) && declared > req.maxBytes) {
          discard(res.body);
          throw new OutboundError("too_large", `Content-Length ${declared} exceeds the ${req.maxBytes}-byte cap (${url.href})`);
        }
        const out = cappedBody(res.body, req.maxBytes, ctl.signal, url.href);
        out.once("close", release);
        return { status: res.statusCode, headers: res.headers, url: url.href, body: out };
      }
    } catch (err) {
      release();
      throw translate(err, ctl.signal);
    }
  }

  /** request(), then reads the whole body (≤ maxBytes) into one Buffer. */
  async fetchBuffer(req: Omit<GuardedRequest, "policy" | "connectTimeoutMs">): Promise<BufferedResponse> {
    const res = await this.request(req);
    return { status: res.status, headers: res.headers, url: res.url, body: await readAll(res) };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Scheme, userinfo and the pre-connect host check (literal IPs and forbidden names). */
  private checkUrl(raw: string): URL {
    let u: URL;
    try {
      u = new URL(raw);
    } catch (cause) {
      throw new OutboundError("bad_url", `not an absolute URL: ${JSON.stringify(raw)}`, { cause });
    }
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new OutboundError("bad_url", `scheme ${u.protocol} is not http(s)`);
    if (u.username || u.password) throw new OutboundError("bad_url", "credentials in URLs are not accepted");
    if (!this.policy.isUrlHostAllowed(u)) throw new OutboundError("blocked", `outbound address refused by policy: ${u.hostname}`);
    return u;
  }

  private send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | Buffer | undefined,
    signal: AbortSignal,
    timeoutMs: number,
  ) {
    return this.agent.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      signal,
      // undici's own idle timers (default 300 s) must never outlast our deadline.
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }
}

export interface BufferedResponse {
  status: number;
  headers: ResponseHeaders;
  url: string;
  body: Buffer;
}

const shared = new WeakMap<AddressPolicy, Map<number, GuardedClient>>();
const sharedList: { policy: AddressPolicy; connectTimeoutMs: number; client: GuardedClient }[] = [];

function sharedClient(policy: AddressPolicy, connectTimeoutMs: number): GuardedClient {
  let byTimeout = shared.get(policy);
  if (!byTimeout) {
    byTimeout = new Map();
    shared.set(policy, byTimeout);
  }
  let client = byTimeout.get(connectTimeoutMs);
  if (!client) {
    client = new GuardedClient(policy, { connectTimeoutMs });
    byTimeout.set(connectTimeoutMs, client);
    sharedList.push({ policy, connectTimeoutMs, client });
  }
  return client;
}

/** The function form of GuardedClient.request, on a client shared per policy. */
export async function guardedRequest(req: GuardedRequest): Promise<GuardedResponse> {
  return sharedClient(req.policy, req.connectTimeoutMs).request(req);
}

/** The function form of GuardedClient.fetchBuffer, on a client shared per policy. */
export async function guardedFetchBuffer(req: GuardedRequest): Promise<BufferedResponse> {
  return sharedClient(req.policy, req.connectTimeoutMs).fetchBuffer(req);
}

/** Closes the clients behind guardedRequest/guardedFetchBuffer (shutdown, test teardown). */
export async function closeGuardedClients(): Promise<void> {
  const all = sharedList.splice(0);
  for (const { policy, connectTimeoutMs } of all) shared.get(policy)?.delete(connectTimeoutMs);
  await Promise.all(all.map(({ client }) => client.close()));
}

/**
 * Reads a response body into one Buffer. With a Content-Length the buffer is allocated once and
 * filled in place, so a large body costs its size once, not twice (chunks + concat).
 */
export async function readAll(res: GuardedResponse): Promise<Buffer> {
  const declared = Number(res.headers["content-length"]);
  if (Number.isSafeInteger(declared) && declared > 0) {
    const out = Buffer.allocUnsafe(declared);
    let at = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      // undici stops parsing at Content-Length, so this only guards against a misbehaving peer.
      if (at + chunk.length > declared) throw new OutboundError("network", "response body longer than its Content-Length");
      chunk.copy(out, at);
      at += chunk.length;
    }
    return at === declared ? out : out.subarray(0, at);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    total += chunk.length;
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

/**
 * Wraps undici's body: counts bytes, aborts past the cap, and turns every failure into an
 * OutboundError (or the caller's abort reason). Destroying the wrapper destroys the source.
 */
function cappedBody(src: Readable, maxBytes: number, signal: AbortSignal, href: string): Readable {
  async function* counted() {
    let seen = 0;
    try {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        seen += chunk.length;
        if (seen > maxBytes) throw new OutboundError("too_large", `response body exceeds the ${maxBytes}-byte cap (${href})`);
        yield chunk;
      }
    } catch (err) {
      throw translate(err, signal);
    }
  }
  const out = Readable.from(counted(), { objectMode: false });
  // Readable.from does not run the generator's cleanup when destroyed before the first read.
  out.once("close", () => discard(src));
  return out;
}

/** Destroys an undici body we will not read (undici reports that as an "aborted" error event). */
function discard(body: Readable): void {
  body.on("error", () => {});
  body.destroy();
}

function withDefaults(headers: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  out["user-agent"] ??= "peel";
  return out;
}

function dropHeaders(headers: Record<string, string>, names: string[]): Record<string, string> {
  const out = { ...headers };
  for (const n of names) delete out[n];
  return out;
}

/** Maps undici/net failures to OutboundError kinds; the caller's abort passes through untouched. */
function translate(err: unknown, signal: AbortSignal): unknown {
  if (err instanceof OutboundError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    return reason instanceof OutboundError ? reason : (reason ?? err);
  }
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "EPEELBLOCKED") return new OutboundError("blocked", (e as Error).message, { cause: err });
    if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
      return new OutboundError("timeout", (e as Error).message, { cause: err });
    }
  }
  const msg = err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}` : String(err);
  return new OutboundError("network", msg, { cause: err });
}
