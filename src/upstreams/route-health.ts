import { nextPacificMidnight } from "../engines/gemini-errors.js";
import type { UpstreamOutcome } from "../errors.js";
import { OUTCOME_EFFECTS } from "./outcome.js";

/**
 * Per-route health: a pure state machine over call outcomes and an injected clock (no timers).
 *
 *   ok ──429──► cooldown(until RetryInfo / backoff) ──time──► ok
 *   ok ──daily quota──► cooldown(until midnight America/Los_Angeles) ──time──► ok
 *   ok ──N consecutive 5xx/overload/timeout/network──► open(until) ──time──► half_open
 *   half_open: exactly one probe call; success → ok; failure → open again, open time doubled (capped)
 *   any ──auth/billing/unknown model──► disabled(why) ──enable()──► ok
 *
 * Content-policy blocks, bad input and "no image" are verdicts on the task, not on the route.
 * States that end with time are read lazily (`view(name, now)`), so the machine needs no timers
 * and tests drive it with a manual clock.
 */

export type RouteHealthState =
  | { state: "ok"; consecutiveFailures: number }
  | { state: "cooldown"; until: number; why: string }
  | { state: "open"; until: number; consecutiveFailures: number; openMs: number; why: string }
  | { state: "half_open"; probeInFlight: boolean; consecutiveFailures: number; openMs: number }
  | { state: "disabled"; why: string; since: number };

export interface HealthLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface RouteHealthOptions {
  /** consecutive breaker failures (5xx, overload, timeout, network) that open the circuit. @defaultValue 3 */
  failureThreshold?: number;
  /** how long the circuit stays open the first time, ms; doubles after each failed probe. @defaultValue 5000 */
  openBaseMs?: number;
  /** longest open time, ms. @defaultValue 300000 (5 min) */
  openMaxMs?: number;
  /** cooldown after a 429 without a RetryInfo delay, ms; doubles per consecutive 429. @defaultValue 20000 */
  rateLimitBaseMs?: number;
  /** longest such cooldown, ms. @defaultValue 300000 (5 min) */
  rateLimitMaxMs?: number;
  /** @defaultValue silent */
  logger?: HealthLogger;
}

/** Whether a route may take a call now; `probe` marks the single half-open trial call. */
export type Admission = { admitted: true; probe: boolean } | { admitted: false; retryAt: number | null; state: string };

interface Entry {
  mode: "ok" | "cooldown" | "open" | "half_open" | "disabled";
  until: number;
  why: string;
  since: number;
  consecutiveFailures: number;
  consecutiveRateLimits: number;
  /** the open time used last; the next one doubles it. */
  openMs: number;
  probeInFlight: boolean;
}

const SILENT: HealthLogger = { error() {}, warn() {}, info() {} };

export class RouteHealth {
  private readonly entries = new Map<string, Entry>();
  private readonly threshold: number;
  private readonly openBaseMs: number;
  private readonly openMaxMs: number;
  private readonly rlBaseMs: number;
  private readonly rlMaxMs: number;
  private readonly log: HealthLogger;

  constructor(names: readonly string[], opts: RouteHealthOptions = {}) {
    this.threshold = opts.failureThreshold ?? 3;
    this.openBaseMs = opts.openBaseMs ?? 5_000;
    this.openMaxMs = opts.openMaxMs ?? 300_000;
    this.rlBaseMs = opts.rateLimitBaseMs ?? 20_000;
    this.rlMaxMs = opts.rateLimitMaxMs ?? 300_000;
    this.log = opts.logger ?? SILENT;
    for (const n of names) this.entries.set(n, fresh(0));
  }

  /** The route's state at `now` (cooldowns and open circuits end here, lazily). */
  view(name: string, now: number): RouteHealthState {
    const e = this.settle(name, now);
    switch (e.mode) {
      case "ok":
        return { state: "ok", consecutiveFailures: e.consecutiveFailures };
      case "cooldown":
        return { state: "cooldown", until: e.until, why: e.why };
      case "open":
        return { state: "open", until: e.until, consecutiveFailures: e.consecutiveFailures, openMs: e.openMs, why: e.why };
      case "half_open":
        return {
          state: "half_open",
          probeInFlight: e.probeInFlight,
          consecutiveFailures: e.consecutiveFailures,
          openMs: e.openMs,
        };
      case "disabled":
        return { state: "disabled", why: e.why, since: e.since };
    }
  }

  /**
   * Asks to send one call. A half-open route admits exactly one (the probe) until its outcome is
   * recorded or the probe is abandoned. `retryAt` is when the route may be eligible again (null:
   * not by time alone — disabled, or waiting on the probe in flight).
   */
  admit(name: string, now: number): Admission {
    const e = this.settle(name, now);
    switch (e.mode) {
      case "ok":
        return { admitted: true, probe: false };
      case "half_open":
        if (e.probeInFlight) return { admitted: false, retryAt: null, state: "half_open" };
        e.probeInFlight = true;
        return { admitted: true, probe: true };
      case "cooldown":
      case "open":
        return { admitted: false, retryAt: e.until, state: e.mode };
      case "disabled":
        return { admitted: false, retryAt: null, state: "disabled" };
    }
  }

  /** The admitted call was never sent (no capacity, nothing to claim): a probe slot is freed. */
  abandon(name: string, probe: boolean): void {
    const e = this.entry(name);
    if (probe && e.mode === "half_open") e.probeInFlight = false;
  }

  /**
   * Records a call's outcome. `retryAfterMs` is the upstream's own delay (RetryInfo, Retry-After)
   * for a 429; `why` is a short, key-free reason for the operator.
   */
  record(
    name: string,
    outcome: "success" | UpstreamOutcome,
    now: number,
    detail: { retryAfterMs?: number; why?: string; probe?: boolean } = {},
  ): RouteHealthState {
    const e = this.settle(name, now);
    if (e.mode === "disabled") return this.view(name, now); // only the operator brings it back
    const wasProbe = e.mode === "half_open" && (detail.probe ?? e.probeInFlight);
    if (e.mode === "half_open" && wasProbe) e.probeInFlight = false;

    if (outcome === "success") {
      if (e.mode !== "ok") this.log.info({ event: "upstream:route:recovered", route: name, from: e.mode }, "route recovered");
      Object.assign(e, fresh(now));
      return this.view(name, now);
    }

    const why = detail.why ?? outcome;
    switch (OUTCOME_EFFECTS[outcome].route) {
      case "none":
        // A verdict on the task says nothing about the route; a probe that got one is simply freed.
        break;
      case "cooldown": {
        e.consecutiveRateLimits++;
        const backoff = Math.min(this.rlMaxMs, this.rlBaseMs * 2 ** (e.consecutiveRateLimits - 1));
        this.enterCooldown(e, name, now + (detail.retryAfterMs ?? backoff), `rate limited: ${why}`, now);
        break;
      }
      case "quota":
        this.enterCooldown(e, name, nextPacificMidnight(now), `daily quota exhausted: ${why}`, now);
        break;
      case "breaker":
        e.consecutiveFailures++;
        if (wasProbe) {
          this.open(e, name, now, Math.min(this.openMaxMs, Math.max(this.openBaseMs, e.openMs * 2)), why);
        } else if (e.mode === "ok" && e.consecutiveFailures >= this.threshold) {
          this.open(e, name, now, this.openBaseMs, why);
        }
        break;
      case "disable":
        this.disable(name, `${outcome}: ${why}`, now);
        break;
    }
    return this.view(name, now);
  }

  /** Operator action: a disabled (or any) route is healthy again from now. */
  enable(name: string, now: number): void {
    const e = this.entry(name);
    if (e.mode === "disabled")
      this.log.warn({ event: "upstream:route:enabled", route: name }, "route re-enabled by the operator");
    Object.assign(e, fresh(now));
  }

  /** Takes the route out of service until `enable()`; logged once, loudly, with the reason (never a key). */
  disable(name: string, why: string, now: number): void {
    const e = this.entry(name);
    if (e.mode === "disabled") return;
    Object.assign(e, { ...fresh(now), mode: "disabled", why, since: now });
    this.log.error({ event: "upstream:route:disabled", route: name, why }, `upstream route ${name} disabled: ${why}`);
  }

  private enterCooldown(e: Entry, name: string, until: number, why: string, now: number): void {
    // A cooldown never shortens one already running (a daily quota outlasts a RetryInfo delay).
    if ((e.mode === "cooldown" || e.mode === "open") && e.until >= until) return;
    const wasCooling = e.mode === "cooldown";
    Object.assign(e, { mode: "cooldown", until, why, since: now, probeInFlight: false });
    if (!wasCooling) {
      this.log.warn(
        { event: "upstream:route:cooldown", route: name, until: new Date(until).toISOString(), why },
        "route cooling down",
      );
    }
  }

  private open(e: Entry, name: string, now: number, openMs: number, why: string): void {
    Object.assign(e, { mode: "open", until: now + openMs, openMs, why, since: now, probeInFlight: false });
    this.log.warn(
      { event: "upstream:route:open", route: name, openMs, consecutiveFailures: e.consecutiveFailures, why },
      "route circuit opened",
    );
  }

  /** Applies the transitions time alone makes: cooldown → ok, open → half_open. */
  private settle(name: string, now: number): Entry {
    const e = this.entry(name);
    if (e.mode === "cooldown" && now >= e.until) {
      // The circuit counters survive a cooldown; the 429 streak is reset only by a success.
      e.mode = "ok";
    } else if (e.mode === "open" && now >= e.until) {
      e.mode = "half_open";
      e.probeInFlight = false;
    }
    return e;
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`unknown upstream route ${JSON.stringify(name)}`);
    return e;
  }
}

function fresh(now: number): Entry {
  return {
    mode: "ok",
    until: 0,
    why: "",
    since: now,
    consecutiveFailures: 0,
    consecutiveRateLimits: 0,
    openMs: 0,
    probeInFlight: false,
  };
}
