import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { FileService } from "../files/file-service.js";
import type { RateLimiter } from "../limits/rate-limiter.js";
import type { AddressPolicy } from "../net/address-guard.js";
import type { Authenticator } from "../services/api-keys.js";
import type { SettledRecordCache } from "../services/settled-records.js";
import type { SwitchCache } from "../services/switches.js";
import type { OpsContext } from "../ops/ops-context.js";
import type { Store } from "../store/store.js";
import type { CallbackPolicy } from "../webhooks/callback-policy.js";
import type { DeliveryDispatcher } from "../webhooks/dispatcher.js";
import type { EventBus } from "../events/bus.js";
import type { TaskWatchHub } from "../events/task-watch.js";
import type { Thumbnailer } from "../files/thumbnails.js";

/** Everything the HTTP layer needs, built once by the runtime (runtime.ts) or by a test. */
export interface AppContext {
  config: Readonly<Config>;
  store: Store;
  clock: Clock;
  auth: Authenticator;
  limiter: RateLimiter;
  switches: SwitchCache;
  files: FileService;
  policy: AddressPolicy;
  /** where callbacks may go; a cancel settles a task too. */
  callbackPolicy: CallbackPolicy;
  logger: Logger;
  /** name of the engine the workers run, for /healthz. */
  engineName: string;
  /** the callback dispatcher, when this process runs one (wakes it after a settle, sends test events). */
  dispatcher: DeliveryDispatcher | null;
  /** recordInfo views of settled (immutable) tasks; absent = always read the store. */
  settledRecords?: SettledRecordCache;
  /** wakes this process's worker after a create, so a task starts without waiting for a poll. */
  wakeWorker?: () => void;
  /** aborts this process's run of a task whose cancel was just requested (no-op when it runs elsewhere). */
  cancelRun?: (taskId: string) => void;
  /** task events: every state change is published here (events/bus.ts). */
  events: EventBus;
  /** `/files/…?w=` thumbnails. */
  thumbnails: Thumbnailer;
  /** this process's watchers of task events (the SSE streams). */
  taskWatch: TaskWatchHub;
  /** readiness, drain state, metrics (src/ops/); absent in contexts built without them. */
  ops?: OpsContext;
}
