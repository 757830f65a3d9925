import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { TaskRecord } from "../domain/types.js";
import type { ImageEngine, InputImage } from "../engines/engine.js";
import { FAIL_REASONS, ProviderError, failureOf, type FailReason } from "../errors.js";
import type { FileService } from "../files/file-service.js";
import { saveResultWithRetry } from "../files/save-result-with-retry.js";
import { newId } from "../ids.js";
import { callbackOnSettle } from "../services/settlement.js";
import type { Store } from "../store/store.js";
import type { CallbackPolicy } from "../webhooks/callback-policy.js";
import { retryPlan, Waker, type BackoffOptions } from "./backoff.js";

/**
 * The worker loop: claim → run → release (style habit 10). A claim is a lease on the task; a
 * heartbeat renews it while the engine runs (and notices cancel requests); release is complete,
 * fail, or give-back-for-retry, and sits in one place no early return can skip. A task whose worker
 * died is claimed again when its lease expires, so every accepted task reaches success or fail.
 */
export interface WorkerOptions {
  store: Store;
  engine: ImageEngine;
  files: FileService;
  clock: Clock;
  logger: Logger;
  loadInputs: (task: TaskRecord, signal: AbortSignal) => Promise<InputImage[]>;
  /** kie model → upstream model id */
  upstreamModels: Readonly<Record<string, string>>;
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  maxRunningPerAccount: number;
  /** engine attempts per task (gemini-notes §9.3: 3). */
  maxAttempts: number;
  backoff: BackoffOptions;
  unmeteredBalance: number;
  /** where callbacks may go (PEEL_CALLBACK_ALLOW/DENY and the account's rules). */
  callbackPolicy: CallbackPolicy;
  /** called after a task settles (wakes the callback dispatcher, counts it in metrics). */
  onSettled?: (task: TaskRecord) => void;
  /** announces a task's new state on the event bus (events/bus.ts). */
  publish?: (taskId: string, state: TaskRecord["state"]) => void;
  random?: () => number;
}

/** Why a run was aborted from outside the engine. */
class RunAbort extends Error {
  constructor(readonly why: "cancel" | "deadline" | "lease_lost" | "shutdown") {
    super(`run aborted: ${why}`);
    this.name = "AbortError";
  }
}

export class TaskWorker {
  readonly workerId = newId("wrk");
  private running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private waker = new Waker();
  private stopping = false;
  private loopDone: Promise<void> | null = null;

  constructor(private o: WorkerOptions) {}

  start(): void {
    this.loopDone ??= this.loop();
  }

  /** Wakes the loop now (a task was just created). */
  notify(): void {
    this.waker.wake();
  }

  get inFlight(): number {
    return this.running.size;
  }

  /**
   * Aborts this worker's run of `taskId`, if it has one, so a cancel takes effect now instead of
   * at the next lease heartbeat (up to a second later). The run then settles the task as canceled.
   */
  cancel(taskId: string): boolean {
    const run = this.running.get(taskId);
    if (!run) return false;
    run.abort.abort(new RunAbort("cancel"));
    return true;
  }

  /**
   * Stops claiming; waits up to `graceMs` for running tasks, then aborts the rest and gives them
   * back so another worker (or this one after a restart) takes them at once.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    this.waker.wake();
    await this.loopDone;
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    const timer = new Promise((r) => setTimeout(r, graceMs).unref());
    await Promise.race([all, timer]);
    for (const r of this.running.values()) r.abort.abort(new RunAbort("shutdown"));
    await all;
  }

  /** One claim-and-run pass that awaits the task (tests). Returns whether a task ran. */
  async runOnce(): Promise<boolean> {
    const { store, clock } = this.o;
    const promoted = await store.promoteWaitingTasks({ now: clock.now(), maxRunningPerAccount: this.o.maxRunningPerAccount });
    for (const id of promoted) this.o.publish?.(id, "queuing");
    const task = await this.claim();
    if (!task) return false;
    await this.run(task);
    return true;
  }

  private claim(): Promise<TaskRecord | null> {
    return this.o.store.claimTask({
      workerId: this.workerId,
      now: this.o.clock.now(),
      leaseMs: this.o.leaseMs,
      maxRunningPerAccount: this.o.maxRunningPerAccount,
    });
  }

  private async loop(): Promise<void> {
    const { store, clock, logger } = this.o;
    let failures = 0;
    while (!this.stopping) {
      try {
        const promoted = await store.promoteWaitingTasks({ now: clock.now(), maxRunningPerAccount: this.o.maxRunningPerAccount });
        for (const id of promoted) this.o.publish?.(id, "queuing");
        while (!this.stopping && this.running.size < this.o.concurrency) {
          const task = await this.claim();
          if (!task) break;
          this.spawn(task);
        }
        failures = 0;
      } catch (err) {
        // A broken database must not turn into a hot loop: back off up to 30 s.
        failures++;
        logger.error({ err, event: "worker:loop:error" }, "worker loop error");
        await this.waker.sleep(Math.min(30_000, 500 * 2 ** failures));
        continue;
      }
      await this.waker.sleep(this.o.pollMs);
    }
  }

  private spawn(task: TaskRecord): void {
    const abort = new AbortController();
    const done = this.run(task, abort)
      .catch((err) => this.o.logger.error({ err, taskId: task.id }, "task run crashed"))
      .finally(() => {
        this.running.delete(task.id);
        this.waker.wake();
      });
    this.running.set(task.id, { abort, done });
  }

  private async run(task: TaskRecord, abort = new AbortController()): Promise<void> {
    const { store, clock, logger } = this.o;
    const log = logger.child({ taskId: task.id });
    this.o.publish?.(task.id, "generating");
    const timers: NodeJS.Timeout[] = [];
    const untilDeadline = task.deadline - clock.now();
    if (untilDeadline <= 0) abort.abort(new RunAbort("deadline"));
    else timers.push(setTimeout(() => abort.abort(new RunAbort("deadline")), untilDeadline));
    // Renew often enough to notice a cancel quickly, and well before the lease runs out.
    const beatMs = Math.max(100, Math.min(this.o.leaseMs / 3, 1000));
    timers.push(
      setInterval(() => {
        store
          .renewLease(task.id, this.workerId, clock.now() + this.o.leaseMs)
          .then((r) => {
            if (!r.held) abort.abort(new RunAbort("lease_lost"));
            else if (r.cancelRequested) abort.abort(new RunAbort("cancel"));
          })
          .catch((err) => log.warn({ err }, "lease renewal failed"));
      }, beatMs),
    );

    let attempt = task.attempts;
    try {
      if (task.cancelRequested) throw new RunAbort("cancel");
      attempt = await store.startAttempt(task.id, this.workerId, clock.now());
      // 0: the lease was lost between the claim and now (another worker holds the task).
      if (attempt === 0) throw new RunAbort("lease_lost");
      log.info({ event: "task:attempt:start", attempt, model: task.model }, "generating");
      const images = await this.o.loadInputs(task, abort.signal);
      const image = await this.o.engine.generate(
        {
          taskId: task.id,
          model: task.model,
          upstreamModel: this.o.upstreamModels[task.model] ?? task.model,
          prompt: task.input.prompt,
          images,
          aspectRatio: task.input.aspectRatio,
          resolution: task.input.resolution,
          outputFormat: task.input.outputFormat,
          googleSearch: task.input.googleSearch === true,
        },
        abort.signal,
      );
      if (abort.signal.aborted && (abort.signal.reason as RunAbort)?.why === "lease_lost") return;
      const url = await saveResultWithRetry(
        this.o.files,
        { accountId: task.accountId, taskId: task.id, bytes: image.bytes, format: image.format },
        { signal: abort.signal, log },
      );
      const now = clock.now();
      const settled = await store.completeTask(
        { taskId: task.id, workerId: this.workerId, now, resultUrls: [url] },
        await this.settlementHook(task, now),
      );
      if (settled) {
        log.info(
          {
            event: "task:success",
            attempt,
            width: image.width,
            height: image.height,
            costTime: now - (settled.generatingSince ?? now),
          },
          "task succeeded",
        );
        this.o.publish?.(task.id, "success");
        this.o.onSettled?.(settled);
      }
    } catch (err) {
      await this.release(task, attempt, err, abort.signal, log);
    } finally {
      for (const t of timers) clearTimeout(t);
    }
  }

  /** The one place a failed run is released: retry later, fail, or leave it (lease lost). */
  private async release(task: TaskRecord, attempt: number, err: unknown, signal: AbortSignal, log: Logger): Promise<void> {
    const { store, clock } = this.o;
    const why =
      signal.aborted && signal.reason instanceof RunAbort ? signal.reason.why : err instanceof RunAbort ? err.why : null;
    if (why === "lease_lost") {
      log.warn({ event: "task:lease:lost" }, "lease lost; another worker owns the task");
      return;
    }
    if (why === "shutdown") {
      await store.releaseForRetry(task.id, this.workerId, clock.now(), clock.now());
      return;
    }
    if (why === "cancel") return this.fail(task, "canceled", undefined, log);
    if (why === "deadline") return this.fail(task, "timed_out", undefined, log);

    if (err instanceof ProviderError) {
      const now = clock.now();
      const plan = retryPlan(err, attempt, this.o.maxAttempts, this.o.backoff, this.o.random);
      if (plan.again) {
        const delay = plan.delayMs;
        if (now + delay < task.deadline) {
          log.warn(
            { event: "task:attempt:retry", attempt, reason: err.reason, status: err.status, delayMs: delay, err: err.message },
            "retrying",
          );
          await store.releaseForRetry(task.id, this.workerId, now + delay, now);
          return;
        }
      }
      log.warn({ event: "task:fail", attempt, reason: err.reason, status: err.status, err: err.message }, "task failed");
      const f = failureOf(err);
      return this.fail(task, err.reason, f.failMsg, log);
    }
    log.error({ err, event: "task:fail", attempt }, "task failed with an internal error");
    return this.fail(task, "internal", undefined, log);
  }

  private async fail(task: TaskRecord, reason: FailReason, failMsg: string | undefined, log: Logger): Promise<void> {
    const now = this.o.clock.now();
    const r = FAIL_REASONS[reason];
    const settled = await this.o.store.failTask(
      { taskId: task.id, workerId: this.workerId, now, failCode: r.failCode, failMsg: failMsg ?? r.failMsg },
      await this.settlementHook(task, now),
    );
    if (settled) {
      log.info({ event: "task:fail:settled", failCode: r.failCode }, "task settled as fail");
      this.o.publish?.(task.id, "fail");
      this.o.onSettled?.(settled);
    }
  }

  private async settlementHook(task: TaskRecord, now: number) {
    const account = await this.o.store.getAccount(task.accountId);
    return callbackOnSettle({ account, unmeteredBalance: this.o.unmeteredBalance, now, policy: this.o.callbackPolicy });
  }
}
