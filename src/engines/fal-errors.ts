import type { ProviderError } from "../errors.js";
import { dig, relayError, retryAfterMs, statusOutcome, type RelayReply } from "../upstreams/relay-http.js";

/**
 * fal's error answers → ProviderError (fal's "Model Errors" and "Request Error Types" pages;
 * docs/engines.md#fal). Model errors are HTTP 4xx with `detail: [{loc, msg, type}]`; request
 * (infrastructure) errors carry `detail` as text and `error_type`. `inputs[i]` is the task's own
 * URL of the i-th image, so a rejected input is named as the client sent it.
 */

/** Input-image error types of fal's model errors. */
const IMAGE_ERRORS = new Set([
  "image_too_large",
  "image_too_small",
  "image_load_error",
  "file_download_error",
  "file_too_large",
  "unsupported_image_format",
  "face_detection_error",
]);

export function falError(reply: RelayReply, what: string, inputs: readonly string[]): ProviderError {
  const status = reply.status;
  const detail = dig(reply.json, "detail");
  const errorType = dig(reply.json, "error_type") ?? reply.headers["x-fal-error-type"];
  const text =
    typeof detail === "string" ? detail : Array.isArray(detail) ? JSON.stringify(detail).slice(0, 300) : reply.text.slice(0, 200);
  const msg = `${what} answered HTTP ${status}${errorType ? ` (${String(errorType)})` : ""}: ${text || "no detail"}`;
  const common = { status, retryAfterMs: retryAfterMs(reply.headers) };

  if (Array.isArray(detail)) {
    for (const d of detail as Array<Record<string, unknown>>) {
      const type = d?.type;
      const loc = Array.isArray(d?.loc) ? (d.loc as unknown[]) : [];
      if (type === "content_policy_violation") {
        // flagged inputs (prompt or images) block the request; anything else is the output
        const onInput = loc.includes("prompt") || loc.includes("image_urls");
        return relayError("content_policy", msg, { ...common, reason: onInput ? "prompt_blocked" : "output_blocked" });
      }
      if (typeof type === "string" && IMAGE_ERRORS.has(type)) {
        const i = loc[loc.indexOf("image_urls") + 1];
        const own = loc.includes("image_urls") && typeof i === "number" ? inputs[i] : undefined;
        return relayError("bad_input", msg, {
          ...common,
          reason: "invalid_input",
          failMsg: own ? `Invalid image_input: ${own}` : "Invalid image_input",
        });
      }
    }
  }
  if (status === 403) {
    // an account locked for an exhausted balance answers 403 ("User is locked. Reason: Exhausted balance")
    return relayError(/locked|balance|billing/i.test(text) ? "billing" : "auth", msg, common);
  }
  if (errorType === "request_timeout" || errorType === "startup_timeout") return relayError("timeout", msg, common);
  if (typeof errorType === "string" && errorType.startsWith("runner_")) return relayError("overloaded", msg, common);
  return relayError(statusOutcome(status), msg, common);
}
