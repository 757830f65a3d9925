import type { GeneratedImage, GenerateRequest, ImageEngine } from "../engines/engine.js";
import { ProviderError } from "../errors.js";
import type { PeelMetrics } from "./metrics.js";

/**
 * The engine the worker runs, timed: each successful attempt is observed in
 * `peel_generation_duration_seconds`, each failed one counted in `peel_upstream_errors_total` by
 * its ProviderError reason. Aborts (cancel, deadline, shutdown) are neither: the upstream did not fail.
 * `route` names the upstream route (PEEL_UPSTREAMS): with one engine per route, wrap each with its
 * route's name; the single configured engine is "default".
 */
export function observedEngine(engine: ImageEngine, metrics: PeelMetrics, route = "default"): ImageEngine {
  return {
    name: engine.name,
    async generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
      const t0 = performance.now();
      const labels = { engine: engine.name, model: req.model, route };
      try {
        const image = await engine.generate(req, signal);
        metrics.generation({ ...labels, resolution: req.resolution, seconds: (performance.now() - t0) / 1000 });
        return image;
      } catch (err) {
        if (!signal.aborted) {
          metrics.upstreamError({ ...labels, reason: err instanceof ProviderError ? err.reason : "internal" });
        }
        throw err;
      }
    },
  };
}
