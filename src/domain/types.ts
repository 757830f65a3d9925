/**
 * peel's domain vocabulary. Every module, table and doc uses these words.
 *
 * - account: owns API keys, a credit balance, tasks, uploaded files and webhook secrets.
 * - API key: a bearer credential of one account; rate limits and usage caps apply per key.
 * - task: one image-generation request accepted by createTask; has a kie `taskId` (32 hex).
 * - state: waiting → queuing → generating → success | fail (docs/kie-contract.md §6). Terminal
 *   states never change.
 * - worker: a loop that claims a task with a lease, runs the engine, stores the result, releases.
 * - lease: a worker's time-limited claim on a task; an expired lease lets another worker take it.
 * - attempt: one call to the engine for a task; transient failures are retried inside `generating`.
 * - engine: the thing that turns (prompt, input images, ratio, resolution, format) into an image
 *   (`sandbox`, `gemini`, `vertex`).
 * - artifact / result file: the stored image of a successful task, served under `/files/r/...`.
 * - upload: a file a client uploaded for use as `image_input`, served under `/files/u/...`.
 * - ledger entry: one append-only credit movement (grant, hold, capture, release); the balance is
 *   their sum.
 * - hold: credits reserved at createTask; captured on success, released on fail or cancel.
 * - callback: the POST to a task's `callBackUrl` when it reaches a terminal state.
 * - delivery: the durable record (outbox row) of one callback to send; delivery attempt: one POST.
 */

export type TaskState = "waiting" | "queuing" | "generating" | "success" | "fail";
export const TERMINAL_STATES: readonly TaskState[] = ["success", "fail"];
export const isTerminal = (s: TaskState): boolean => s === "success" || s === "fail";

export type Resolution = "1K" | "2K" | "4K";
/** Output encoding; `jpeg` here is what kie spells `jpg` (or `jpeg` for the older models). */
export type OutputFormat = "png" | "jpeg";

/** A task's input after its model's validation, with every default filled in. */
export interface NormalizedInput {
  prompt: string;
  /** image URLs in request order (kie `image_input` or `image_urls`). */
  imageUrls: string[];
  /** one of the model's ratios, or "auto". */
  aspectRatio: string;
  /** null for models without a resolution (single size). */
  resolution: Resolution | null;
  outputFormat: OutputFormat;
  googleSearch?: boolean;
}

export interface TaskRecord {
  /** kie taskId: 32 lower-case hex characters. */
  id: string;
  accountId: string;
  keyId: string;
  /** kie model id as sent, e.g. `nano-banana-pro`. */
  model: string;
  state: TaskState;
  /** JSON text of the createTask body as received (model, callBackUrl if sent, input as sent). */
  param: string;
  input: NormalizedInput;
  callbackUrl: string | null;
  /** credits held at creation (0 for unmetered accounts). */
  price: number;
  resultUrls: string[] | null;
  failCode: string | null;
  failMsg: string | null;
  /** ms timestamps */
  createTime: number;
  updateTime: number;
  generatingSince: number | null;
  completeTime: number | null;
  /** the time after which the task fails as timed out. */
  deadline: number;
  /** engine attempts started so far. */
  attempts: number;
  cancelRequested: boolean;
  /** the price after success, else 0. */
  consumedCredits: number;
}

/** What the API layer hands to the store to create a task. */
export interface NewTask {
  id: string;
  accountId: string;
  keyId: string;
  model: string;
  param: string;
  input: NormalizedInput;
  callbackUrl: string | null;
  price: number;
  createTime: number;
  deadline: number;
}

/** The record of a task just accepted: `waiting`, nothing run, nothing charged beyond the hold. */
export function newTaskRecord(t: NewTask): TaskRecord {
  return {
    ...t,
    state: "waiting",
    resultUrls: null,
    failCode: null,
    failMsg: null,
    updateTime: t.createTime,
    generatingSince: null,
    completeTime: null,
    attempts: 0,
    cancelRequested: false,
    consumedCredits: 0,
  };
}

export interface Account {
  /** `acc_...` */
  id: string;
  name: string;
  /** random, stable string used in upload URLs (`/files/u/<token>/...`); not the id. */
  token: string;
  /** an unmetered account is never charged and reports a fixed large balance. */
  unmetered: boolean;
  /** tasks generating at once; null = the configured default. */
  maxRunning: number | null;
  createdAt: number;
  disabled: boolean;
  /** this account's own callback destination rules, on top of the operator's (docs/webhooks.md); null = none. */
  callbackPolicy: CallbackPolicy | null;
}

/** Callback destination rules: exact hosts, `*.suffix` patterns and CIDRs. */
export interface CallbackPolicy {
  allow: string[];
  deny: string[];
}

/** Per-key limits; null fields fall back to the configured defaults. 0 means unlimited for rates. */
export interface KeyLimits {
  createMax?: number | null;
  createWindowMs?: number | null;
  readMax?: number | null;
  readWindowMs?: number | null;
  /** usage caps in credits per rolling hour / day, and in total; null = off. */
  hourlyCap?: number | null;
  dailyCap?: number | null;
  totalCap?: number | null;
}

export interface ApiKey {
  /** `key_...` */
  id: string;
  accountId: string;
  name: string;
  /** the first characters of the key, safe to display. */
  prefix: string;
  /** hex sha256 of the full key. */
  hash: string;
  limits: KeyLimits;
  createdAt: number;
  revokedAt: number | null;
}

export type LedgerKind = "grant" | "hold" | "capture" | "release";

/**
 * One credit movement. `amount` is the entry's effect on the available balance:
 * grant +n, hold -price, release +price, capture 0 (the hold already took the credits).
 * The available balance is the sum of amounts.
 */
export interface LedgerEntry {
  id: string;
  accountId: string;
  taskId: string | null;
  kind: LedgerKind;
  amount: number;
  note: string | null;
  createdAt: number;
}

/** `skipped`: recorded but never sent, because the callback policy denies its destination. */
export type DeliveryState = "pending" | "delivered" | "failed" | "stopped" | "skipped";

/** A durable callback (outbox row). The body never changes between attempts. */
export interface Delivery {
  /** `dlv_...` */
  id: string;
  taskId: string | null;
  accountId: string;
  url: string;
  /** JSON text sent as the request body. */
  payload: string;
  /** Standard Webhooks `webhook-id`, stable across retries and replays. `msg_...` */
  webhookId: string;
  state: DeliveryState;
  attemptCount: number;
  nextAttemptAt: number | null;
  createdAt: number;
  updatedAt: number;
  lastStatus: number | null;
  lastError: string | null;
}

export interface NewDelivery {
  id: string;
  taskId: string | null;
  accountId: string;
  url: string;
  payload: string;
  webhookId: string;
  createdAt: number;
  /** set when the callback must not be sent (policy): stored as `skipped` with this reason, never attempted. */
  skipReason?: string;
}

/** The record of a delivery just stored: pending and due at once, or skipped with its reason. */
export function newDelivery(d: NewDelivery): Delivery {
  const { skipReason, ...rest } = d;
  const skipped = skipReason !== undefined;
  return {
    ...rest,
    state: skipped ? "skipped" : "pending",
    attemptCount: 0,
    nextAttemptAt: skipped ? null : d.createdAt,
    updatedAt: d.createdAt,
    lastStatus: null,
    lastError: skipped ? skipReason : null,
  };
}

export interface DeliveryAttempt {
  id: string;
  deliveryId: string;
  attemptedAt: number;
  /** HTTP status, or null when no response came (timeout, refused, blocked). */
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** when the next attempt is due; null when this attempt ended the delivery. */
  nextAttemptAt: number | null;
}

export type FileKind = "upload" | "result";

export interface FileRecord {
  /** `file_...` */
  id: string;
  accountId: string;
  kind: FileKind;
  taskId: string | null;
  /** the URL path peel serves it at, e.g. `/files/u/<token>/uploads/a.png`; unique. */
  urlPath: string;
  /** key in the file store. */
  storageKey: string;
  size: number;
  mimeType: string;
  createdAt: number;
  expiresAt: number;
  deletedAt: number | null;
}

/** Runtime switches, changed without a restart. */
export interface Switches {
  maintenance: boolean;
  disabledModels: string[];
}
