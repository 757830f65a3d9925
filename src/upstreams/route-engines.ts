import type { Clock } from "../clock.js";
import type { ImageEngine } from "../engines/engine.js";
import { FalRelayEngine } from "../engines/fal.js";
import { GeminiEngine, type EngineLogger } from "../engines/gemini.js";
import { KieRelayEngine } from "../engines/kie.js";
import { ReplicateRelayEngine } from "../engines/replicate.js";
import { SandboxEngine } from "../engines/sandbox.js";
import type { GuardedClient } from "../net/guarded-fetch.js";
import type { UpstreamRoute } from "./config.js";

/**
 * One ImageEngine per route, built from its configuration. The worker passes the route's
 * `modelIds[task.model]` as `GenerateRequest.upstreamModel`, so every engine reads the provider's
 * model id from the request, whatever its kind.
 */
export interface RouteEngineDeps {
  /** the guarded outbound client the relays use (API calls, uploads, result downloads). */
  client: GuardedClient;
  /** per-attempt timeouts, ms (PEEL_GEMINI_TIMEOUT_MS / PEEL_GEMINI_TIMEOUT_4K_MS). */
  attemptTimeoutMs: number;
  attemptTimeout4kMs: number;
  /** the sandbox's artificial delay, ms. */
  sandboxDelayMs: number;
  clock: Clock;
  logger: EngineLogger;
}

export function createRouteEngine(route: UpstreamRoute, d: RouteEngineDeps): ImageEngine {
  const relay = {
    apiKey: route.apiKey ?? "",
    baseUrl: route.baseUrl,
    client: d.client,
    attemptTimeoutMs: d.attemptTimeoutMs,
    attemptTimeout4kMs: d.attemptTimeout4kMs,
    routeName: route.name,
    logger: d.logger,
  };
  switch (route.kind) {
    case "sandbox":
      return new SandboxEngine({ delayMs: d.sandboxDelayMs });
    case "gemini":
    case "vertex":
      return new GeminiEngine({
        mode: route.kind,
        apiKey: route.apiKey,
        baseUrl: route.baseUrl,
        vertexProject: route.vertex?.project ?? null,
        vertexLocation: route.vertex?.location ?? "global",
        vertexAccessToken: route.vertex?.accessToken ?? null,
        attemptTimeoutMs: d.attemptTimeoutMs,
        attemptTimeout4kMs: d.attemptTimeout4kMs,
        clock: d.clock,
        logger: d.logger,
      });
    case "kie":
      return new KieRelayEngine({ ...relay, uploadUrl: route.uploadUrl });
    case "fal":
      return new FalRelayEngine(relay);
    case "replicate":
      return new ReplicateRelayEngine(relay);
  }
}
