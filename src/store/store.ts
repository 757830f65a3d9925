import type {
  Account,
  CallbackPolicy,
  ApiKey,
  Delivery,
  DeliveryAttempt,
  DeliveryState,
  FileKind,
  FileRecord,
  KeyLimits,
  LedgerEntry,
  NewDelivery,
  NewTask,
  Switches,
  TaskRecord,
  TaskState,
} from "../domain/types.js";

/**
 * The storage interface, in domain words. Backends (SQLite now, PostgreSQL later) implement all of
 * it; nothing about SQL, connections or transactions appears here. Every method that changes more
 * than one row does so atomically. Times are ms since the epoch and are always passed in, so tests
 * can drive a controllable clock.
 */
export interface Store extends AccountStore, TaskStore, DeliveryStore, FileRecordStore, SwitchStore {
  /** Applies pending numbered migrations. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /**
   * Asks the database a question (throws when it does not answer) and reports how many of the
   * migrations this build knows are applied; readiness wants them equal.
   */
  checkHealth(): Promise<{ migrationsApplied: number; migrationsKnown: number }>;
  /** SQLite only: an online, consistent copy of the database into `file` (SQLite's backup API). */
  backup?(file: string): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// accounts, keys, credits

export interface NewAccount {
  name: string;
  unmetered?: boolean;
  maxRunning?: number | null;
  /** credits granted at creation (a ledger `grant` entry); 0 = none. */
  initialCredits?: number;
}

export interface AccountPatch {
  name?: string;
  unmetered?: boolean;
  maxRunning?: number | null;
  disabled?: boolean;
  callbackPolicy?: CallbackPolicy | null;
}

export interface ApiKeyWithAccount {
  key: ApiKey;
  account: Account;
}

export interface WebhookSecrets {
  /** kie scheme HMAC key (X-Webhook-Signature), or null. */
  hmacKey: string | null;
  /** Standard Webhooks `whsec_...` secrets that sign right now, newest first (several during rotation). */
  signingSecrets: string[];
}

export interface AccountStore {
  createAccount(input: NewAccount, now: number): Promise<Account>;
  getAccount(id: string): Promise<Account | null>;
  findAccountByToken(token: string): Promise<Account | null>;
  listAccounts(): Promise<Account[]>;
  updateAccount(id: string, patch: AccountPatch): Promise<Account | null>;

  createApiKey(
    input: { accountId: string; name: string; hash: string; prefix: string; limits?: KeyLimits },
    now: number,
  ): Promise<ApiKey>;
  /** A key that is not revoked, with its account (disabled accounts are returned too: callers check). */
  findApiKeyByHash(hash: string): Promise<ApiKeyWithAccount | null>;
  getApiKey(id: string): Promise<ApiKey | null>;
  listApiKeys(accountId?: string): Promise<ApiKey[]>;
  /** false when no such key or already revoked. */
  revokeApiKey(id: string, now: number): Promise<boolean>;
  updateApiKeyLimits(id: string, limits: KeyLimits): Promise<ApiKey | null>;

  /** Appends a grant (positive) or a manual debit (negative grant). Returns the new entry. */
  grantCredits(accountId: string, amount: number, note: string | null, now: number): Promise<LedgerEntry>;
  /** Available balance: the sum of the account's ledger entries. */
  getBalance(accountId: string): Promise<number>;
  /** Newest first. */
  listLedger(accountId: string, opts?: { limit?: number; taskId?: string }): Promise<LedgerEntry[]>;

  getWebhookSecrets(accountId: string, now: number): Promise<WebhookSecrets>;
  setWebhookHmacKey(accountId: string, hmacKey: string | null): Promise<void>;
  /**
   * Adds `secret` as the newest signing secret. Older secrets keep signing until `overlapUntil`
   * (pass `now` to retire them at once).
   */
  rotateSigningSecret(accountId: string, secret: string, overlapUntil: number, now: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// tasks

export type UsageWindow = "hourly" | "daily" | "total";

export interface CreateTaskCommand {
  task: NewTask;
  /** hold `task.price` on the account; false for unmetered accounts (nothing is held). */
  holdCredits: boolean;
  /**
   * Per-key usage caps in credits. Usage = sum of prices of the key's tasks that are not `fail`,
   * created within the window (hour / day before `task.createTime`, or ever for total).
   * The task is refused when usage + price would exceed the cap.
   */
  caps?: { hourly?: number | null; daily?: number | null; total?: number | null };
  /**
   * Idempotency-Key handling, enforced by a unique (account, key) constraint: a second create with
   * the same key replays when `bodyHash` matches and conflicts otherwise. Entries older than
   * `expiresAt` may be replaced.
   */
  idempotency?: { key: string; bodyHash: string; expiresAt: number };
}

export type CreateTaskOutcome =
  | { kind: "created"; task: TaskRecord }
  | { kind: "replayed"; taskId: string }
  | { kind: "idempotency_conflict" }
  | { kind: "insufficient_credits" }
  | { kind: "cap_exceeded"; window: UsageWindow };

/**
 * Builds the callback for a task that just settled, from the settled record and the account's
 * available balance right after settlement. Runs inside the settling transaction, so the outbox
 * row commits with the terminal state (or not at all). Return null for no callback.
 */
export type SettlementHook = (task: TaskRecord, remainedCredits: number) => NewDelivery | null;

export interface ClaimOptions {
  workerId: string;
  now: number;
  leaseMs: number;
  /** default running cap per account (an account's own `maxRunning` wins). */
  maxRunningPerAccount: number;
}

export interface TaskStore {
  createTask(cmd: CreateTaskCommand): Promise<CreateTaskOutcome>;
  /** With `accountId`, a task of another account is null. */
  getTask(id: string, accountId?: string): Promise<TaskRecord | null>;

  /**
   * waiting → queuing for as many tasks per account as its running share allows
   * (cap - generating - queuing), oldest first. Returns the ids of the tasks it moved.
   */
  promoteWaitingTasks(opts: { now: number; maxRunningPerAccount: number }): Promise<string[]>;
  /**
   * Claims one runnable task and moves it to `generating` under a lease held by `workerId`.
   * Runnable: `queuing` with runAfter ≤ now, or `generating` whose lease expired or was released
   * for a retry with runAfter ≤ now. Accounts are served round-robin (least recently claimed first)
   * and an account at its running cap is skipped. Attempts are counted by `startAttempt`.
   */
  claimTask(opts: ClaimOptions): Promise<TaskRecord | null>;
  /** Records that an engine attempt starts (attempts + 1). */
  startAttempt(taskId: string, workerId: string, now: number): Promise<number>;
  /** Extends a held lease. `held` false when the lease was lost (or the task settled). */
  renewLease(taskId: string, workerId: string, leaseUntil: number): Promise<{ held: boolean; cancelRequested: boolean }>;
  /** Gives the task back for a later retry: stays `generating`, no lease, runnable after `runAfter`. */
  releaseForRetry(taskId: string, workerId: string, runAfter: number, now: number): Promise<boolean>;
  /**
   * generating → success, capturing the hold, exactly once. `workerId` must hold the lease.
   * Returns the settled record, or null when the task is not this worker's to settle.
   */
  completeTask(
    cmd: { taskId: string; workerId: string; now: number; resultUrls: string[] },
    onSettled?: SettlementHook,
  ): Promise<TaskRecord | null>;
  /**
   * any non-terminal state → fail, releasing the hold in full, exactly once. With `workerId` the
   * worker must hold the lease; without it (deadline sweep, cancel) any non-terminal task settles.
   */
  failTask(
    cmd: { taskId: string; workerId: string | null; now: number; failCode: string; failMsg: string },
    onSettled?: SettlementHook,
  ): Promise<TaskRecord | null>;
  /**
   * Cancel: a task not yet generating fails at once (failCode `canceled`); a generating task gets
   * `cancelRequested` and its worker fails it when the engine allows.
   */
  requestCancel(
    taskId: string,
    accountId: string,
    now: number,
    onSettled?: SettlementHook,
  ): Promise<
    | { kind: "canceled"; task: TaskRecord }
    | { kind: "cancel_requested"; task: TaskRecord }
    | { kind: "already_terminal"; task: TaskRecord }
    | { kind: "not_found" }
  >;
  /** One account's tasks, newest first (createTime, then id, descending), with the total that match. */
  listTasks(opts: {
    accountId: string;
    state?: TaskState;
    model?: string;
    offset: number;
    limit: number;
  }): Promise<{ total: number; tasks: TaskRecord[] }>;
  /**
   * How many open tasks not yet generating (waiting or queuing, any account) were created before
   * this one: its place in the line. null when the task is not waiting or queuing.
   */
  queuePosition(taskId: string): Promise<number | null>;
  /** Non-terminal tasks whose deadline ≤ now, oldest first. */
  listOverdueTasks(now: number, limit: number): Promise<TaskRecord[]>;
  /** Counts by state, for metrics and tests. */
  countTasks(opts?: { accountId?: string }): Promise<Record<string, number>>;
  /** Drops idempotency keys whose expiresAt ≤ now. */
  purgeIdempotencyKeys(now: number): Promise<number>;
  /**
   * Optional Retry-After hint for a create refused by a rolling usage cap: when enough of the key's
   * usage (as counted for `caps`) will have left the window for `price` to fit under `cap`.
   * null when it never will (the price alone exceeds the cap). Backends without it: callers fall
   * back to the window's length.
   */
  usageFreedAt?(opts: {
    keyId: string;
    window: "hourly" | "daily";
    cap: number;
    price: number;
    now: number;
  }): Promise<number | null>;
}

// ---------------------------------------------------------------------------------------------
// callback deliveries (outbox)

export interface DeliveryStore {
  /** Stores a delivery outside task settlement (test events, replays of external events). */
  createDelivery(d: NewDelivery): Promise<Delivery>;
  /**
   * Pending deliveries with nextAttemptAt ≤ now, leased to `workerId` until now + leaseMs so that
   * another dispatcher does not send them at the same time. Oldest due first.
   */
  claimDueDeliveries(opts: { workerId: string; now: number; limit: number; leaseMs: number }): Promise<Delivery[]>;
  /**
   * Gives a claimed delivery back unsent, e.g. because its receiver is already at its limit of
   * concurrent callbacks: lease cleared, due again at `until`. No attempt is recorded and the
   * attempt count, last status/error and updatedAt stay as they were. Only while `workerId` holds
   * the lease of a pending delivery; false otherwise (lease lost, delivery ended or unknown).
   */
  deferDelivery(id: string, workerId: string, until: number): Promise<boolean>;
  /**
   * Records one attempt and moves the delivery: `delivered`, `stopped` (410), `failed` (schedule
   * exhausted) or back to `pending` with attempt.nextAttemptAt. Releases the lease.
   */
  recordDeliveryAttempt(
    attempt: DeliveryAttempt,
    outcome: Exclude<DeliveryState, "pending" | "skipped"> | "retry",
  ): Promise<void>;
  getDelivery(id: string): Promise<Delivery | null>;
  listDeliveries(opts: {
    accountId?: string;
    taskId?: string;
    state?: DeliveryState;
    since?: number;
    limit?: number;
  }): Promise<Delivery[]>;
  /** Oldest first. */
  listDeliveryAttempts(deliveryId: string): Promise<DeliveryAttempt[]>;
  /** Makes a delivery pending again, due at `now`, keeping its webhookId. false when unknown. */
  replayDelivery(id: string, now: number): Promise<boolean>;
  /** Replays every `failed` (and `stopped`) delivery created at or after `since`. Returns the count. */
  replayFailedDeliveries(opts: { accountId?: string; since: number; now: number }): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// file records (bytes live in a FileStore; these rows say who owns what and until when)

export interface FileRecordStore {
  /** Inserts, or replaces the live record with the same urlPath (re-upload to the same name). */
  putFileRecord(f: Omit<FileRecord, "deletedAt">): Promise<FileRecord>;
  /** The newest record for that URL path, deleted or not. */
  getFileByUrlPath(urlPath: string): Promise<FileRecord | null>;
  /** Records not yet deleted whose expiresAt ≤ now. */
  listExpiredFiles(now: number, limit: number): Promise<FileRecord[]>;
  markFileDeleted(id: string, now: number): Promise<void>;
  listFiles(opts: { accountId?: string; kind?: FileKind; limit?: number }): Promise<FileRecord[]>;
}

// ---------------------------------------------------------------------------------------------
// runtime switches

export interface SwitchStore {
  getSwitches(): Promise<Switches>;
  setMaintenance(on: boolean): Promise<void>;
  setModelEnabled(model: string, enabled: boolean): Promise<void>;
}
