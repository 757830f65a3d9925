import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { TaskRecord } from "../domain/types.js";
import { HttpMetrics } from "./http-metrics.js";

/**
 * peel's Prometheus metrics, one registry per process (docs/operations.md lists them all). The
 * parts that do the work report to this object through a handful of one-line calls; nothing here
 * runs on a timer. Counts that come from the database (`peel_tasks_in_state`) are read when
 * Prometheus scrapes, at most once per `stateCacheMs`, never per request.
 */

/** What the worker, sweeper and task services report when a task settles (any path). */
export interface TaskSettledObserver {
  taskSettled(task: TaskRecord): void;
}

/** Label value for models without a resolution (single-size models). */
const NO_RESOLUTION = "none";

/** Generation times run from seconds (sandbox, 1K) to minutes (4K under load). */
const GENERATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600];
/** Queue waits: immediate start up to the 15-minute task deadline. */
const QUEUE_WAIT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900];

export interface PeelMetricsOptions {
  /** tasks per state, for `peel_tasks_in_state` (Store.countTasks). */
  countTasks?: () => Promise<Record<string, number>>;
  /** how long one countTasks answer is reused, ms. @defaultValue 10000 */
  stateCacheMs?: number;
  /** tasks this process is generating right now (TaskWorker.inFlight); absent on API-only processes. */
  runningTasks?: () => number;
  /** constant labels of `peel_info`. */
  info?: { version: string; role: string; engine: string };
  onCollectError?: (err: unknown) => void;
}

export class PeelMetrics implements TaskSettledObserver {
  readonly registry = new Registry();
  readonly http = new HttpMetrics();
  private defaultsOn = false;

  private readonly created: Counter<"model" | "resolution">;
  private readonly finished: Counter<"model" | "state" | "fail_code">;
  private readonly queueWait: Histogram<"model">;
  private readonly generationTime: Histogram<"engine" | "model" | "resolution" | "route">;
  private readonly upstreamErrors: Counter<"engine" | "model" | "route" | "reason">;
  private readonly callbacks: Counter<"outcome">;
  private readonly credits: Counter<"model">;

  private states: { at: number; counts: Record<string, number> } | null = null;
  private statesLoading: Promise<Record<string, number> | null> | null = null;

  constructor(private readonly o: PeelMetricsOptions = {}) {
    const registers = [this.registry];
    this.http.register(this.registry);
    this.created = new Counter({
      name: "peel_tasks_created_total",
      help: "Tasks accepted by createTask (idempotent replays not counted)",
      labelNames: ["model", "resolution"],
      registers,
    });
    this.finished = new Counter({
      name: "peel_tasks_finished_total",
      help: "Tasks settled by this process: state success or fail, with the kie failCode (empty on success)",
      labelNames: ["model", "state", "fail_code"],
      registers,
    });
    this.queueWait = new Histogram({
      name: "peel_task_queue_wait_seconds",
      help: "From createTask to the first start of generation, observed when the task settles",
      labelNames: ["model"],
      buckets: QUEUE_WAIT_BUCKETS,
      registers,
    });
    this.generationTime = new Histogram({
      name: "peel_generation_duration_seconds",
      help: "Engine time of successful generation attempts",
      labelNames: ["engine", "model", "resolution", "route"],
      buckets: GENERATION_BUCKETS,
      registers,
    });
    this.upstreamErrors = new Counter({
      name: "peel_upstream_errors_total",
      help: "Failed generation attempts by failure reason (retried or not)",
      labelNames: ["engine", "model", "route", "reason"],
      registers,
    });
    this.callbacks = new Counter({
      name: "peel_callback_deliveries_total",
      help: "Callback attempts by outcome: delivered, retry (will be sent again), failed (schedule exhausted or permanent), stopped (410)",
      labelNames: ["outcome"],
      registers,
    });
    // Every outcome from the start, so rate() and alerts see 0 rather than no series at all.
    for (const outcome of ["delivered", "retry", "failed", "stopped"]) this.callbacks.inc({ outcome }, 0);
    this.credits = new Counter({
      name: "peel_credits_captured_total",
      help: "Credits captured by successful tasks",
      labelNames: ["model"],
      registers,
    });
    if (o.countTasks) {
      const self = this;
      new Gauge({
        name: "peel_tasks_in_state",
        help: "Tasks per state in the database (all processes; read at scrape time, cached for a few seconds)",
        labelNames: ["state"],
        registers,
        async collect() {
          const counts = await self.stateCounts();
          if (counts) for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        },
      });
    }
    if (o.runningTasks) {
      const running = o.runningTasks;
      new Gauge({
        name: "peel_worker_running_tasks",
        help: "Tasks this process's worker is generating right now",
        registers,
        collect() {
          this.set(running());
        },
      });
    }
    if (o.info) {
      new Gauge({
        name: "peel_info",
        help: "Constant 1, labelled with this process's version, role and engine",
        labelNames: ["version", "role", "engine"],
        registers,
      }).set(o.info, 1);
    }
  }

  /**
   * Adds prom-client's process_* and nodejs_* metrics. Only for a process that exports metrics:
   * the collectors start an event-loop monitor and a GC observer that live as long as the process.
   */
  collectProcessMetrics(): void {
    if (this.defaultsOn) return;
    this.defaultsOn = true;
    collectDefaultMetrics({ register: this.registry });
  }

  taskCreated(model: string, resolution: string | null): void {
    this.created.inc({ model, resolution: resolution ?? NO_RESOLUTION });
  }

  taskSettled(task: TaskRecord): void {
    this.finished.inc({ model: task.model, state: task.state, fail_code: task.failCode ?? "" });
    if (task.state === "success" && task.consumedCredits > 0) this.credits.inc({ model: task.model }, task.consumedCredits);
    if (task.generatingSince !== null) {
      this.queueWait.observe({ model: task.model }, Math.max(0, task.generatingSince - task.createTime) / 1000);
    }
  }

  generation(o: { engine: string; model: string; resolution: string | null; route: string; seconds: number }): void {
    this.generationTime.observe(
      { engine: o.engine, model: o.model, resolution: o.resolution ?? NO_RESOLUTION, route: o.route },
      o.seconds,
    );
  }

  upstreamError(o: { engine: string; model: string; route: string; reason: string }): void {
    this.upstreamErrors.inc(o);
  }

  callbackDelivery(outcome: string): void {
    this.callbacks.inc({ outcome });
  }

  /** Prometheus text format of everything registered. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** countTasks at most once per stateCacheMs; concurrent scrapes share one query. A failed query keeps the last counts. */
  private async stateCounts(): Promise<Record<string, number> | null> {
    const ttl = this.o.stateCacheMs ?? 10_000;
    const now = performance.now();
    if (this.states && now - this.states.at < ttl) return this.states.counts;
    this.statesLoading ??= this.o.countTasks!()
      .then((counts) => {
        this.states = { at: performance.now(), counts };
        return counts;
      })
      .catch((err) => {
        this.o.onCollectError?.(err);
        return this.states?.counts ?? null;
      })
      .finally(() => {
        this.statesLoading = null;
      });
    return this.statesLoading;
  }
}
