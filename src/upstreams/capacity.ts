import { randomBytes } from "node:crypto";
import { nextPacificMidnight } from "../engines/gemini-errors.js";
import type { RouteLimits } from "./config.js";

/**
 * Route capacity: how many calls a route may take now. Three limits, each optional:
 *
 * - **rpm**: each admission holds a token for 60 s (a sliding-window log), so no rolling minute
 *   ever sees more than `rpm` calls. A refilling bucket of size `rpm` would let up to 2 × rpm
 *   through in the first minute, which is exactly what makes Google answer 429.
 * - **rpd**: admissions per day; the day ends at midnight America/Los_Angeles, when Google resets.
 * - **concurrency**: calls in flight. A slot is a lease with a TTL that the caller renews while
 *   the call runs (the worker's lease heartbeat), so a worker that dies (SIGKILL) frees its slots
 *   by itself.
 *
 * A lease is released `spent` (the call went out: rpm/rpd stay used, the slot frees) or not (the
 * call never went out, e.g. nothing to claim: every token is given back). Implementations: memory
 * (one process, here), Redis (shared by processes, redis-capacity.ts); the database-backed one
 * for scale-out without Redis follows the same contract (test/upstreams/capacity-contract.ts).
 * All times are the caller's `now` (ms), so tests drive them with a manual clock.
 */

/** What capacity needs to know about a route. */
export interface CapacityRoute {
  name: string;
  limits: RouteLimits;
}

export interface CapacityLease {
  id: string;
  route: string;
  acquiredAt: number;
  /** the daily window (its end instant) whose counter this lease took from; null without rpd. */
  rpdWindow: number | null;
}

export type CapacityLimitName = "rpm" | "rpd" | "concurrency";

export type CapacityAnswer =
  | { ok: true; lease: CapacityLease }
  | {
      ok: false;
      limit: CapacityLimitName;
      /** when a call will fit again; null when that depends on a running call finishing (concurrency). */
      retryAt: number | null;
    };

export interface CapacityUsage {
  /** admissions in the last 60 s. */
  rpmUsed: number;
  /** admissions in the current Pacific day. */
  rpdUsed: number;
  /** slots held (unexpired). */
  inFlight: number;
  /** end of the current Pacific day (when rpd resets). */
  rpdResetsAt: number;
}

export interface RouteCapacity {
  tryAcquire(route: CapacityRoute, now: number): Promise<CapacityAnswer>;
  /** Frees the concurrency slot; `spent: false` also gives the rpm and rpd tokens back. Idempotent. */
  release(lease: CapacityLease, opts: { spent: boolean; now: number }): Promise<void>;
  /** Extends the slot's TTL from `now`; false when the slot had already expired (it is not re-taken). */
  renew(lease: CapacityLease, now: number): Promise<boolean>;
  usage(route: CapacityRoute, now: number): Promise<CapacityUsage>;
  close(): Promise<void>;
}

export const RPM_WINDOW_MS = 60_000;
/** Default slot TTL: a running call's slot must be renewed within this long. */
export const DEFAULT_SLOT_TTL_MS = 60_000;

export function newLeaseId(): string {
  return `cap_${randomBytes(10).toString("hex")}`;
}

interface RouteCounters {
  /** rpm log: lease id → admission time. Insertion order is admission order. */
  minute: Map<string, number>;
  rpdWindow: number;
  rpdUsed: number;
  /** lease ids whose rpd token counts in the current window (a double release gives one back once). */
  rpdHolders: Set<string>;
  /** concurrency slots: lease id → expiry. */
  slots: Map<string, number>;
}

/** Capacity for one process. */
export class MemoryCapacity implements RouteCapacity {
  private readonly routes = new Map<string, RouteCounters>();
  private readonly ttlMs: number;

  /** @param opts.slotTtlMs concurrency slot lifetime without renewal, ms. @defaultValue 60000 */
  constructor(opts: { slotTtlMs?: number } = {}) {
    this.ttlMs = opts.slotTtlMs ?? DEFAULT_SLOT_TTL_MS;
  }

  async tryAcquire(route: CapacityRoute, now: number): Promise<CapacityAnswer> {
    const c = this.counters(route.name, now);
    const { rpm, rpd, concurrency } = route.limits;
    if (rpd !== null && c.rpdUsed >= rpd) return { ok: false, limit: "rpd", retryAt: c.rpdWindow };
    if (rpm !== null && c.minute.size >= rpm) {
      // the admission that has to leave the window before one more fits
      const times = [...c.minute.values()];
      return { ok: false, limit: "rpm", retryAt: times[times.length - rpm] + RPM_WINDOW_MS };
    }
    if (concurrency !== null && c.slots.size >= concurrency) return { ok: false, limit: "concurrency", retryAt: null };

    const lease: CapacityLease = {
      id: newLeaseId(),
      route: route.name,
      acquiredAt: now,
      rpdWindow: rpd !== null ? c.rpdWindow : null,
    };
    c.minute.set(lease.id, now);
    c.rpdUsed++;
    c.rpdHolders.add(lease.id);
    c.slots.set(lease.id, now + this.ttlMs);
    return { ok: true, lease };
  }

  async release(lease: CapacityLease, opts: { spent: boolean; now: number }): Promise<void> {
    const c = this.routes.get(lease.route);
    if (!c) return;
    c.slots.delete(lease.id);
    if (opts.spent) return;
    c.minute.delete(lease.id);
    // A token from a day that has ended is not given back to the new day (the holder set was reset).
    if (c.rpdHolders.delete(lease.id)) c.rpdUsed--;
  }

  async renew(lease: CapacityLease, now: number): Promise<boolean> {
    const c = this.routes.get(lease.route);
    if (!c) return false;
    this.expire(c, now);
    if (!c.slots.has(lease.id)) return false;
    c.slots.set(lease.id, now + this.ttlMs);
    return true;
  }

  async usage(route: CapacityRoute, now: number): Promise<CapacityUsage> {
    const c = this.counters(route.name, now);
    return { rpmUsed: c.minute.size, rpdUsed: c.rpdUsed, inFlight: c.slots.size, rpdResetsAt: c.rpdWindow };
  }

  async close(): Promise<void> {}

  private counters(name: string, now: number): RouteCounters {
    let c = this.routes.get(name);
    if (!c) {
      c = { minute: new Map(), rpdWindow: nextPacificMidnight(now), rpdUsed: 0, rpdHolders: new Set(), slots: new Map() };
      this.routes.set(name, c);
    }
    this.expire(c, now);
    return c;
  }

  private expire(c: RouteCounters, now: number): void {
    for (const [id, t] of c.minute) {
      if (t > now - RPM_WINDOW_MS) break; // admission order: the rest are newer
      c.minute.delete(id);
    }
    for (const [id, until] of c.slots) if (until <= now) c.slots.delete(id);
    if (now >= c.rpdWindow) {
      c.rpdWindow = nextPacificMidnight(now);
      c.rpdUsed = 0;
      c.rpdHolders.clear();
    }
  }
}
