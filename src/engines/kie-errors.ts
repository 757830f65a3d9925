import type { ProviderError, UpstreamOutcome } from "../errors.js";
import { relayError, statusOutcome } from "../upstreams/relay-http.js";

/**
 * A kie-compatible API's answers → ProviderError (docs/kie-contract.md §3, §6.3). kie answers most
 * errors as HTTP 200 with a body `code`; a failed task carries `failCode`/`failMsg`. Both kie.ai and
 * peel speak this, so one table serves either upstream.
 */

/** The outcome of an envelope `code` that is not 200 (createTask, recordInfo, uploads). */
export function kieCodeOutcome(code: number, msg: string): UpstreamOutcome {
  switch (code) {
    case 401:
      return "auth";
    case 402:
      return "billing";
    case 429:
    case 433: // a per-key usage cap: waiting helps, like a 429
      return "rate_limited";
    case 455: // maintenance
      return "overloaded";
    case 422:
      return /model name you specified is not supported/i.test(msg) ? "unknown_model" : "bad_input";
    case 404:
      // createTask's own path answered 404: the route's baseUrl is wrong
      return "unknown_model";
    case 505: // a feature switched off upstream (4K, image_input, uploads)
      return "server_error";
    default:
      return code >= 400 && code < 500 ? statusOutcome(code) : "server_error";
  }
}

/**
 * A failed upstream task → ProviderError. `inputs` maps each URL the upstream saw to the task's
 * own input URL, so `Invalid image_input: <url>` names the URL the client sent.
 */
export function kieTaskFailure(failCode: string, failMsg: string, inputs: ReadonlyMap<string, string>): ProviderError {
  const what = `kie task failed (${failCode}: ${failMsg || "no message"})`;
  if (failCode === "422") {
    if (/content policy/i.test(failMsg)) {
      return relayError("content_policy", what, {
        reason: /generated image/i.test(failMsg) ? "output_blocked" : "prompt_blocked",
      });
    }
    const bad = /^Invalid image_input(?::\s*(.+))?$/.exec(failMsg.trim());
    if (bad) {
      const own = bad[1] ? inputs.get(bad[1].trim()) : undefined;
      return relayError("bad_input", what, {
        reason: "invalid_input",
        failMsg: own ? `Invalid image_input: ${own}` : "Invalid image_input",
      });
    }
    return relayError("bad_input", what);
  }
  if (failCode === "501") return relayError("no_image", what);
  if (failCode === "500") {
    if (/busy/i.test(failMsg)) return relayError("overloaded", what);
    if (/timed out/i.test(failMsg)) return relayError("timeout", what);
    return relayError("server_error", what);
  }
  if (failCode === "400") return relayError("bad_input", what);
  // "canceled" (someone canceled it upstream) and codes kie may add: the route failed this call
  return relayError("server_error", what);
}
