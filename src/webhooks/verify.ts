import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Receiver-side verification of peel callbacks. Self-contained (node:crypto only, no peel
 * imports) so users can copy this file into their own service.
 *
 *   // Standard Webhooks — covers the body; pass the raw body text, not re-serialized JSON.
 *   verifyStandardWebhook(rawBody, req.headers, "whsec_...")
 *   // kie.ai's scheme — covers only taskId and timestamp.
 *   verifyKieSignature(rawBody, req.headers, "whk_...")
 *
 * Both return a boolean and compare in constant time. Both reject a timestamp more than
 * `toleranceSec` (default 5 minutes) away from now: peel stamps every attempt afresh, so a
 * genuine callback is always recent, while a captured one replayed later is not.
 */

export type HeaderBag =
  | { get(name: string): string | null } // fetch Headers
  | Record<string, string | string[] | undefined>; // Node IncomingHttpHeaders, plain objects

export interface VerifyOptions {
  /** Largest accepted |now − timestamp|, in seconds. @defaultValue 300 */
  toleranceSec?: number;
  /** "Now" in Unix seconds, for tests. @defaultValue Math.floor(Date.now() / 1000) */
  nowSec?: number;
}

const DEFAULT_TOLERANCE_SEC = 5 * 60;

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === "function") {
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  }
  for (const [k, v] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(", ") : v;
  }
  return undefined;
}

/** Parses a Unix-seconds header and checks it lies within the tolerance. */
function timestampOk(value: string | undefined, opts: VerifyOptions): value is string {
  if (!value || !/^\d{1,12}$/.test(value)) return false;
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  return Math.abs(now - Number(value)) <= tolerance;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  // The length of an HMAC is public; only the content comparison must be constant-time.
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * kie's scheme (docs/kie-contract.md §7.3): `X-Webhook-Signature` = base64(HMAC-SHA256(key = hmacKey,
 * msg = `${taskId}.${X-Webhook-Timestamp}`)). `body` may be the raw text/Buffer or the parsed
 * object; the task id is read where kie clients read it (data.taskId, data.task_id, taskId).
 * Note the body itself is not signed: prefer `verifyStandardWebhook` where you can.
 */
export function verifyKieSignature(body: unknown, headers: HeaderBag, hmacKey: string, opts: VerifyOptions = {}): boolean {
  let parsed: unknown = body;
  if (typeof body === "string" || Buffer.isBuffer(body)) {
    try {
      parsed = JSON.parse(body.toString());
    } catch {
      return false;
    }
  }
  const b = parsed as { taskId?: unknown; data?: { taskId?: unknown; task_id?: unknown } } | null;
  const id = b?.data?.taskId ?? b?.data?.task_id ?? b?.taskId;
  const ts = header(headers, "x-webhook-timestamp");
  const sig = header(headers, "x-webhook-signature");
  if (typeof id !== "string" || !id || !sig || !timestampOk(ts, opts)) return false;
  const want = createHmac("sha256", hmacKey).update(`${id}.${ts}`, "utf8").digest();
  return sameBytes(Buffer.from(sig, "base64"), want);
}

/**
 * Standard Webhooks (spec "Verifying signatures"): recomputes
 * base64(HMAC-SHA256(key = base64-decoded secret after `whsec_`, msg = `${id}.${ts}.${payload}`))
 * and accepts when any `v1,` entry of the space-separated `webhook-signature` header matches
 * under any of `secrets` (pass old and new during your own rotation). `payload` must be the body
 * bytes exactly as received.
 */
export function verifyStandardWebhook(
  payload: string | Buffer,
  headers: HeaderBag,
  secret: string | readonly string[],
  opts: VerifyOptions = {},
): boolean {
  const id = header(headers, "webhook-id");
  const ts = header(headers, "webhook-timestamp");
  const sigHeader = header(headers, "webhook-signature");
  if (!id || !sigHeader || !timestampOk(ts, opts)) return false;

  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const expected = (typeof secret === "string" ? [secret] : secret).map((s) =>
    createHmac("sha256", decodeSecret(s)).update(`${id}.${ts}.`, "utf8").update(body).digest(),
  );
  let ok = false;
  for (const entry of sigHeader.split(" ")) {
    const comma = entry.indexOf(",");
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue; // other schemes (v1a) are not ours
    const got = Buffer.from(entry.slice(comma + 1), "base64");
    // No early exit: the time taken must not depend on which entry or secret matched.
    for (const want of expected) ok = sameBytes(got, want) || ok;
  }
  return ok;
}

function decodeSecret(secret: string): Buffer {
  const key = Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
  // A misconfigured (empty) secret is the caller's bug, not a forged request: say so loudly.
  if (key.length === 0) throw new Error("webhook secret decodes to an empty key");
  return key;
}
