import type { PeelMetrics } from "./metrics.js";
import type { Readiness } from "./readiness.js";

/** What the HTTP layer and the task services get from src/ops/. */
export interface OpsContext {
  readiness: Readiness;
  /** runs `fn` when the process starts draining (end long-lived streams so the drain is not held). */
  onDrain: (fn: () => void) => void;
  /** the deployment id /healthz reports (instance-id.ts). */
  instanceId: string;
  /** null when metrics are off (PEEL_METRICS_PORT=0). */
  metrics: PeelMetrics | null;
}
