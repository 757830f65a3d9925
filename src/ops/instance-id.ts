import { createHmac } from "node:crypto";

/**
 * The deployment's id, as /healthz reports it: derived from the link-signing secret, which every
 * process of one deployment shares (signed links must verify in all of them). `peel doctor`
 * derives it from its own configuration and compares, to tell "PEEL_PUBLIC_URL reaches this
 * server" from "it reaches some other peel". One-way and truncated: it reveals nothing of the secret.
 */
export function deploymentId(secret: string): string {
  return createHmac("sha256", secret).update("peel deployment id").digest("hex").slice(0, 16);
}
