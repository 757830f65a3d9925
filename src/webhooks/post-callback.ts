import { performance } from "node:perf_hooks";
import type { Clock } from "../clock.js";
import { OutboundError, type GuardedClient } from "../net/guarded-fetch.js";
import type { WebhookSecrets } from "../store/store.js";
import { parseRetryAfter } from "./schedule.js";
import { buildCallbackHeaders, kieSubjectIdOf } from "./sign.js";

/**
 * One callback attempt: sign the body for the account's current secrets, POST it without
 * following redirects, read at most a few KB of the answer, and say what happened. Never throws
 * for receiver-side trouble: timeouts, refusals and blocked addresses are outcomes, not errors.
 */

export const BLOCKED_ERROR = "destination address refused by policy";

/** Bytes of a response read before it is dropped (enough to free a keep-alive connection). */
const RESPONSE_READ_LIMIT = 4 * 1024;

export interface CallbackMessage {
  url: string;
  accountId: string;
  /** the exact body, identical on every attempt. */
  payload: string;
  webhookId: string;
  taskId: string | null;
}

export interface PostResult {
  /** clock time when the request was sent (after any wait for a per-origin slot). */
  startedAt: number;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** no retry can succeed (blocked address, malformed URL). */
  permanent: boolean;
  retryAfterMs: number | null;
}

export interface PostDeps {
  client: GuardedClient;
  /** read per attempt, so a rotation or a new HMAC key applies to the next retry. */
  secrets: (accountId: string) => Promise<WebhookSecrets>;
  clock: Clock;
  timeoutMs: number;
  userAgent?: string;
  /** aborts the attempt when the dispatcher stops. */
  signal: AbortSignal;
}

export async function postCallback(deps: PostDeps, m: CallbackMessage): Promise<PostResult> {
  const secrets = await deps.secrets(m.accountId);
  const headers = buildCallbackHeaders({
    payload: m.payload,
    webhookId: m.webhookId,
    kieSubjectId: kieSubjectIdOf(m.taskId, m.payload),
    timestampSec: Math.floor(deps.clock.now() / 1000),
    hmacKey: secrets.hmacKey,
    signingSecrets: secrets.signingSecrets,
    userAgent: deps.userAgent,
  });
  const startedAt = deps.clock.now();
  const t0 = performance.now();
  try {
    const res = await deps.client.request({
      url: m.url,
      method: "POST",
      headers,
      body: m.payload,
      maxRedirects: 0, // a 3xx is a failed attempt (Standard Webhooks: update the URL instead)
      timeoutMs: deps.timeoutMs,
      // We stop reading after a few KB ourselves; a cap here would turn a large 2xx into an error.
      maxBytes: Number.MAX_SAFE_INTEGER,
      signal: deps.signal,
    });
    const latencyMs = performance.now() - t0;
    await discardAfter(res.body, RESPONSE_READ_LIMIT);
    const s = res.status;
    const retryAfter = s === 429 || s === 503 ? parseRetryAfter(firstHeader(res.headers["retry-after"]), deps.clock.now()) : null;
    const error = isSuccess(s) ? null : s >= 300 && s < 400 ? `HTTP ${s} (redirects are not followed)` : `HTTP ${s}`;
    return { startedAt, statusCode: s, latencyMs, error, permanent: false, retryAfterMs: retryAfter };
  } catch (err) {
    const failure = deps.signal.aborted
      ? { error: "aborted: dispatcher stopping", permanent: false } // it may have arrived: record it, retry later
      : describeFailure(err, deps.timeoutMs);
    return { startedAt, statusCode: null, latencyMs: performance.now() - t0, ...failure, retryAfterMs: null };
  }
}

function describeFailure(err: unknown, timeoutMs: number): { error: string; permanent: boolean } {
  if (err instanceof OutboundError) {
    switch (err.kind) {
      case "blocked":
        return { error: BLOCKED_ERROR, permanent: true };
      case "bad_url":
        return { error: `invalid callback URL: ${err.message}`, permanent: true };
      case "timeout":
        return { error: `timeout: no response within ${timeoutMs} ms`, permanent: false };
      default:
        return { error: `${err.kind}: ${err.message}`, permanent: false };
    }
  }
  return { error: `network: ${err instanceof Error ? err.message : String(err)}`, permanent: false };
}

/** Reads up to `limit` bytes so a small response frees its connection for reuse, then drops it. */
async function discardAfter(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<void> {
  let seen = 0;
  try {
    for await (const chunk of body) {
      seen += chunk.length;
      if (seen > limit) break; // leaving the loop destroys the stream and its socket
    }
  } catch {
    // The status already decided the outcome; a body that fails mid-way changes nothing.
  } finally {
    body.destroy();
  }
}

export function isSuccess(status: number | null): boolean {
  return status !== null && status >= 200 && status < 300;
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
