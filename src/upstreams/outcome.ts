import { ProviderError, type UpstreamOutcome } from "../errors.js";

/**
 * Outcome classes of one upstream call and what each does (docs/engines.md#upstream-routes).
 * The engine that understood the failure sets ProviderError.outcome; for errors built without one
 * the class is derived from the other fields, so every ProviderError has exactly one class.
 */

export type { UpstreamOutcome };
/** A call's class: it succeeded, or failed with an UpstreamOutcome. */
export type OutcomeClass = "success" | UpstreamOutcome;

/** What an outcome does to the route that served the call (src/upstreams/route-health.ts). */
export type RouteEffect =
  /** cooldown for the RetryInfo delay (or a growing backoff) */
  | "cooldown"
  /** cooldown until the daily quota resets at midnight America/Los_Angeles */
  | "quota"
  /** counts toward the route's circuit breaker */
  | "breaker"
  /** the route is disabled until the operator re-enables it */
  | "disable"
  /** says nothing about the route */
  | "none";

/** What an outcome does to the task whose call it was. */
export type TaskEffect =
  /** the next attempt goes to another eligible route at once */
  | "failover"
  /** one more attempt, on any route (the "no image" rule) */
  | "retry_once"
  /** the task fails with this error */
  | "final";

export interface OutcomeEffect {
  route: RouteEffect;
  task: TaskEffect;
  /**
   * Whether the failed call uses up one of the task's attempts. Capacity and route faults
   * (throttling, quota, overload, a disabled route) do not: the task waits for another route
   * inside its deadline instead of failing after three tries.
   */
  usesAttempt: boolean;
}

export const OUTCOME_EFFECTS: Readonly<Record<UpstreamOutcome, OutcomeEffect>> = Object.freeze({
  rate_limited: { route: "cooldown", task: "failover", usesAttempt: false },
  quota_exhausted: { route: "quota", task: "failover", usesAttempt: false },
  overloaded: { route: "breaker", task: "failover", usesAttempt: false },
  server_error: { route: "breaker", task: "failover", usesAttempt: true },
  timeout: { route: "breaker", task: "failover", usesAttempt: true },
  network: { route: "breaker", task: "failover", usesAttempt: true },
  auth: { route: "disable", task: "failover", usesAttempt: false },
  billing: { route: "disable", task: "failover", usesAttempt: false },
  unknown_model: { route: "disable", task: "failover", usesAttempt: false },
  content_policy: { route: "none", task: "final", usesAttempt: true },
  bad_input: { route: "none", task: "final", usesAttempt: true },
  no_image: { route: "none", task: "retry_once", usesAttempt: false },
});

/**
 * The class of a failed call. Non-ProviderErrors (a storage fault, a bug, an abort) are peel's own
 * and say nothing about the route: null.
 */
export function classifyFailure(err: unknown): UpstreamOutcome | null {
  if (!(err instanceof ProviderError)) return null;
  if (err.outcome) return err.outcome;
  switch (err.reason) {
    case "prompt_blocked":
    case "output_blocked":
      return "content_policy";
    case "invalid_input":
      return "bad_input";
    case "no_image":
      return "no_image";
    case "timed_out":
      return "timeout";
    case "canceled":
      return null;
    case "upstream_busy":
      if (err.dailyQuota) return "quota_exhausted";
      if (err.status === 429) return "rate_limited";
      if (err.status === 503) return "overloaded";
      if (err.status === 408 || err.status === 504) return "timeout";
      if (err.status !== undefined && err.status >= 500) return "server_error";
      // no HTTP status: the call never got an answer
      return err.retryOnce ? "timeout" : "network";
    case "internal":
      if (err.status === 401 || err.status === 403) return "auth";
      if (err.status === 402) return "billing";
      if (err.status === 404) return "unknown_model";
      if (err.status !== undefined && err.status >= 400 && err.status < 500) return "bad_input";
      return "server_error";
  }
}

/** The route effect of a call's class; success is handled by route health itself. */
export function routeEffectOf(outcome: UpstreamOutcome): RouteEffect {
  return OUTCOME_EFFECTS[outcome].route;
}
