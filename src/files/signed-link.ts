import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signed download links for files peel serves itself (embedded mode, docs/kie-contract.md §9).
 *
 * sig = first 32 hex characters (128 bits) of HMAC-SHA256(secret, urlPath + "\n" + exp), where
 * exp is a Unix time in seconds. The path is the exact `/files/...` path the link points at, so a
 * signature is good for one file only; changing either the path or exp invalidates it.
 */

const SIG_HEX = 32;

function sign(secret: string, urlPath: string, exp: number): string {
  return createHmac("sha256", secret).update(`${urlPath}\n${exp}`).digest("hex").slice(0, SIG_HEX);
}

/** The query string to append to `urlPath`: `?exp=<sec>&sig=<32 hex>`. */
export function signLink(secret: string, urlPath: string, expiresAtSec: number): string {
  if (!Number.isSafeInteger(expiresAtSec) || expiresAtSec < 0) throw new RangeError(`bad link expiry: ${expiresAtSec}`);
  return `?exp=${expiresAtSec}&sig=${sign(secret, urlPath, expiresAtSec)}`;
}

export type LinkCheck = "ok" | "expired" | "invalid";

/**
 * Checks a link's `exp` and `sig` query values. The signature is checked first, so a link whose
 * expiry was edited reads "invalid" rather than "expired". A link is good through its exp second.
 */
export function verifyLink(
  secret: string,
  urlPath: string,
  exp: string | undefined,
  sig: string | undefined,
  nowSec: number,
): LinkCheck {
  // Canonical decimal only: "0123" or "1e9" would sign differently from what the link carried.
  if (typeof exp !== "string" || !/^(0|[1-9]\d{0,14})$/.test(exp)) return "invalid";
  if (typeof sig !== "string" || !/^[0-9a-f]{32}$/.test(sig)) return "invalid";
  const expected = Buffer.from(sign(secret, urlPath, Number(exp)), "latin1");
  if (!timingSafeEqual(expected, Buffer.from(sig, "latin1"))) return "invalid";
  return nowSec > Number(exp) ? "expired" : "ok";
}
