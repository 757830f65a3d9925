import type { ProviderError } from "../errors.js";
import { dig, relayError, retryAfterMs, statusOutcome, type RelayReply } from "../upstreams/relay-http.js";

/**
 * Replicate's answers → ProviderError (Replicate's HTTP API reference, "Rate limits" and
 * "Prediction lifecycle" pages; docs/engines.md#replicate). HTTP errors are problem details
 * `{title, detail, status}`; a prediction that ran and failed has `status: "failed"` and an
 * `error` text, which is all Replicate says about why.
 */

export function replicateHttpError(reply: RelayReply, what: string): ProviderError {
  const detail = dig(reply.json, "detail");
  const title = dig(reply.json, "title");
  const text = [title, detail].filter((v) => typeof v === "string").join(": ") || reply.text.slice(0, 200);
  const msg = `${what} answered HTTP ${reply.status}: ${text || "no detail"}`;
  // "Request was throttled. Your rate limit resets in ~30s." — the body carries the wait
  const inBody = typeof detail === "string" ? /resets in ~?(\d+)\s*s/i.exec(detail) : null;
  const wait = retryAfterMs(reply.headers) ?? (inBody ? Number(inBody[1]) * 1000 : undefined);
  return relayError(statusOutcome(reply.status), msg, { status: reply.status, retryAfterMs: wait });
}

/** A prediction that ended `failed`, `canceled` or `aborted`. */
export function replicatePredictionFailure(status: string, error: unknown, what: string): ProviderError {
  const text = typeof error === "string" ? error : error ? JSON.stringify(error) : "";
  const msg = `${what}: prediction ${status}${text ? `: ${text.slice(0, 300)}` : ""}`;
  if (status === "aborted") return relayError("overloaded", msg); // its deadline passed before it started
  if (status === "canceled") return relayError("server_error", msg);
  if (/\bE005\b|sensitive|safety|content policy|flagged|blocked/i.test(text)) {
    const promptOnly = /prompt/i.test(text) && !/output/i.test(text);
    return relayError("content_policy", msg, { reason: promptOnly ? "prompt_blocked" : "output_blocked" });
  }
  if (/no image|returned no|did not (return|generate)/i.test(text)) return relayError("no_image", msg);
  if (/resource.?exhausted|rate.?limit|quota|\b429\b/i.test(text)) return relayError("rate_limited", msg);
  if (/overloaded|unavailable|high demand|\b503\b/i.test(text)) return relayError("overloaded", msg);
  if (/timed? ?out|deadline/i.test(text)) return relayError("timeout", msg);
  return relayError("server_error", msg);
}
