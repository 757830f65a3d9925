/**
 * Upstream routes (docs/engines.md#upstream-routes): a list of routes (Google keys and projects,
 * kie/fal/Replicate relays), each with models, priority, weight and limits. The parts:
 *
 *   config.ts        PEEL_UPSTREAMS (or the single-engine shorthand) → UpstreamRoute[]
 *   outcome.ts       a failed call's class (ProviderError.outcome) and its effect on route and task
 *   route-health.ts  per route: ok / cooldown / circuit open / half-open / disabled (pure, clocked)
 *   capacity.ts      rpm (sliding minute), rpd (Pacific day), concurrency (TTL slots); memory impl
 *   redis-capacity.ts  the same contract shared by processes through Redis
 *   chooser.ts       priority, smooth weighted round-robin, admission → a route + capacity lease
 *   route-engines.ts one ImageEngine per route (gemini, vertex, kie, fal, replicate, sandbox)
 *   relay-http.ts    what the relay engines share
 *
 * Integration with the queue (phase B; the worker and store change for it):
 *
 * 1. Admission before claiming. Each worker round asks the store for the models that have
 *    claimable `queuing` tasks (new `queuedModels(now)`), oldest first. For each, `choose(model)`;
 *    with a pick, `claimTask({ …, models: [model] })` (new filter); nothing claimed →
 *    `abandon(pick)` gives every token back. No pick → the tasks stay `queuing`; the loop sleeps
 *    until the earliest `retryAt` (capped by pollMs) and wakes early when a local call finishes
 *    (`waitsOnRelease`). A task is therefore claimed only when a route serving its model has
 *    capacity now, and never fails for lack of capacity inside its deadline.
 * 2. The run. The engine is `engines.get(pick.route.name)`; `upstreamModel` is
 *    `pick.route.modelIds[task.model]` (the worker's `upstreamModels` option goes away). The lease
 *    heartbeat also calls `capacity.renew(pick.lease)`, so a SIGKILLed worker's slot frees itself.
 *    Every call ends in `chooser.finish(pick, classifyFailure(err) ?? "success", …, {retryAfterMs, why})`.
 * 3. Failover inside the claim. By OUTCOME_EFFECTS[outcome].task: `final` fails the task as today;
 *    `retry_once` keeps the no-image rule; `failover` asks `choose` again at once and calls the next
 *    route while the worker still holds the task; only when no route can take it now does the task
 *    go back to `queuing` (nextAttemptAt = retryAt), still counted as waiting, not failed. Failures
 *    with `usesAttempt: false` (429, daily quota, overload, disabled route) do not count toward
 *    PEEL_GEMINI_ATTEMPTS; the 15-minute deadline still fails the task (run timer and sweeper).
 * 4. Store: a per-task attempt log (`task_attempts`: task, n, route, started/ended, outcome class,
 *    HTTP status, key-free message, latency) read by the admin task view (routes tried, route that
 *    produced the image) and the route stats; a counted-failures column beside `attempts` for the
 *    budget; `claimTask` with a models filter and `queuedModels`; and for scale-out without Redis a
 *    database RouteCapacity (per-route lock row + a calls table) that passes
 *    test/upstreams/capacity-contract.ts. Redis, when configured, is preferred.
 * 5. Admin and CLI: `GET /admin/v1/upstreams` (describeRoute + health.view + capacity.usage + the
 *    last 15 minutes from the attempt log: attempts, successes, failures by class, p50/p95
 *    latency, spend from the route's cost table), `POST /admin/v1/upstreams/:name/enable|disable`,
 *    and `peel upstreams` (src/cli/upstreams.ts) over the same AdminOps functions. Health is per
 *    process; an operator's enable/disable must reach every worker (a small overrides table or a
 *    Redis key that workers read each round).
 */
export { loadUpstreams, describeRoute, type UpstreamRoute, type UpstreamsConfig, type RouteKind } from "./config.js";
export { classifyFailure, OUTCOME_EFFECTS, type OutcomeClass, type UpstreamOutcome } from "./outcome.js";
export { RouteHealth, type RouteHealthState } from "./route-health.js";
export { MemoryCapacity, type RouteCapacity, type CapacityLease, type CapacityAnswer } from "./capacity.js";
export { RedisCapacity } from "./redis-capacity.js";
export { RouteChooser, type Choice, type RoutePick } from "./chooser.js";
export { createRouteEngine, type RouteEngineDeps } from "./route-engines.js";
