import type { Account, ApiKey, KeyLimits, LedgerEntry, LedgerKind } from "../../domain/types.js";
import { newId, randomString } from "../../ids.js";
import type { AccountPatch, ApiKeyWithAccount, NewAccount, WebhookSecrets } from "../store.js";
import { bool, type SqliteDb } from "./db.js";
import {
  accountOf,
  type AccountColumns,
  toAccount,
  toApiKey,
  toLedgerEntry,
  type AccountRow,
  type ApiKeyRow,
  type LedgerRow,
} from "./rows.js";

// Accounts, API keys, the credit ledger and webhook secrets.

export function createAccount(db: SqliteDb, input: NewAccount, now: number): Account {
  const id = newId("acc");
  return db.immediate(() => {
    db.run(
      `INSERT INTO accounts (id, name, token, unmetered, max_running, disabled, balance, created_at, last_claim_at)
       VALUES (?, ?, ?, ?, ?, 0, 0, ?, 0)`,
      id,
      input.name,
      randomString(24),
      bool(input.unmetered ?? false),
      input.maxRunning ?? null,
      now,
    );
    if (input.initialCredits)
      appendLedger(db, {
        accountId: id,
        taskId: null,
        kind: "grant",
        amount: input.initialCredits,
        note: "initial credits",
        now,
      });
    return getAccount(db, id)!;
  });
}

export function getAccount(db: SqliteDb, id: string): Account | null {
  const row = db.get<AccountRow>("SELECT * FROM accounts WHERE id = ?", id);
  return row ? toAccount(row) : null;
}

export function findAccountByToken(db: SqliteDb, token: string): Account | null {
  const row = db.get<AccountRow>("SELECT * FROM accounts WHERE token = ?", token);
  return row ? toAccount(row) : null;
}

export function listAccounts(db: SqliteDb): Account[] {
  return db.all<AccountRow>("SELECT * FROM accounts ORDER BY created_at, id").map(toAccount);
}

export function updateAccount(db: SqliteDb, id: string, patch: AccountPatch): Account | null {
  // Fixed column names only; values are bound. Absent fields keep their value.
  const sets: string[] = [];
  const params: unknown[] = [];
  if (patch.name !== undefined) sets.push("name = ?"), params.push(patch.name);
  if (patch.unmetered !== undefined) sets.push("unmetered = ?"), params.push(bool(patch.unmetered));
  if (patch.maxRunning !== undefined) sets.push("max_running = ?"), params.push(patch.maxRunning);
  if (patch.disabled !== undefined) sets.push("disabled = ?"), params.push(bool(patch.disabled));
  if (patch.callbackPolicy !== undefined) {
    sets.push("callback_policy = ?");
    params.push(patch.callbackPolicy === null ? null : JSON.stringify(patch.callbackPolicy));
  }
  if (sets.length) db.run(`UPDATE accounts SET ${sets.join(", ")} WHERE id = ?`, ...params, id);
  return getAccount(db, id);
}

// ---------------------------------------------------------------------------------------------
// API keys

export function createApiKey(
  db: SqliteDb,
  input: { accountId: string; name: string; hash: string; prefix: string; limits?: KeyLimits },
  now: number,
): ApiKey {
  const id = newId("key");
  db.run(
    `INSERT INTO api_keys (id, account_id, name, prefix, hash, limits, created_at, revoked_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
    id,
    input.accountId,
    input.name,
    input.prefix,
    input.hash,
    JSON.stringify(input.limits ?? {}),
    now,
  );
  return getApiKey(db, id)!;
}

export function findApiKeyByHash(db: SqliteDb, hash: string): ApiKeyWithAccount | null {
  // One round trip: every authenticated request comes through here.
  const row = db.get<ApiKeyRow & AccountColumns>(
    `SELECT k.*, a.name AS a_name, a.token AS a_token, a.unmetered AS a_unmetered, a.max_running AS a_max_running,
            a.disabled AS a_disabled, a.created_at AS a_created_at, a.callback_policy AS a_callback_policy
     FROM api_keys k JOIN accounts a ON a.id = k.account_id
     WHERE k.hash = ? AND k.revoked_at IS NULL`,
    hash,
  );
  if (!row) return null;
  return { key: toApiKey(row), account: toAccount(accountOf(row)) };
}

export function getApiKey(db: SqliteDb, id: string): ApiKey | null {
  const row = db.get<ApiKeyRow>("SELECT * FROM api_keys WHERE id = ?", id);
  return row ? toApiKey(row) : null;
}

export function listApiKeys(db: SqliteDb, accountId?: string): ApiKey[] {
  const rows =
    accountId === undefined
      ? db.all<ApiKeyRow>("SELECT * FROM api_keys ORDER BY created_at, id")
      : db.all<ApiKeyRow>("SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at, id", accountId);
  return rows.map(toApiKey);
}

export function revokeApiKey(db: SqliteDb, id: string, now: number): boolean {
  return db.run("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", now, id) > 0;
}

export function updateApiKeyLimits(db: SqliteDb, id: string, limits: KeyLimits): ApiKey | null {
  db.run("UPDATE api_keys SET limits = ? WHERE id = ?", JSON.stringify(limits), id);
  return getApiKey(db, id);
}

// ---------------------------------------------------------------------------------------------
// ledger

/**
 * Appends one ledger entry and moves the cached balance by the same amount. Call inside a
 * transaction so both writes commit together (accounts.balance = SUM(ledger.amount) always).
 */
export function appendLedger(
  db: SqliteDb,
  e: { accountId: string; taskId: string | null; kind: LedgerKind; amount: number; note: string | null; now: number },
): LedgerEntry {
  const id = newId("led");
  db.run(
    "INSERT INTO ledger (id, account_id, task_id, kind, amount, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    id,
    e.accountId,
    e.taskId,
    e.kind,
    e.amount,
    e.note,
    e.now,
  );
  if (e.amount !== 0) db.run("UPDATE accounts SET balance = balance + ? WHERE id = ?", e.amount, e.accountId);
  return { id, accountId: e.accountId, taskId: e.taskId, kind: e.kind, amount: e.amount, note: e.note, createdAt: e.now };
}

export function grantCredits(db: SqliteDb, accountId: string, amount: number, note: string | null, now: number): LedgerEntry {
  return db.immediate(() => {
    if (!db.get("SELECT 1 FROM accounts WHERE id = ?", accountId)) throw new Error(`unknown account ${accountId}`);
    return appendLedger(db, { accountId, taskId: null, kind: "grant", amount, note, now });
  });
}

export function getBalance(db: SqliteDb, accountId: string): number {
  return db.get<{ balance: number }>("SELECT balance FROM accounts WHERE id = ?", accountId)?.balance ?? 0;
}

export function listLedger(db: SqliteDb, accountId: string, opts: { limit?: number; taskId?: string } = {}): LedgerEntry[] {
  const limit = opts.limit ?? 100;
  const rows =
    opts.taskId === undefined
      ? db.all<LedgerRow>(
          "SELECT * FROM ledger WHERE account_id = ? ORDER BY created_at DESC, seq DESC LIMIT ?",
          accountId,
          limit,
        )
      : db.all<LedgerRow>(
          "SELECT * FROM ledger WHERE account_id = ? AND task_id = ? ORDER BY created_at DESC, seq DESC LIMIT ?",
          accountId,
          opts.taskId,
          limit,
        );
  return rows.map(toLedgerEntry);
}

// ---------------------------------------------------------------------------------------------
// webhook secrets

export function getWebhookSecrets(db: SqliteDb, accountId: string, now: number): WebhookSecrets {
  const hmac = db.get<{ webhook_hmac_key: string | null }>("SELECT webhook_hmac_key FROM accounts WHERE id = ?", accountId);
  const secrets = db.all<{ secret: string }>(
    `SELECT secret FROM webhook_secrets WHERE account_id = ? AND (expires_at IS NULL OR expires_at > ?)
     ORDER BY created_at DESC, seq DESC`,
    accountId,
    now,
  );
  return { hmacKey: hmac?.webhook_hmac_key ?? null, signingSecrets: secrets.map((s) => s.secret) };
}

export function setWebhookHmacKey(db: SqliteDb, accountId: string, hmacKey: string | null): void {
  db.run("UPDATE accounts SET webhook_hmac_key = ? WHERE id = ?", hmacKey, accountId);
}

export function rotateSigningSecret(db: SqliteDb, accountId: string, secret: string, overlapUntil: number, now: number): void {
  db.immediate(() => {
    // Secrets still signing stop at overlapUntil (never extended: an earlier expiry stays).
    db.run(
      `UPDATE webhook_secrets SET expires_at = ?
       WHERE account_id = ? AND (expires_at IS NULL OR expires_at > ?)`,
      overlapUntil,
      accountId,
      overlapUntil,
    );
    db.run(
      "INSERT INTO webhook_secrets (account_id, secret, created_at, expires_at) VALUES (?, ?, ?, NULL)",
      accountId,
      secret,
      now,
    );
  });
}
