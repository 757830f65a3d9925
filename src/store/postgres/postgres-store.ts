import type {
  Account,
  ApiKey,
  Delivery,
  DeliveryAttempt,
  DeliveryState,
  FileKind,
  FileRecord,
  KeyLimits,
  LedgerEntry,
  NewDelivery,
  Switches,
  TaskRecord,
} from "../../domain/types.js";
import { migratePostgres, postgresSchemaVersion } from "../migrate-postgres.js";
import { POSTGRES_MIGRATIONS } from "../migrations/postgres/index.js";
import type {
  AccountPatch,
  ApiKeyWithAccount,
  ClaimOptions,
  CreateTaskCommand,
  CreateTaskOutcome,
  NewAccount,
  SettlementHook,
  Store,
  WebhookSecrets,
} from "../store.js";
import * as accounts from "./accounts.js";
import { PgDb, type PostgresOptions } from "./db.js";
import * as deliveries from "./deliveries.js";
import * as files from "./files.js";
import * as switches from "./switches.js";
import * as queue from "./task-queue.js";
import * as tasks from "./tasks.js";

/**
 * The PostgreSQL backend of `Store`, for running several API and worker processes on one
 * database. Each call takes a pooled connection: single statements autocommit, multi-row changes
 * run in one BEGIN … COMMIT (READ COMMITTED) on one connection. Correctness under concurrency
 * comes from conditional updates (credits), row locks (caps: the key row; running caps: the
 * account row) and SKIP LOCKED claims (tasks, deliveries), not from a stricter isolation level.
 */
export class PostgresStore implements Store {
  private readonly db: PgDb;
  private closed = false;

  /** Connects lazily (first query); call `migrate()` before use. */
  constructor(opts: PostgresOptions) {
    this.db = new PgDb(opts);
  }

  async migrate(): Promise<void> {
    await migratePostgres(this.db.pool, { schema: this.db.schema });
  }

  async checkHealth(): Promise<{ migrationsApplied: number; migrationsKnown: number }> {
    return { migrationsApplied: await postgresSchemaVersion(this.db.pool), migrationsKnown: POSTGRES_MIGRATIONS.length };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private get sql() {
    return this.db.sql;
  }

  // accounts, keys, credits ------------------------------------------------------------------

  createAccount(input: NewAccount, now: number): Promise<Account> {
    return accounts.createAccount(this.db, input, now);
  }
  getAccount(id: string): Promise<Account | null> {
    return accounts.getAccount(this.sql, id);
  }
  findAccountByToken(token: string): Promise<Account | null> {
    return accounts.findAccountByToken(this.sql, token);
  }
  listAccounts(): Promise<Account[]> {
    return accounts.listAccounts(this.sql);
  }
  updateAccount(id: string, patch: AccountPatch): Promise<Account | null> {
    return accounts.updateAccount(this.sql, id, patch);
  }
  createApiKey(
    input: { accountId: string; name: string; hash: string; prefix: string; limits?: KeyLimits },
    now: number,
  ): Promise<ApiKey> {
    return accounts.createApiKey(this.sql, input, now);
  }
  findApiKeyByHash(hash: string): Promise<ApiKeyWithAccount | null> {
    return accounts.findApiKeyByHash(this.sql, hash);
  }
  getApiKey(id: string): Promise<ApiKey | null> {
    return accounts.getApiKey(this.sql, id);
  }
  listApiKeys(accountId?: string): Promise<ApiKey[]> {
    return accounts.listApiKeys(this.sql, accountId);
  }
  revokeApiKey(id: string, now: number): Promise<boolean> {
    return accounts.revokeApiKey(this.sql, id, now);
  }
  updateApiKeyLimits(id: string, limits: KeyLimits): Promise<ApiKey | null> {
    return accounts.updateApiKeyLimits(this.sql, id, limits);
  }
  grantCredits(accountId: string, amount: number, note: string | null, now: number): Promise<LedgerEntry> {
    return accounts.grantCredits(this.db, accountId, amount, note, now);
  }
  getBalance(accountId: string): Promise<number> {
    return accounts.getBalance(this.sql, accountId);
  }
  listLedger(accountId: string, opts?: { limit?: number; taskId?: string }): Promise<LedgerEntry[]> {
    return accounts.listLedger(this.sql, accountId, opts);
  }
  getWebhookSecrets(accountId: string, now: number): Promise<WebhookSecrets> {
    return accounts.getWebhookSecrets(this.sql, accountId, now);
  }
  setWebhookHmacKey(accountId: string, hmacKey: string | null): Promise<void> {
    return accounts.setWebhookHmacKey(this.sql, accountId, hmacKey);
  }
  rotateSigningSecret(accountId: string, secret: string, overlapUntil: number, now: number): Promise<void> {
    return accounts.rotateSigningSecret(this.db, accountId, secret, overlapUntil, now);
  }

  // tasks --------------------------------------------------------------------------------------

  createTask(cmd: CreateTaskCommand): Promise<CreateTaskOutcome> {
    return tasks.createTask(this.db, cmd);
  }
  getTask(id: string, accountId?: string): Promise<TaskRecord | null> {
    return tasks.getTask(this.sql, id, accountId);
  }
  promoteWaitingTasks(opts: { now: number; maxRunningPerAccount: number }): Promise<string[]> {
    return queue.promoteWaitingTasks(this.db, opts);
  }
  claimTask(opts: ClaimOptions): Promise<TaskRecord | null> {
    return queue.claimTask(this.db, opts);
  }
  /** Returns the new attempt count, or 0 when `workerId` does not hold the task's lease. */
  startAttempt(taskId: string, workerId: string, _now: number): Promise<number> {
    return queue.startAttempt(this.sql, taskId, workerId);
  }
  renewLease(taskId: string, workerId: string, leaseUntil: number): Promise<{ held: boolean; cancelRequested: boolean }> {
    return queue.renewLease(this.sql, taskId, workerId, leaseUntil);
  }
  releaseForRetry(taskId: string, workerId: string, runAfter: number, _now: number): Promise<boolean> {
    return queue.releaseForRetry(this.sql, taskId, workerId, runAfter);
  }
  completeTask(
    cmd: { taskId: string; workerId: string; now: number; resultUrls: string[] },
    onSettled?: SettlementHook,
  ): Promise<TaskRecord | null> {
    return queue.completeTask(this.db, cmd, onSettled);
  }
  failTask(
    cmd: { taskId: string; workerId: string | null; now: number; failCode: string; failMsg: string },
    onSettled?: SettlementHook,
  ): Promise<TaskRecord | null> {
    return queue.failTask(this.db, cmd, onSettled);
  }
  requestCancel(taskId: string, accountId: string, now: number, onSettled?: SettlementHook): ReturnType<Store["requestCancel"]> {
    return queue.requestCancel(this.db, taskId, accountId, now, onSettled);
  }
  listTasks(opts: Parameters<Store["listTasks"]>[0]): ReturnType<Store["listTasks"]> {
    return tasks.listTasks(this.sql, opts);
  }
  queuePosition(taskId: string): Promise<number | null> {
    return tasks.queuePosition(this.sql, taskId);
  }
  listOverdueTasks(now: number, limit: number): Promise<TaskRecord[]> {
    return tasks.listOverdueTasks(this.sql, now, limit);
  }
  countTasks(opts?: { accountId?: string }): Promise<Record<string, number>> {
    return tasks.countTasks(this.sql, opts);
  }
  purgeIdempotencyKeys(now: number): Promise<number> {
    return tasks.purgeIdempotencyKeys(this.sql, now);
  }
  usageFreedAt(opts: {
    keyId: string;
    window: "hourly" | "daily";
    cap: number;
    price: number;
    now: number;
  }): Promise<number | null> {
    return tasks.usageFreedAt(this.sql, opts);
  }

  // deliveries ---------------------------------------------------------------------------------

  createDelivery(d: NewDelivery): Promise<Delivery> {
    return deliveries.insertDelivery(this.sql, d);
  }
  claimDueDeliveries(opts: { workerId: string; now: number; limit: number; leaseMs: number }): Promise<Delivery[]> {
    return deliveries.claimDueDeliveries(this.sql, opts);
  }
  deferDelivery(id: string, workerId: string, until: number): Promise<boolean> {
    return deliveries.deferDelivery(this.sql, id, workerId, until);
  }
  recordDeliveryAttempt(attempt: DeliveryAttempt, outcome: Exclude<DeliveryState, "pending"> | "retry"): Promise<void> {
    return deliveries.recordDeliveryAttempt(this.db, attempt, outcome);
  }
  getDelivery(id: string): Promise<Delivery | null> {
    return deliveries.getDelivery(this.sql, id);
  }
  listDeliveries(opts: {
    accountId?: string;
    taskId?: string;
    state?: DeliveryState;
    since?: number;
    limit?: number;
  }): Promise<Delivery[]> {
    return deliveries.listDeliveries(this.sql, opts);
  }
  listDeliveryAttempts(deliveryId: string): Promise<DeliveryAttempt[]> {
    return deliveries.listDeliveryAttempts(this.sql, deliveryId);
  }
  replayDelivery(id: string, now: number): Promise<boolean> {
    return deliveries.replayDelivery(this.sql, id, now);
  }
  replayFailedDeliveries(opts: { accountId?: string; since: number; now: number }): Promise<number> {
    return deliveries.replayFailedDeliveries(this.sql, opts);
  }

  // files --------------------------------------------------------------------------------------

  putFileRecord(f: Omit<FileRecord, "deletedAt">): Promise<FileRecord> {
    return files.putFileRecord(this.db, f);
  }
  getFileByUrlPath(urlPath: string): Promise<FileRecord | null> {
    return files.getFileByUrlPath(this.sql, urlPath);
  }
  listExpiredFiles(now: number, limit: number): Promise<FileRecord[]> {
    return files.listExpiredFiles(this.sql, now, limit);
  }
  markFileDeleted(id: string, now: number): Promise<void> {
    return files.markFileDeleted(this.sql, id, now);
  }
  listFiles(opts: { accountId?: string; kind?: FileKind; limit?: number }): Promise<FileRecord[]> {
    return files.listFiles(this.sql, opts);
  }

  // switches -----------------------------------------------------------------------------------

  getSwitches(): Promise<Switches> {
    return switches.getSwitches(this.sql);
  }
  setMaintenance(on: boolean): Promise<void> {
    return switches.setMaintenance(this.sql, on);
  }
  setModelEnabled(model: string, enabled: boolean): Promise<void> {
    return switches.setModelEnabled(this.sql, model, enabled);
  }
}
