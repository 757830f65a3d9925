import type { UpstreamOutcome } from "../errors.js";
import type { CapacityLease, CapacityRoute, RouteCapacity } from "./capacity.js";
import type { RouteHealth, RouteHealthState } from "./route-health.js";

/**
 * Route choice for one call (docs/engines.md#upstream-routes). For a model, the eligible routes are
 * those serving it that route health admits (not disabled, not cooling down, circuit not open; a
 * half-open route admits its one probe). The lowest priority number is tried first; inside a
 * priority, smooth weighted round-robin (nginx's algorithm: each pick adds every route's weight to
 * its score, takes the highest score and subtracts the total) spreads calls by weight without
 * bursts. A route with no capacity now is skipped for the next one, then the next priority. The
 * answer is a route with its capacity lease, or "none now" with the earliest instant worth trying
 * again, so the queue can sleep exactly that long.
 */

export interface ChooserRoute extends CapacityRoute {
  models: readonly string[];
  priority: number;
  weight: number;
}

/** A route picked for one call. Hand it back with `finish` (the call went out) or `abandon`. */
export interface RoutePick<R extends ChooserRoute = ChooserRoute> {
  route: R;
  lease: CapacityLease;
  /** this call is the half-open route's single probe. */
  probe: boolean;
}

export type Choice<R extends ChooserRoute = ChooserRoute> =
  | ({ ok: true } & RoutePick<R>)
  | {
      ok: false;
      /**
       * - `no_route`: no configured route serves the model;
       * - `disabled`: every route that serves it is disabled (the operator must act);
       * - `busy`: cooling down, circuit open, or no capacity — try again at `retryAt`.
       */
      why: "no_route" | "disabled" | "busy";
      /** earliest instant a route may take the call, when time alone decides; null otherwise. */
      retryAt: number | null;
      /** some route waits on a running call (a concurrency slot, a half-open probe) rather than on time. */
      waitsOnRelease: boolean;
    };

export class RouteChooser<R extends ChooserRoute = ChooserRoute> {
  /** smooth weighted round-robin scores, per route name. */
  private readonly score = new Map<string, number>();

  constructor(
    private readonly o: {
      routes: readonly R[];
      health: RouteHealth;
      capacity: RouteCapacity;
    },
  ) {
    for (const r of o.routes) this.score.set(r.name, 0);
  }

  get routes(): readonly R[] {
    return this.o.routes;
  }

  /** Whether any configured route serves `model` (else tasks for it can never run). */
  serves(model: string): boolean {
    return this.o.routes.some((r) => r.models.includes(model));
  }

  async choose(model: string, now: number): Promise<Choice<R>> {
    const serving = this.o.routes.filter((r) => r.models.includes(model));
    if (serving.length === 0) return { ok: false, why: "no_route", retryAt: null, waitsOnRelease: false };

    let retryAt: number | null = null;
    let waitsOnRelease = false;
    let allDisabled = true;
    const later = (t: number | null) => {
      if (t === null) waitsOnRelease = true;
      else if (retryAt === null || t < retryAt) retryAt = t;
    };

    for (const tier of byPriority(serving)) {
      // Health first: only admitted routes take part in this tier's round.
      const admitted: Array<{ route: R; probe: boolean }> = [];
      for (const route of tier) {
        const a = this.o.health.admit(route.name, now);
        if (a.admitted) admitted.push({ route, probe: a.probe });
        else if (a.state !== "disabled") later(a.retryAt);
        if (a.admitted || a.state !== "disabled") allDisabled = false;
      }
      if (admitted.length === 0) continue;

      const total = admitted.reduce((s, a) => s + a.route.weight, 0);
      for (const a of admitted) this.score.set(a.route.name, this.scoreOf(a.route) + a.route.weight);
      // Highest score first; ties keep configuration order (stable sort).
      const order = [...admitted].sort((x, y) => this.scoreOf(y.route) - this.scoreOf(x.route));
      let picked: { route: R; probe: boolean; lease: CapacityLease } | null = null;
      for (const a of order) {
        if (picked) {
          this.o.health.abandon(a.route.name, a.probe);
          continue;
        }
        const cap = await this.o.capacity.tryAcquire(a.route, now);
        if (cap.ok) picked = { ...a, lease: cap.lease };
        else {
          this.o.health.abandon(a.route.name, a.probe);
          later(cap.retryAt);
        }
      }
      if (picked) {
        this.score.set(picked.route.name, this.scoreOf(picked.route) - total);
        return { ok: true, route: picked.route, lease: picked.lease, probe: picked.probe };
      }
      // Nobody in this tier could take it: undo the round so the rotation is not skewed.
      for (const a of admitted) this.score.set(a.route.name, this.scoreOf(a.route) - a.route.weight);
    }
    if (allDisabled) return { ok: false, why: "disabled", retryAt: null, waitsOnRelease: false };
    return { ok: false, why: "busy", retryAt, waitsOnRelease };
  }

  /**
   * The call went out and ended: its slot frees (rpm/rpd stay used) and route health learns the
   * outcome. `retryAfterMs` is the upstream's own delay for a 429; `why` a key-free reason.
   */
  async finish(
    pick: RoutePick<R>,
    outcome: "success" | UpstreamOutcome | null,
    now: number,
    detail: { retryAfterMs?: number; why?: string } = {},
  ): Promise<RouteHealthState> {
    await this.o.capacity.release(pick.lease, { spent: true, now });
    if (outcome === null) {
      // A fault of peel's own (storage, a bug): nothing learned about the route.
      this.o.health.abandon(pick.route.name, pick.probe);
      return this.o.health.view(pick.route.name, now);
    }
    return this.o.health.record(pick.route.name, outcome, now, { ...detail, probe: pick.probe });
  }

  /** The call never went out (nothing to claim, canceled first): every token is given back. */
  async abandon(pick: RoutePick<R>, now: number): Promise<void> {
    this.o.health.abandon(pick.route.name, pick.probe);
    await this.o.capacity.release(pick.lease, { spent: false, now });
  }

  private scoreOf(r: R): number {
    return this.score.get(r.name) ?? 0;
  }
}

/** Routes grouped by priority, lowest number first, configuration order kept inside a group. */
function byPriority<R extends ChooserRoute>(routes: readonly R[]): R[][] {
  const groups = new Map<number, R[]>();
  for (const r of routes) {
    const g = groups.get(r.priority);
    if (g) g.push(r);
    else groups.set(r.priority, [r]);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g);
}
