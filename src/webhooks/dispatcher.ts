import type { Clock } from "../clock.js";
import type { Delivery, DeliveryAttempt } from "../domain/types.js";
import { newId, newTaskId } from "../ids.js";
import type { AddressPolicy } from "../net/address-guard.js";
import { GuardedClient } from "../net/guarded-fetch.js";
import type { AccountStore, DeliveryStore } from "../store/store.js";
import { DeferralPacer, OriginLimiter } from "./origin-limiter.js";
import { isSuccess, postCallback, type CallbackMessage, type PostResult } from "./post-callback.js";
import { nextAttemptDelay } from "./schedule.js";

export { BLOCKED_ERROR } from "./post-callback.js";

/**
 * Sends callbacks from the delivery outbox (docs/kie-contract.md §7.1, docs/webhooks.md): claim due
 * deliveries under a lease → POST each (bounded concurrency, bounded per receiver) → record the
 * attempt with its outcome. Deliveries are rows, so a crash loses nothing: an unrecorded claim's
 * lease expires and the delivery is sent again (at-least-once; receivers de-duplicate on
 * `webhook-id` or the task id).
 *
 * A claimed delivery whose receiver already has `perOriginLimit` sends in flight is not held
 * waiting (it would occupy a global slot): it is deferred, i.e. handed back to the store due again
 * a little later, without an attempt, and the claim moves on to other receivers' deliveries. So
 * one slow or dead receiver delays only its own callbacks.
 */

export interface DispatcherLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DispatcherOptions {
  store: DeliveryStore & Pick<AccountStore, "getWebhookSecrets">;
  /** Destinations refused unless allow-listed; checked before connecting and at DNS time. */
  policy: AddressPolicy;
  clock: Clock;
  /** Lease holder name written with each claim. */
  workerId: string;
  /**
   * Whole-attempt deadline (connect, headers, body), ms. The runtime passes PEEL_CALLBACK_TIMEOUT_MS
   * (15 s by default, docs/kie-contract.md §7.1).
   */
  timeoutMs: number;
  /** Most POSTs in flight at once, all receivers together. */
  concurrency: number;
  /** Idle sleep between claims when nothing is due, ms (notify() cuts it short). */
  pollMs: number;
  /**
   * Lease per claimed delivery, ms; must outlast a send and its recording. A claimed delivery never
   * waits for a per-origin slot (it is deferred instead), so a send's timeout plus a margin is enough.
   * @defaultValue timeoutMs + 30000
   */
  leaseMs?: number;
  /**
   * Most POSTs in flight at once to one origin (scheme://host:port); deliveries claimed beyond it
   * are deferred (DeliveryStore.deferDelivery), not queued. @defaultValue min(concurrency, 8)
   */
  perOriginLimit?: number;
  /** Uniform [0, 1) source for schedule and deferral jitter. @defaultValue Math.random */
  random?: () => number;
  /** @defaultValue `peel/<package.json version>` */
  userAgent?: string;
  logger?: DispatcherLogger;
  /** told the outcome of every recorded attempt (peel_callback_deliveries_total). */
  metrics?: { callbackDelivery(outcome: DeliveryAttemptResult["outcome"]): void };
}

/** The outcome of one POST, as recorded (or, for test events, as returned). */
export interface DeliveryAttemptResult {
  webhookId: string;
  /** HTTP status, or null when no response came (timeout, refused, blocked). */
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  outcome: "delivered" | "stopped" | "failed" | "retry";
  /** ms; set only when outcome is `retry`. */
  nextAttemptAt: number | null;
}

/** Longest wait between claims after repeated claim failures (the database is away), ms. */
const MAX_ERROR_BACKOFF_MS = 30_000;
/** Sleep while every slot is busy; a finishing send wakes the loop long before this. */
const SLOTS_BUSY_WAIT_MS = 30_000;
/**
 * A delivery for a full origin is due again after about one of its send times, jittered 1–2×,
 * between these bounds (1 s when the send time is not known yet), later when it has a backlog.
 */
const DEFER_FLOOR_MS = 100;
const DEFER_MIN_MS = 1_000;
/** …and at most this much later, so a receiver that recovers gets its backlog soon. */
const DEFER_MAX_MS = 30_000;

const defaultLogger: DispatcherLogger = {
  info: () => {},
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

export class DeliveryDispatcher {
  private readonly o: Required<Omit<DispatcherOptions, "random" | "userAgent" | "metrics">> &
    Pick<DispatcherOptions, "random" | "userAgent" | "metrics">;
  private readonly client: GuardedClient;
  private readonly limiter: OriginLimiter;
  private readonly pacer: DeferralPacer;
  /** Aborted by stop() once the grace period is over; cancels sends and slot waits. */
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private running = false;
  private loopDone: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private backingOff = false;
  private wakeUp: (() => void) | null = null;
  private wakeRequested = false;

  constructor(opts: DispatcherOptions) {
    if (!(opts.concurrency >= 1)) throw new RangeError("concurrency must be ≥ 1");
    const perOriginLimit = opts.perOriginLimit ?? Math.min(opts.concurrency, 8);
    this.o = {
      ...opts,
      perOriginLimit,
      leaseMs: opts.leaseMs ?? opts.timeoutMs + 30_000,
      logger: opts.logger ?? defaultLogger,
    };
    this.limiter = new OriginLimiter(perOriginLimit);
    this.pacer = new DeferralPacer({
      perOriginLimit,
      minDelayMs: DEFER_MIN_MS,
      floorMs: DEFER_FLOOR_MS,
      maxDelayMs: DEFER_MAX_MS,
      random: opts.random ?? Math.random,
    });
    this.client = new GuardedClient(opts.policy, {
      connectTimeoutMs: Math.min(opts.timeoutMs, 10_000),
      connectionsPerOrigin: perOriginLimit,
    });
  }

  start(): void {
    if (this.running || this.stopping) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Wakes the loop now, e.g. right after a task settled, so its callback does not wait a poll. */
  notify(): void {
    if (this.backingOff && this.running) return; // a claim-error backoff is not cut short by traffic
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  /**
   * Stops claiming, waits for in-flight sends (at most `graceMs`, by default one timeout plus a
   * second), aborts the rest — each is recorded as an attempt and due again at once, so another
   * dispatcher (or this one after a restart) sends it without waiting out a lease — and closes the
   * HTTP client.
   */
  async stop(graceMs?: number): Promise<void> {
    this.stopping ??= this.shutdown(graceMs ?? this.o.timeoutMs + 1_000);
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.running = false;
    this.notify();
    await this.loopDone;
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise((r) => (timer = setTimeout(r, graceMs)));
      await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
      clearTimeout(timer);
    }
    this.abort.abort(new Error("dispatcher stopped"));
    await Promise.allSettled([...this.inFlight]);
    await this.client.close();
  }

  /**
   * One claim (up to the free slots) and all its sends, awaited. Returns how many were attempted;
   * deliveries deferred because their origin was full are not counted.
   */
  async runOnce(): Promise<number> {
    const { sends } = await this.dispatchDue();
    await Promise.all(sends);
    return sends.length;
  }

  /** A one-off signed `peel.test` POST with the account's current secrets; not stored, not retried. */
  async sendTestEvent(input: { url: string; accountId: string }): Promise<DeliveryAttemptResult> {
    const now = this.o.clock.now();
    const payload = JSON.stringify({
      type: "peel.test",
      timestamp: new Date(now).toISOString(),
      // A taskId where kie clients look for one, so kie-scheme signatures can be checked too.
      data: { taskId: newTaskId(), test: true, message: "Test callback from peel; no task is involved." },
    });
    const webhookId = newId("msg");
    const res = await this.post({ url: input.url, accountId: input.accountId, payload, webhookId, taskId: null });
    const outcome = isSuccess(res.statusCode) ? "delivered" : res.statusCode === 410 ? "stopped" : "failed";
    return {
      webhookId,
      statusCode: res.statusCode,
      latencyMs: Math.round(res.latencyMs),
      error: res.error,
      outcome,
      nextAttemptAt: null,
    };
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      // Idle: look again after pollMs (or notify()). All slots busy: a finishing send wakes us.
      let waitMs = this.o.pollMs;
      const free = this.o.concurrency - this.inFlight.size;
      if (free > 0) {
        try {
          const { claimed, deferred } = await this.dispatchDue();
          failures = 0;
          // A full claim with deferrals left slots free, and more may be due behind the deferred
          // rows (which are not due again for a while, so the next claim does not see them).
          if (claimed === free) waitMs = deferred > 0 ? 0 : SLOTS_BUSY_WAIT_MS;
        } catch (err) {
          failures++;
          waitMs = Math.min(Math.max(this.o.pollMs, 100) * 2 ** Math.min(failures, 10), MAX_ERROR_BACKOFF_MS);
          this.o.logger.error({ event: "webhook:claim:failed", err, backoffMs: waitMs }, "claiming deliveries failed");
          this.wakeRequested = false;
          this.backingOff = true;
        }
      } else {
        waitMs = SLOTS_BUSY_WAIT_MS;
      }
      if (this.running) await (waitMs > 0 ? this.sleep(waitMs) : yieldToEventLoop());
      this.backingOff = false;
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.wakeRequested) {
      this.wakeRequested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = null;
        self.wakeRequested = false;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private claim(): Promise<Delivery[]> {
    const free = this.o.concurrency - this.inFlight.size;
    if (free <= 0) return Promise.resolve([]);
    return this.o.store.claimDueDeliveries({
      workerId: this.o.workerId,
      now: this.o.clock.now(),
      limit: free,
      leaseMs: this.o.leaseMs,
    });
  }

  /**
   * One claim, up to the free global slots: each delivery whose origin has a free slot is sent,
   * the others are deferred (awaited, so the next claim does not see them).
   */
  private async dispatchDue(): Promise<{ claimed: number; deferred: number; sends: Promise<void>[] }> {
    const batch = await this.claim();
    const sends: Promise<void>[] = [];
    const full: { d: Delivery; origin: string }[] = [];
    for (const d of batch) {
      const origin = originOf(d.url);
      const release = this.limiter.tryAcquire(origin);
      if (release) sends.push(this.launch(d, origin, release));
      else full.push({ d, origin });
    }
    await Promise.all(full.map(({ d, origin }) => this.defer(d, origin)));
    return { claimed: batch.length, deferred: full.length, sends };
  }

  /** Hands a delivery for a full origin back to the store, due again shortly. Not an attempt. */
  private async defer(d: Delivery, origin: string): Promise<void> {
    const until = this.pacer.deferUntil(origin, this.o.clock.now());
    try {
      if (!(await this.o.store.deferDelivery(d.id, this.o.workerId, until))) {
        this.o.logger.warn({ event: "webhook:delivery:lease-lost", deliveryId: d.id }, "delivery to defer was no longer leased");
      }
    } catch (err) {
      // Still leased to us: claimed again (by anyone) once the lease lapses.
      this.o.logger.error({ event: "webhook:delivery:defer-failed", deliveryId: d.id, err }, "deferring a delivery failed");
    }
  }

  /** Tracks one delivery's send as in flight; frees its slot and wakes the loop when it ends. */
  private launch(d: Delivery, origin: string, release: () => void): Promise<void> {
    const p: Promise<void> = this.deliver(d, origin, release)
      .catch((err) => {
        // Unrecorded: the lease lapses and the delivery is claimed again later.
        if (this.abort.signal.aborted) {
          this.o.logger.info({ event: "webhook:delivery:abandoned", deliveryId: d.id }, "send abandoned at shutdown");
        } else {
          this.o.logger.error({ event: "webhook:delivery:error", deliveryId: d.id, err }, "delivery attempt not recorded");
        }
      })
      .finally(() => {
        this.inFlight.delete(p);
        this.notify();
      });
    this.inFlight.add(p);
    return p;
  }

  /** Sends with the per-origin slot `release` already held (post releases it), then records. */
  private async deliver(d: Delivery, origin: string, release: () => void): Promise<void> {
    const res = await this.post(
      { url: d.url, accountId: d.accountId, payload: d.payload, webhookId: d.webhookId, taskId: d.taskId },
      release,
    );
    this.pacer.observe(origin, res.latencyMs, this.o.clock.now());
    const attemptNumber = await this.attemptNumber(d);
    const endedAt = this.o.clock.now();
    let outcome: DeliveryAttemptResult["outcome"];
    let nextAttemptAt: number | null = null;
    if (isSuccess(res.statusCode)) outcome = "delivered";
    else if (res.statusCode === 410)
      outcome = "stopped"; // the receiver asked us to stop for good
    else if (res.permanent)
      outcome = "failed"; // policy/URL will not change by waiting; replay after fixing
    else if (res.statusCode === null && this.abort.signal.aborted) {
      outcome = "retry"; // cut short by shutdown: it may have arrived, so it is recorded; due again now
      nextAttemptAt = endedAt;
    } else {
      const delay = nextAttemptDelay(attemptNumber, { retryAfterMs: res.retryAfterMs, random: this.o.random });
      if (delay === null) outcome = "failed";
      else {
        outcome = "retry";
        nextAttemptAt = endedAt + delay;
      }
    }
    const attempt: DeliveryAttempt = {
      id: newId("att"),
      deliveryId: d.id,
      attemptedAt: res.startedAt,
      statusCode: res.statusCode,
      latencyMs: Math.round(res.latencyMs),
      error: res.error,
      nextAttemptAt,
    };
    await this.o.store.recordDeliveryAttempt(attempt, outcome);
    this.o.metrics?.callbackDelivery(outcome);
    const log = outcome === "delivered" ? this.o.logger.info : this.o.logger.warn;
    log.call(
      this.o.logger,
      {
        event: `webhook:delivery:${outcome}`,
        deliveryId: d.id,
        taskId: d.taskId,
        attempt: attemptNumber,
        statusCode: res.statusCode,
        error: res.error,
        nextAttemptAt,
      },
      `callback ${outcome}`,
    );
  }

  /**
   * This attempt's place in the schedule: 1 + the attempts since the delivery last ended. A replay
   * keeps the row's attempt count (history stays), but starts a fresh schedule.
   */
  private async attemptNumber(d: Delivery): Promise<number> {
    if (d.attemptCount === 0) return 1;
    const history = await this.o.store.listDeliveryAttempts(d.id);
    let n = 0;
    for (let i = history.length - 1; i >= 0 && history[i].nextAttemptAt !== null; i--) n++;
    return n + 1;
  }

  /**
   * One signed POST, holding a per-origin slot: `held` if given, else it waits for one (test
   * events). Releases the slot. Never throws for receiver-side trouble: that is in the result.
   */
  private async post(m: CallbackMessage, held?: () => void): Promise<PostResult> {
    const release = held ?? (await this.limiter.acquire(originOf(m.url), this.abort.signal));
    try {
      return await postCallback(
        {
          client: this.client,
          secrets: (accountId) => this.o.store.getWebhookSecrets(accountId, this.o.clock.now()),
          clock: this.o.clock,
          timeoutMs: this.o.timeoutMs,
          userAgent: this.o.userAgent,
          signal: this.abort.signal,
        },
        m,
      );
    } finally {
      release();
    }
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url; // the client reports the bad URL; it just needs some limiter key
  }
}
