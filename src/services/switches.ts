import type { Switches } from "../domain/types.js";
import type { Store } from "../store/store.js";

/**
 * Runtime switches (maintenance, disabled models and features) read through a short cache, so a
 * change made by any process (CLI, admin API) applies everywhere within `ttlMs` without a restart.
 */
export class SwitchCache {
  private value: Switches | null = null;
  private at = 0;
  private pending: Promise<Switches> | null = null;

  constructor(
    private store: Store,
    private ttlMs = 1000,
  ) {}

  async get(now: number): Promise<Switches> {
    if (this.value && now - this.at < this.ttlMs) return this.value;
    this.pending ??= this.store.getSwitches().then(
      (v) => {
        this.value = v;
        this.at = now;
        this.pending = null;
        return v;
      },
      (e) => {
        this.pending = null;
        throw e;
      },
    );
    return this.pending;
  }

  invalidate(): void {
    this.value = null;
  }
}

/** Feature switches share the disabled list with model ids, under a `feature:` prefix. */
export const FEATURES = ["feature:4K", "feature:image_input", "feature:uploads"] as const;
export type Feature = (typeof FEATURES)[number];
