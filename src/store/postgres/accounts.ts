import type { Account, ApiKey, KeyLimits, LedgerEntry, LedgerKind } from "../../domain/types.js";
import { newId, randomString } from "../../ids.js";
import type { AccountPatch, ApiKeyWithAccount, NewAccount, WebhookSecrets } from "../store.js";
import type { PgDb, Sql } from "./db.js";
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

export async function createAccount(db: PgDb, input: NewAccount, now: number): Promise<Account> {
  const id = newId("acc");
  return db.tx(async (sql) => {
    const row = (await sql.one<AccountRow>(
      `INSERT INTO accounts (id, name, token, unmetered, max_running, disabled, balance, created_at, last_claim_at)
       VALUES ($1, $2, $3, $4, $5, false, 0, $6, 0) RETURNING *`,
      [id, input.name, randomString(24), input.unmetered ?? false, input.maxRunning ?? null, now],
    ))!;
    if (input.initialCredits) {
      await appendLedger(sql, {
        accountId: id,
        taskId: null,
        kind: "grant",
        amount: input.initialCredits,
        note: "initial credits",
        now,
      });
    }
    return toAccount(row);
  });
}

export async function getAccount(sql: Sql, id: string): Promise<Account | null> {
  const row = await sql.one<AccountRow>("SELECT * FROM accounts WHERE id = $1", [id]);
  return row ? toAccount(row) : null;
}

export async function findAccountByToken(sql: Sql, token: string): Promise<Account | null> {
  const row = await sql.one<AccountRow>("SELECT * FROM accounts WHERE token = $1", [token]);
  return row ? toAccount(row) : null;
}

export async function listAccounts(sql: Sql): Promise<Account[]> {
  return (await sql.rows<AccountRow>("SELECT * FROM accounts ORDER BY created_at, id")).map(toAccount);
}

export async function updateAccount(sql: Sql, id: string, patch: AccountPatch): Promise<Account | null> {
  // Fixed column names only; values are bound. Absent fields keep their value.
  const sets: string[] = [];
  const params: unknown[] = [];
  const set = (column: string, value: unknown) => {
    params.push(value);
    sets.push(`${column} = $${params.length}`);
  };
  if (patch.name !== undefined) set("name", patch.name);
  if (patch.unmetered !== undefined) set("unmetered", patch.unmetered);
  if (patch.maxRunning !== undefined) set("max_running", patch.maxRunning);
  if (patch.disabled !== undefined) set("disabled", patch.disabled);
  if (patch.callbackPolicy !== undefined)
    set("callback_policy", patch.callbackPolicy === null ? null : JSON.stringify(patch.callbackPolicy));
  if (!sets.length) return getAccount(sql, id);
  params.push(id);
  const row = await sql.one<AccountRow>(
    `UPDATE accounts SET ${sets.join(", ")} WHERE id = $${params.length} RETURNING *`,
    params,
  );
  return row ? toAccount(row) : null;
}

// ---------------------------------------------------------------------------------------------
// API keys

export async function createApiKey(
  sql: Sql,
  input: { accountId: string; name: string; hash: string; prefix: string; limits?: KeyLimits },
  now: number,
): Promise<ApiKey> {
  const row = (await sql.one<ApiKeyRow>(
    `INSERT INTO api_keys (id, account_id, name, prefix, hash, limits, created_at, revoked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) RETURNING *`,
    [newId("key"), input.accountId, input.name, input.prefix, input.hash, JSON.stringify(input.limits ?? {}), now],
  ))!;
  return toApiKey(row);
}

export async function findApiKeyByHash(sql: Sql, hash: string): Promise<ApiKeyWithAccount | null> {
  // One round trip: every authenticated request comes through here.
  const row = await sql.one<ApiKeyRow & AccountColumns>(
    `SELECT k.*, a.name AS a_name, a.token AS a_token, a.unmetered AS a_unmetered, a.max_running AS a_max_running,
            a.disabled AS a_disabled, a.created_at AS a_created_at, a.callback_policy AS a_callback_policy
     FROM api_keys k JOIN accounts a ON a.id = k.account_id
     WHERE k.hash = $1 AND k.revoked_at IS NULL`,
    [hash],
  );
  if (!row) return null;
  return { key: toApiKey(row), account: toAccount(accountOf(row)) };
}

export async function getApiKey(sql: Sql, id: string): Promise<ApiKey | null> {
  const row = await sql.one<ApiKeyRow>("SELECT * FROM api_keys WHERE id = $1", [id]);
  return row ? toApiKey(row) : null;
}

export async function listApiKeys(sql: Sql, accountId?: string): Promise<ApiKey[]> {
  const rows =
    accountId === undefined
      ? await sql.rows<ApiKeyRow>("SELECT * FROM api_keys ORDER BY created_at, id")
      : await sql.rows<ApiKeyRow>("SELECT * FROM api_keys WHERE account_id = $1 ORDER BY created_at, id", [accountId]);
  return rows.map(toApiKey);
}

export async function revokeApiKey(sql: Sql, id: string, now: number): Promise<boolean> {
  return (await sql.run("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [now, id])) > 0;
}

export async function updateApiKeyLimits(sql: Sql, id: string, limits: KeyLimits): Promise<ApiKey | null> {
  const row = await sql.one<ApiKeyRow>("UPDATE api_keys SET limits = $1 WHERE id = $2 RETURNING *", [JSON.stringify(limits), id]);
  return row ? toApiKey(row) : null;
}

// ---------------------------------------------------------------------------------------------
// ledger

/**
 * Appends one ledger entry and moves the cached balance by the same amount. Call inside a
 * transaction so both writes commit together (accounts.balance = SUM(ledger.amount) always).
 */
export async function appendLedger(
  sql: Sql,
  e: { accountId: string; taskId: string | null; kind: LedgerKind; amount: number; note: string | null; now: number },
): Promise<LedgerEntry> {
  const id = newId("led");
  await sql.run(
    "INSERT INTO ledger (id, account_id, task_id, kind, amount, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [id, e.accountId, e.taskId, e.kind, e.amount, e.note, e.now],
  );
  if (e.amount !== 0) await sql.run("UPDATE accounts SET balance = balance + $1 WHERE id = $2", [e.amount, e.accountId]);
  return { id, accountId: e.accountId, taskId: e.taskId, kind: e.kind, amount: e.amount, note: e.note, createdAt: e.now };
}

export async function grantCredits(
  db: PgDb,
  accountId: string,
  amount: number,
  note: string | null,
  now: number,
): Promise<LedgerEntry> {
  return db.tx(async (sql) => {
    if (!(await sql.one("SELECT 1 FROM accounts WHERE id = $1", [accountId]))) throw new Error(`unknown account ${accountId}`);
    return appendLedger(sql, { accountId, taskId: null, kind: "grant", amount, note, now });
  });
}

export async function getBalance(sql: Sql, accountId: string): Promise<number> {
  return (await sql.one<{ balance: number }>("SELECT balance FROM accounts WHERE id = $1", [accountId]))?.balance ?? 0;
}

export async function listLedger(
  sql: Sql,
  accountId: string,
  opts: { limit?: number; taskId?: string } = {},
): Promise<LedgerEntry[]> {
  const limit = opts.limit ?? 100;
  const rows =
    opts.taskId === undefined
      ? await sql.rows<LedgerRow>("SELECT * FROM ledger WHERE account_id = $1 ORDER BY created_at DESC, seq DESC LIMIT $2", [
          accountId,
          limit,
        ])
      : await sql.rows<LedgerRow>(
          "SELECT * FROM ledger WHERE account_id = $1 AND task_id = $2 ORDER BY created_at DESC, seq DESC LIMIT $3",
          [accountId, opts.taskId, limit],
        );
  return rows.map(toLedgerEntry);
}

// ---------------------------------------------------------------------------------------------
// webhook secrets

export async function getWebhookSecrets(sql: Sql, accountId: string, now: number): Promise<WebhookSecrets> {
  const hmac = await sql.one<{ webhook_hmac_key: string | null }>("SELECT webhook_hmac_key FROM accounts WHERE id = $1", [
    accountId,
  ]);
  const secrets = await sql.rows<{ secret: string }>(
    `SELECT secret FROM webhook_secrets WHERE account_id = $1 AND (expires_at IS NULL OR expires_at > $2)
     ORDER BY created_at DESC, seq DESC`,
    [accountId, now],
  );
  return { hmacKey: hmac?.webhook_hmac_key ?? null, signingSecrets: secrets.map((s) => s.secret) };
}

export async function setWebhookHmacKey(sql: Sql, accountId: string, hmacKey: string | null): Promise<void> {
  await sql.run("UPDATE accounts SET webhook_hmac_key = $1 WHERE id = $2", [hmacKey, accountId]);
}

export async function rotateSigningSecret(
  db: PgDb,
  accountId: string,
  secret: string,
  overlapUntil: number,
  now: number,
): Promise<void> {
  await db.tx(async (sql) => {
    // Serialise rotations of one account, so two at once cannot both leave their secret unexpired.
    await sql.run("SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE", [accountId]);
    // Secrets still signing stop at overlapUntil (never extended: an earlier expiry stays).
    await sql.run(
      `UPDATE webhook_secrets SET expires_at = $1
       WHERE account_id = $2 AND (expires_at IS NULL OR expires_at > $1)`,
      [overlapUntil, accountId],
    );
    await sql.run("INSERT INTO webhook_secrets (account_id, secret, created_at, expires_at) VALUES ($1, $2, $3, NULL)", [
      accountId,
      secret,
      now,
    ]);
  });
}
