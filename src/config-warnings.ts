import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import type { Config } from "./config.js";
import { retiredGoogleModel } from "./engines/gemini-models.js";

/**
 * Settings that are valid but probably wrong, said once at start (server.ts logs each as a warning):
 * a Google model id Google has retired (its tasks would all fail), and a public URL that clients
 * may refuse to use (docs/deploy.md).
 */
export function configWarnings(config: Readonly<Config>): string[] {
  const warnings: string[] = [];
  for (const [kieModel, googleModel] of Object.entries(config.gemini.models)) {
    const retired = retiredGoogleModel(googleModel);
    if (retired) {
      warnings.push(
        `${kieModel} is set to call ${googleModel} (PEEL_GEMINI_MODEL / PEEL_GOOGLE_MODELS), which Google retired on ${retired.retired}: ` +
          `its tasks fail with the Gemini and Vertex engines; use ${retired.replacement} (docs/engines.md)`,
      );
    }
  }
  const url = new URL(config.publicUrl);
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    warnings.push(
      `PEEL_PUBLIC_URL=${config.publicUrl} is plain http on a host other clients reach: some kie clients refuse result and ` +
        "upload URLs that are not https on the default port; put TLS in front of peel and set an https PEEL_PUBLIC_URL (docs/deploy.md)",
    );
  }
  return warnings;
}

/** `localhost`, `*.localhost`, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  return isIP(host) !== 0 && ipaddr.process(host).range() === "loopback";
}
