import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { systemClock, type Clock } from "./clock.js";
import type { Config } from "./config.js";
import { modelSpec } from "./domain/models.js";
import type { TaskState } from "./domain/types.js";
import type { ImageEngine } from "./engines/engine.js";
import { GeminiEngine } from "./engines/gemini.js";
import { SandboxEngine } from "./engines/sandbox.js";
import { FileService } from "./files/file-service.js";
import type { FileStore } from "./files/file-store.js";
import { LocalFileStore } from "./files/local.js";
import { S3FileStore } from "./files/s3.js";
import { StorageStatus } from "./files/storage-status.js";
import { buildApp } from "./http/app.js";
import { setImageConcurrency } from "./images/image-work.js";
import type { AppContext } from "./http/context.js";
import { loadInputImages } from "./inputs/load-inputs.js";
import { MemoryRateLimiter, type RateLimiter } from "./limits/rate-limiter.js";
import { RedisRateLimiter } from "./limits/redis-rate-limiter.js";
import { AddressPolicy } from "./net/address-guard.js";
import { DEFAULT_BACKOFF } from "./queue/backoff.js";
import { Sweeper } from "./queue/sweeper.js";
import { TaskWorker } from "./queue/worker.js";
import { Authenticator } from "./services/api-keys.js";
import { SettledRecordCache } from "./services/settled-records.js";
import { SwitchCache } from "./services/switches.js";
import { openStore } from "./store/open-store.js";
import type { EventBus } from "./events/bus.js";
import { openEventBus } from "./events/open-bus.js";
import { TaskWatchHub } from "./events/task-watch.js";
import { Thumbnailer } from "./files/thumbnails.js";
import type { Store } from "./store/store.js";
import { CallbackPolicy } from "./webhooks/callback-policy.js";
import type { TaskRecord } from "./domain/types.js";
import { DeliveryDispatcher } from "./webhooks/dispatcher.js";
import { newId } from "./ids.js";
import { Lifecycle } from "./ops/drain.js";
import { FileStoreProbe } from "./ops/file-probe.js";
import { deploymentId } from "./ops/instance-id.js";
import { createLogger } from "./ops/logger.js";
import { PeelMetrics } from "./ops/metrics.js";
import { observedEngine } from "./ops/observed-engine.js";
import { Readiness } from "./ops/readiness.js";
import { PEEL_VERSION } from "./version.js";

/**
 * Wires peel's parts from a Config: store, file store, engine, worker, callback dispatcher,
 * sweeper and the HTTP app. server.ts and the tests both start peel through here.
 */
export interface Runtime {
  config: Readonly<Config>;
  store: Store;
  fileStore: FileStore;
  files: FileService;
  engine: ImageEngine;
  logger: Logger;
  clock: Clock;
  ctx: AppContext;
  worker: TaskWorker | null;
  dispatcher: DeliveryDispatcher | null;
  sweeper: Sweeper | null;
  events: EventBus;
  /** this process's metrics; null when PEEL_METRICS_PORT=0. */
  metrics: PeelMetrics | null;
  /** drain state (readiness answers 503 while draining). */
  lifecycle: Lifecycle;
  /** starts the background loops this process runs (by role). */
  startBackground(): void;
  /**
   * Drains the background loops: marks the process draining, stops claiming tasks and callbacks,
   * gives running tasks and sends up to `graceMs` to finish, then hands the rest back (tasks
   * released for retry at once, sends recorded and due at once). Resources stay open.
   * @defaultValue graceMs = config.shutdownGraceMs
   */
  drain(graceMs?: number): Promise<void>;
  /** drain(graceMs), then closes engine, limiter, file store and store. */
  stop(graceMs?: number): Promise<void>;
}

export interface RuntimeOptions {
  clock?: Clock;
  logger?: Logger;
  /** replaces the configured engine (tests). */
  engine?: ImageEngine;
  /** backoff base for engine retries, ms (tests shorten it). */
  retryBaseMs?: number;
  /** sweeper interval, ms. @defaultValue 1000 */
  sweepIntervalMs?: number;
}

/** The link-signing secret: configured, or generated once and kept in the data directory. */
export function loadSecret(config: Readonly<Config>): string {
  if (config.secret) return config.secret;
  const file = path.join(config.dataDir, "secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString("hex");
  writeFileSync(file, secret + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return secret;
}

export function createFileStore(config: Readonly<Config>): FileStore {
  if (config.files.store === "s3") {
    const s3 = config.files.s3;
    return new S3FileStore({
      bucket: s3.bucket!,
      endpoint: s3.endpoint ?? undefined,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      prefix: s3.prefix,
    });
  }
  return new LocalFileStore(path.join(config.dataDir, "files"));
}

export function createEngine(config: Readonly<Config>, logger: Logger, clock: Clock): ImageEngine {
  if (config.engine === "sandbox") return new SandboxEngine({ delayMs: config.sandboxDelayMs });
  const g = config.gemini;
  return new GeminiEngine({
    mode: config.engine,
    apiKey: g.apiKey,
    baseUrl: g.baseUrl,
    vertexProject: g.vertexProject,
    vertexLocation: g.vertexLocation,
    vertexAccessToken: g.vertexAccessToken,
    attemptTimeoutMs: g.attemptTimeoutMs,
    attemptTimeout4kMs: g.attemptTimeout4kMs,
    clock,
    logger: logger.child({ component: "engine" }),
  });
}

export async function createRuntime(config: Readonly<Config>, opts: RuntimeOptions = {}): Promise<Runtime> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger(config);
  const store = await openStore(config.databaseUrl, { backgroundCheckpoint: true });
  const fileStore = createFileStore(config);
  const secret = loadSecret(config);
  const files = new FileService({
    store: fileStore,
    records: store,
    publicUrl: config.publicUrl,
    secret,
    uploadRetentionMs: config.files.uploadRetentionMs,
    resultRetentionMs: config.files.resultRetentionMs,
    uploadMaxBytes: config.files.uploadMaxBytes,
    clock,
    storageStatus: new StorageStatus(path.join(config.dataDir, "tmp")),
  });
  const policy = new AddressPolicy(config.outbound.allow);
  const callbackPolicy = new CallbackPolicy(config.callbacks, logger.child({ component: "callbacks" }));
  // Large image_input downloads are spilled here while they are re-encoded (inputs/load-inputs.ts).
  // Under the data directory rather than os.tmpdir(), which is often a RAM-backed tmpfs in containers.
  const inputTmpDir = path.join(config.dataDir, "tmp");
  if (config.role !== "api") mkdirSync(inputTmpDir, { recursive: true });
  if (config.imageConcurrency !== null) setImageConcurrency(config.imageConcurrency);
  const engine = opts.engine ?? createEngine(config, logger, clock);
  const runsWorkers = config.role !== "api";
  const events = openEventBus(config, logger);
  const publish = (taskId: string, state: TaskState) => events.publish(taskId, state);
  const lifecycle = new Lifecycle();
  const metrics: PeelMetrics | null =
    config.metrics.port === 0
      ? null
      : new PeelMetrics({
          countTasks: () => store.countTasks(),
          runningTasks: runsWorkers ? (): number => worker?.inFlight ?? 0 : undefined,
          info: { version: PEEL_VERSION, role: config.role, engine: engine.name },
          onCollectError: (err) => logger.warn({ err, event: "metrics:collect:error" }, "counting tasks for metrics failed"),
        });

  const dispatcher = runsWorkers
    ? new DeliveryDispatcher({
        store,
        policy,
        clock,
        workerId: newId("wrk"),
        timeoutMs: config.callbacks.timeoutMs,
        concurrency: config.callbacks.concurrency,
        pollMs: config.callbacks.pollMs,
        logger: logger.child({ component: "callbacks" }),
        metrics: metrics ?? undefined,
      })
    : null;
  const onSettled = (task: TaskRecord) => {
    dispatcher?.notify();
    metrics?.taskSettled(task);
  };

  const worker: TaskWorker | null = runsWorkers
    ? new TaskWorker({
        store,
        engine: metrics ? observedEngine(engine, metrics) : engine,
        files,
        clock,
        logger: logger.child({ component: "worker" }),
        loadInputs: (task, signal) =>
          loadInputImages(
            task.input.imageUrls,
            {
              policy,
              maxBytes: Math.min(config.inputs.maxBytes, modelSpec(task.model)?.imageMaxBytes ?? config.inputs.maxBytes),
              timeoutMs: config.inputs.timeoutMs,
              connectTimeoutMs: config.inputs.connectTimeoutMs,
              publicUrl: config.publicUrl,
              readOwnFile: (url, maxBytes) => files.readOwnFile(url, maxBytes, task.accountId),
              tmpDir: inputTmpDir,
            },
            signal,
          ),
        upstreamModels: config.gemini.models,
        concurrency: config.worker.concurrency,
        leaseMs: config.worker.leaseMs,
        pollMs: config.worker.pollMs,
        maxRunningPerAccount: config.worker.maxRunningPerAccount,
        maxAttempts: config.gemini.attempts,
        backoff: { ...DEFAULT_BACKOFF, baseMs: opts.retryBaseMs ?? DEFAULT_BACKOFF.baseMs },
        unmeteredBalance: config.billing.unmeteredBalance,
        callbackPolicy,
        onSettled,
        publish,
      })
    : null;
  // A task created by another process (an API process in scale-out) wakes this worker at once.
  if (worker) events.subscribe({ onEvent: (e) => e.state === "waiting" && worker.notify() });

  const sweeper = runsWorkers
    ? new Sweeper({
        store,
        fileStore,
        clock,
        logger: logger.child({ component: "sweeper" }),
        intervalMs: opts.sweepIntervalMs ?? 1000,
        fileSweepIntervalMs: config.files.sweepIntervalMs,
        unmeteredBalance: config.billing.unmeteredBalance,
        callbackPolicy,
        onSettled,
        publish,
      })
    : null;

  // Scale-out: several API processes share one window per key through Redis.
  const limiter: RateLimiter & { close?: () => Promise<void> } = config.redisUrl
    ? new RedisRateLimiter(config.redisUrl)
    : new MemoryRateLimiter();

  const ctx: AppContext = {
    config,
    store,
    clock,
    auth: new Authenticator(store),
    limiter,
    switches: new SwitchCache(store),
    settledRecords: new SettledRecordCache(),
    files,
    policy,
    callbackPolicy,
    logger,
    engineName: engine.name,
    dispatcher,
    wakeWorker: worker ? () => worker.notify() : undefined,
    cancelRun: worker ? (taskId) => void worker.cancel(taskId) : undefined,
    events,
    thumbnails: new Thumbnailer(fileStore),
    taskWatch: new TaskWatchHub({
      bus: events,
      getTask: (id) => store.getTask(id),
      queuePosition: (id) => store.queuePosition(id),
      slots: config.worker.concurrency,
      logger: logger.child({ component: "events" }),
      // SQLite with the worker in another process and no Redis: no event can reach this process.
      resyncMs: config.role === "api" && events.kind === "local" ? 2_000 : 0,
    }),
    ops: {
      instanceId: deploymentId(secret),
      metrics,
      onDrain: (fn) => lifecycle.onDrain(fn),
      readiness: new Readiness({
        store,
        probe: new FileStoreProbe(fileStore),
        draining: () => lifecycle.draining,
        // a full disk, database or bucket seen by a request, an upload or a result write
        extra: { storage: () => files.storageStatus.readinessCheck() },
      }),
    },
  };

  let started = false;
  let draining: Promise<void> | null = null;
  const drain = (graceMs = config.shutdownGraceMs) =>
    (draining ??= (async () => {
      lifecycle.beginDrain();
      // One budget for tasks and callbacks: the dispatcher keeps sending (the callbacks of tasks
      // that finish in the grace period included) until the worker is done, then gets what is left.
      const deadline = Date.now() + graceMs;
      await Promise.all([sweeper?.stop(), worker?.stop(graceMs)]);
      await dispatcher?.stop(Math.max(0, deadline - Date.now()));
    })());
  return {
    config,
    store,
    fileStore,
    files,
    engine,
    logger,
    clock,
    ctx,
    worker,
    dispatcher,
    sweeper,
    events,
    metrics,
    lifecycle,
    startBackground() {
      if (started) return;
      started = true;
      worker?.start();
      dispatcher?.start();
      sweeper?.start();
    },
    drain,
    async stop(graceMs?: number) {
      await drain(graceMs);
      ctx.taskWatch.close();
      await events.close();
      await (engine as { close?: () => Promise<void> }).close?.();
      await limiter.close?.();
      (fileStore as { destroy?: () => void }).destroy?.();
      await store.close();
    },
  };
}

export { buildApp, createLogger };
