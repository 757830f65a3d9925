import type { Store } from "../store/store.js";
import type { FileStoreProbe } from "./file-probe.js";

/**
 * GET /readyz: may this process get traffic? Ready when the database answers with every known
 * migration applied, the file store can write, read and delete a probe object, and the process is
 * not draining (SIGTERM). Each check's answer is reused for a moment (`cacheMs`, shorter after a
 * failure so recovery shows quickly) and concurrent probes share one run, so a probe storm costs
 * one query and one tiny object per interval. Draining is read live: it flips at once.
 */

export interface CheckResult {
  ok: boolean;
  /** what failed, for the operator; absent when ok. */
  error?: string;
  [detail: string]: unknown;
}

export interface ReadinessReport {
  ready: boolean;
  /** one line per failed check; empty when ready. */
  reasons: string[];
  checks: Record<string, CheckResult>;
}

export interface ReadinessOptions {
  store: Pick<Store, "checkHealth">;
  probe: FileStoreProbe;
  draining: () => boolean;
  /** further checks, e.g. a storage status (name → check). */
  extra?: Record<string, () => Promise<CheckResult>>;
  /** reuse of a passing check, ms. @defaultValue 5000 */
  cacheMs?: number;
  /** reuse of a failing check, ms. @defaultValue 1000 */
  failureCacheMs?: number;
  /** a check that has not answered by then fails, ms. @defaultValue 2000 */
  timeoutMs?: number;
}

export class Readiness {
  private readonly checks: Record<string, CachedCheck>;

  constructor(private readonly o: ReadinessOptions) {
    const cache = { okMs: o.cacheMs ?? 5000, failMs: o.failureCacheMs ?? 1000, timeoutMs: o.timeoutMs ?? 2000 };
    this.checks = {
      database: new CachedCheck(() => databaseCheck(o.store), cache),
      files: new CachedCheck(async () => {
        await o.probe.run();
        return { ok: true };
      }, cache),
    };
    for (const [name, fn] of Object.entries(o.extra ?? {})) this.checks[name] = new CachedCheck(fn, cache);
  }

  async check(): Promise<ReadinessReport> {
    const names = Object.keys(this.checks);
    const results = await Promise.all(names.map((n) => this.checks[n].get()));
    const checks: Record<string, CheckResult> = {};
    const reasons: string[] = [];
    names.forEach((n, i) => {
      checks[n] = results[i];
      if (!results[i].ok) reasons.push(`${n}: ${results[i].error ?? "failed"}`);
    });
    const draining = this.o.draining();
    checks.draining = { ok: !draining };
    if (draining) reasons.push("draining: the process is shutting down");
    return { ready: reasons.length === 0, reasons, checks };
  }
}

async function databaseCheck(store: Pick<Store, "checkHealth">): Promise<CheckResult> {
  const h = await store.checkHealth();
  const current = h.migrationsApplied === h.migrationsKnown;
  return {
    ok: current,
    migrationsApplied: h.migrationsApplied,
    migrationsKnown: h.migrationsKnown,
    ...(current
      ? {}
      : {
          error:
            h.migrationsApplied < h.migrationsKnown
              ? `${h.migrationsKnown - h.migrationsApplied} migration(s) not applied (run peel migrate)`
              : `the database has ${h.migrationsApplied} migrations, this peel knows ${h.migrationsKnown} (a newer peel migrated it)`,
        }),
  };
}

/** One check, its last answer reused for a while, one run at a time, bounded by a timeout. */
class CachedCheck {
  private last: { at: number; result: CheckResult } | null = null;
  private running: Promise<CheckResult> | null = null;
  /** the check itself, until it settles: a hung one is waited on again, not started again. */
  private underway: Promise<CheckResult> | null = null;

  constructor(
    private readonly fn: () => Promise<CheckResult>,
    private readonly t: { okMs: number; failMs: number; timeoutMs: number },
  ) {}

  get(): Promise<CheckResult> {
    const now = performance.now();
    if (this.last && now - this.last.at < (this.last.result.ok ? this.t.okMs : this.t.failMs)) {
      return Promise.resolve(this.last.result);
    }
    this.running ??= this.runOnce().then((result) => {
      this.last = { at: performance.now(), result };
      this.running = null;
      return result;
    });
    return this.running;
  }

  private async runOnce(): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${this.t.timeoutMs} ms` }), this.t.timeoutMs);
    });
    this.underway ??= this.fn()
      .catch((err: unknown): CheckResult => ({ ok: false, error: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        this.underway = null;
      });
    try {
      return await Promise.race([this.underway, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
