import { createHmac, randomBytes } from "node:crypto";
import { PEEL_VERSION } from "../version.js";

/**
 * Callback signing. Two schemes ride side by side (docs/webhooks.md):
 * - kie's (docs/kie-contract.md §7.3), for clients ported from kie.ai: `X-Webhook-Timestamp` +
 *   `X-Webhook-Signature` over `taskId.timestamp` — the body is NOT covered. Sent only when the
 *   account has an HMAC key.
 * - Standard Webhooks (their spec's "Signature scheme", linked from docs/webhooks.md): `webhook-id`,
 *   `webhook-timestamp`, `webhook-signature` over `id.timestamp.body`, one `v1,` entry per active
 *   `whsec_` secret so a rotation has an overlap in which old and new both verify.
 * The receiver side lives in verify.ts.
 */

export const DEFAULT_USER_AGENT = `peel/${PEEL_VERSION}`;

const SECRET_PREFIX = "whsec_";

/** kie's `X-Webhook-Signature`: base64(HMAC-SHA256(key = UTF-8 hmacKey, msg = `${taskId}.${ts}`)). */
export function kieSignature(hmacKey: string, taskId: string, timestampSec: number): string {
  return createHmac("sha256", hmacKey).update(`${taskId}.${timestampSec}`, "utf8").digest("base64");
}

/** The raw key of a `whsec_...` secret: the base64 after the prefix. Throws on an empty key. */
export function decodeSigningSecret(secret: string): Buffer {
  const b64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(b64, "base64");
  if (key.length === 0) throw new Error("signing secret decodes to an empty key");
  return key;
}

/** One Standard Webhooks signature entry: `v1,<base64 HMAC-SHA256(key, `${id}.${ts}.${payload}`)>`. */
export function standardSignature(secret: string, webhookId: string, timestampSec: number, payload: string): string {
  const mac = createHmac("sha256", decodeSigningSecret(secret))
    .update(`${webhookId}.${timestampSec}.${payload}`, "utf8")
    .digest("base64");
  return `v1,${mac}`;
}

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (spec: 24–64 bytes). */
export function generateSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64");
}

/**
 * A new kie-scheme HMAC key. kie treats the key as an opaque UTF-8 string; ours is `whk_` + 43
 * base64url characters (32 random bytes), safe to paste into any config file.
 */
export function generateHmacKey(): string {
  return "whk_" + randomBytes(32).toString("base64url");
}

export interface SignInput {
  /** The JSON body exactly as sent; signatures cover these bytes. */
  payload: string;
  /** Standard Webhooks `webhook-id` (the delivery's `msg_...`), stable across retries. */
  webhookId: string;
  /**
   * The id the kie scheme signs: the task id (for a test event, the `data.taskId` in its body).
   * null → no kie headers even with a key, since the receiver could not reproduce the message.
   */
  kieSubjectId: string | null;
  /** This attempt's time in Unix seconds; new on every retry. */
  timestampSec: number;
  hmacKey: string | null;
  /** `whsec_...` secrets that sign right now; empty → no Standard Webhooks headers. */
  signingSecrets: readonly string[];
  /** @defaultValue `peel/<package.json version>` */
  userAgent?: string;
}

/** The full header set of one callback attempt. */
export function buildCallbackHeaders(input: SignInput): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": input.userAgent ?? DEFAULT_USER_AGENT,
    // Sent even unsigned: it is the receiver's de-duplication key across retries and replays.
    "webhook-id": input.webhookId,
  };
  const ts = input.timestampSec;
  if (input.hmacKey && input.kieSubjectId) {
    headers["x-webhook-timestamp"] = String(ts);
    headers["x-webhook-signature"] = kieSignature(input.hmacKey, input.kieSubjectId, ts);
  }
  if (input.signingSecrets.length > 0) {
    headers["webhook-timestamp"] = String(ts);
    headers["webhook-signature"] = input.signingSecrets
      .map((s) => standardSignature(s, input.webhookId, ts, input.payload))
      .join(" ");
  }
  return headers;
}

/**
 * The id kie's scheme signs for a delivery: its task id, or else the one in the body where kie
 * clients look for it (`data.taskId`, `data.task_id`, `taskId`) — test events carry one there.
 */
export function kieSubjectIdOf(taskId: string | null, payload: string): string | null {
  if (taskId) return taskId;
  try {
    const body = JSON.parse(payload) as { taskId?: unknown; data?: { taskId?: unknown; task_id?: unknown } };
    const id = body?.data?.taskId ?? body?.data?.task_id ?? body?.taskId;
    return typeof id === "string" && id !== "" ? id : null;
  } catch {
    return null; // not JSON: nothing a kie receiver could extract either
  }
}
