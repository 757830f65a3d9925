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
import { migrateSqlite, schemaVersion } from "../migrate-sqlite.js";
import { SQLITE_MIGRATIONS } from "../migrations/sqlite/index.js";
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
import { BackgroundCheckpointer } from "./checkpointer.js";
import { SqliteDb } from "./db.js";
import * as deliveries from "./deliveries.js";
import * as files from "./files.js";
import * as switches from "./switches.js";
import * as queue from "./task-queue.js";
import * as tasks from "./tasks.js";

/**
 * The SQLite backend of `Store`. better-sqlite3 is synchronous: each method runs its SQL to
 * completion (multi-row changes in one BEGIN IMMEDIATE transaction) and returns a settled promise,
 * so calls from one process never interleave inside a transaction. Other processes on the same
 * file are serialised by SQLite's write lock (busy_timeout 5 s).
 */
export class SqliteStore implements Store {
  private readonly db: SqliteDb;

  private readonly checkpointer: BackgroundCheckpointer | null;

  /** Opens (creating if needed) the database file; call `migrate()` before use. */
  constructor(
    readonly filename: string,
    opts: { backgroundCheckpoint?: boolean } = {},
  ) {
    this.db = new SqliteDb(filename);
    this.checkpointer = null;
    if (opts.backgroundCheckpoint) {
      // SQLite's own checkpoint stays as a safety net, at ~40 MB of WAL instead of ~4 MB.
      this.db.db.pragma("wal_autocheckpoint = 10000");
      this.checkpointer = new BackgroundCheckpointer(filename);
    }
  }

  async migrate(): Promise<void> {
    migrateSqlite(this.db.db);
  }

  async checkHealth(): Promise<{ migrationsApplied: number; migrationsKnown: number }> {
    return { migrationsApplied: schemaVersion(this.db.db), migrationsKnown: SQLITE_MIGRATIONS.length };
  }

  /** better-sqlite3's online backup: pages are copied in steps, so writers are never blocked for long. */
  async backup(file: string): Promise<void> {
    await this.db.db.backup(file);
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    this.db.close();
  }

  // accounts, keys, credits ------------------------------------------------------------------

  async createAccount(input: NewAccount, now: number): Promise<Account> {
    return accounts.createAccount(this.db, input, now);
  }
  async getAccount(id: string): Promise<Account | null> {
    return accounts.getAccount(this.db, id);
  }
  async findAccountByToken(token: string): Promise<Account | null> {
    return accounts.findAccountByToken(this.db, token);
  }
  async listAccounts(): Promise<Account[]> {
    return accounts.listAccounts(this.db);
  }
  async updateAccount(id: string, patch: AccountPatch): Promise<Account | null> {
    return accounts.updateAccount(this.db, id, patch);
  }
  async createApiKey(
    input: { accountId: string; name: string; hash: string; prefix: string; limits?: KeyLimits },
    now: number,
  ): Promise<ApiKey> {
    return accounts.createApiKey(this.db, input, now);
  }
  async findApiKeyByHash(hash: string): Promise<ApiKeyWithAccount | null> {
    return accounts.findApiKeyByHash(this.db, hash);
  }
  async getApiKey(id: string): Promise<ApiKey | null> {
    return accounts.getApiKey(this.db, id);
  }
  async listApiKeys(accountId?: string): Promise<ApiKey[]> {
    return accounts.listApiKeys(this.db, accountId);
  }
  async revokeApiKey(id: string, now: number): Promise<boolean> {
    return accounts.revokeApiKey(this.db, id, now);
  }
  async updateApiKeyLimits(id: string, limits: KeyLimits): Promise<ApiKey | null> {
    return accounts.updateApiKeyLimits(this.db, id, limits);
  }
  async grantCredits(accountId: string, amount: number, note: string | null, now: number): Promise<LedgerEntry> {
    return accounts.grantCredits(this.db, accountId, amount, note, now);
  }
  async getBalance(accountId: string): Promise<number> {
    return accounts.getBalance(this.db, accountId);
  }
  async listLedger(accountId: string, opts?: { limit?: number; taskId?: string }): Promise<LedgerEntry[]> {
    return accounts.listLedger(this.db, accountId, opts);
  }
  async getWebhookSecrets(accountId: string, now: number): Promise<WebhookSecrets> {
    return accounts.getWebhookSecrets(this.db, accountId, now);
  }
  async setWebhookHmacKey(accountId: string, hmacKey: string | null): Promise<void> {
    accounts.setWebhookHmacKey(this.db, accountId, hmacKey);
  }
  async rotateSigningSecret(accountId: string, secret: string, overlapUntil: number, now: number): Promise<void> {
    accounts.rotateSigningSecret(this.db, accountId, secret, overlapUntil, now);
  }

  // tasks --------------------------------------------------------------------------------------

  /** Hot path: group-committed with concurrent creates (see SqliteDb.batch). */
  createTask(cmd: CreateTaskCommand): Promise<CreateTaskOutcome> {
    return this.db.batch(() => tasks.createTask(this.db, cmd));
  }
  async getTask(id: string, accountId?: string): Promise<TaskRecord | null> {
    return tasks.getTask(this.db, id, accountId);
  }
  async promoteWaitingTasks(opts: { now: number; maxRunningPerAccount: number }): Promise<string[]> {
    return queue.promoteWaitingTasks(this.db, opts);
  }
  async claimTask(opts: ClaimOptions): Promise<TaskRecord | null> {
    return queue.claimTask(this.db, opts);
  }
  /** Returns the new attempt count, or 0 when `workerId` does not hold the task's lease. */
  async startAttempt(taskId: string, workerId: string, _now: number): Promise<number> {
    return queue.startAttempt(this.db, taskId, workerId);
  }
  async renewLease(taskId: string, workerId: string, leaseUntil: number): Promise<{ held: boolean; cancelRequested: boolean }> {
    return queue.renewLease(this.db, taskId, workerId, leaseUntil);
  }
  async releaseForRetry(taskId: string, workerId: string, runAfter: number, _now: number): Promise<boolean> {
    return queue.releaseForRetry(this.db, taskId, workerId, runAfter);
  }
  async completeTask(
    cmd: { taskId: string; workerId: string; now: number; resultUrls: string[] },
    onSettled?: SettlementHook,
  ): Promise<TaskRecord | null> {
    return queue.completeTask(this.db, cmd, onSettled);
  }
  async failTask(
    cmd: { taskId: string; workerId: string | null; now: number; failCode: string; failMsg: string },
    onSettled?: SettlementHook,
  ): Promise<TaskRecord | null> {
    return queue.failTask(this.db, cmd, onSettled);
  }
  async requestCancel(
    taskId: string,
    accountId: string,
    now: number,
    onSettled?: SettlementHook,
  ): ReturnType<Store["requestCancel"]> {
    return queue.requestCancel(this.db, taskId, accountId, now, onSettled);
  }
  async listTasks(opts: Parameters<Store["listTasks"]>[0]): ReturnType<Store["listTasks"]> {
    return tasks.listTasks(this.db, opts);
  }
  async queuePosition(taskId: string): Promise<number | null> {
    return tasks.queuePosition(this.db, taskId);
  }
  async listOverdueTasks(now: number, limit: number): Promise<TaskRecord[]> {
    return tasks.listOverdueTasks(this.db, now, limit);
  }
  async countTasks(opts?: { accountId?: string }): Promise<Record<string, number>> {
    return tasks.countTasks(this.db, opts);
  }
  async purgeIdempotencyKeys(now: number): Promise<number> {
    return tasks.purgeIdempotencyKeys(this.db, now);
  }
  async usageFreedAt(opts: {
    keyId: string;
    window: "hourly" | "daily";
    cap: number;
    price: number;
    now: number;
  }): Promise<number | null> {
    return tasks.usageFreedAt(this.db, opts);
  }

  // deliveries ---------------------------------------------------------------------------------

  async createDelivery(d: NewDelivery): Promise<Delivery> {
    return deliveries.insertDelivery(this.db, d);
  }
  async claimDueDeliveries(opts: { workerId: string; now: number; limit: number; leaseMs: number }): Promise<Delivery[]> {
    return deliveries.claimDueDeliveries(this.db, opts);
  }
  async deferDelivery(id: string, workerId: string, until: number): Promise<boolean> {
    return deliveries.deferDelivery(this.db, id, workerId, until);
  }
  async recordDeliveryAttempt(attempt: DeliveryAttempt, outcome: Exclude<DeliveryState, "pending"> | "retry"): Promise<void> {
    deliveries.recordDeliveryAttempt(this.db, attempt, outcome);
  }
  async getDelivery(id: string): Promise<Delivery | null> {
    return deliveries.getDelivery(this.db, id);
  }
  async listDeliveries(opts: {
    accountId?: string;
    taskId?: string;
    state?: DeliveryState;
    since?: number;
    limit?: number;
  }): Promise<Delivery[]> {
    return deliveries.listDeliveries(this.db, opts);
  }
  async listDeliveryAttempts(deliveryId: string): Promise<DeliveryAttempt[]> {
    return deliveries.listDeliveryAttempts(this.db, deliveryId);
  }
  async replayDelivery(id: string, now: number): Promise<boolean> {
    return deliveries.replayDelivery(this.db, id, now);
  }
  async replayFailedDeliveries(opts: { accountId?: string; since: number; now: number }): Promise<number> {
    return deliveries.replayFailedDeliveries(this.db, opts);
  }

  // files --------------------------------------------------------------------------------------

  async putFileRecord(f: Omit<FileRecord, "deletedAt">): Promise<FileRecord> {
    return files.putFileRecord(this.db, f);
  }
  async getFileByUrlPath(urlPath: string): Promise<FileRecord | null> {
    return files.getFileByUrlPath(this.db, urlPath);
  }
  async listExpiredFiles(now: number, limit: number): Promise<FileRecord[]> {
    return files.listExpiredFiles(this.db, now, limit);
  }
  async markFileDeleted(id: string, now: number): Promise<void> {
    files.markFileDeleted(this.db, id, now);
  }
  async listFiles(opts: { accountId?: string; kind?: FileKind; limit?: number }): Promise<FileRecord[]> {
    return files.listFiles(this.db, opts);
  }

  // switches -----------------------------------------------------------------------------------

  async getSwitches(): Promise<Switches> {
    return switches.getSwitches(this.db);
  }
  async setMaintenance(on: boolean): Promise<void> {
    switches.setMaintenance(this.db, on);
  }
  async setModelEnabled(model: string, enabled: boolean): Promise<void> {
    switches.setModelEnabled(this.db, model, enabled);
  }
}
