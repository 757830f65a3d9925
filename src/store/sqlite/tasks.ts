import { newTaskRecord, type TaskRecord, type TaskState } from "../../domain/types.js";
import type { CreateTaskCommand, CreateTaskOutcome, UsageWindow } from "../store.js";
import { newId } from "../../ids.js";
import { Rollback, type SqliteDb } from "./db.js";
import { toTask, type TaskRow } from "./rows.js";

// Task creation (idempotency, usage caps, credit hold) and task reads.

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Runs inside a group-commit job (SqliteDb.batch), which gives it its own savepoint: a refusal
 * throws a Rollback that undoes its writes (e.g. an idempotency row) without a second savepoint.
 */
export function createTask(db: SqliteDb, cmd: CreateTaskCommand): CreateTaskOutcome {
  const t = cmd.task;
  {
    // Idempotency first: a replay answers with the original task even if credits ran out since.
    if (cmd.idempotency) {
      const early = claimIdempotencyKey(db, cmd.idempotency, t.accountId, t.id, t.createTime);
      if (early) return early;
    }
    const window = capExceeded(db, cmd, t.keyId, t.price, t.createTime);
    // Rollback also undoes the idempotency row written above.
    if (window) throw new Rollback<CreateTaskOutcome>({ kind: "cap_exceeded", window });

    let held = 0;
    if (cmd.holdCredits && t.price > 0) {
      // Conditional debit: the balance check and the hold are one statement, so no two creates
      // can both spend the same credits.
      const changed = db.run(
        "UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?",
        t.price,
        t.accountId,
        t.price,
      );
      if (changed === 0) throw new Rollback<CreateTaskOutcome>({ kind: "insufficient_credits" });
      held = t.price;
    }
    db.run(
      `INSERT INTO tasks (id, account_id, key_id, model, state, param, input, callback_url, price, held_credits,
                          create_time, update_time, deadline, attempts, cancel_requested, consumed_credits, run_after)
       VALUES (?, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?)`,
      t.id,
      t.accountId,
      t.keyId,
      t.model,
      t.param,
      JSON.stringify(t.input),
      t.callbackUrl,
      t.price,
      held,
      t.createTime,
      t.createTime,
      t.deadline,
      t.createTime,
    );
    if (held > 0) {
      // The balance already moved in the conditional update; only the ledger row is added here.
      db.run(
        "INSERT INTO ledger (id, account_id, task_id, kind, amount, note, created_at) VALUES (?, ?, ?, 'hold', ?, NULL, ?)",
        newId("led"),
        t.accountId,
        t.id,
        -held,
        t.createTime,
      );
    }
    return { kind: "created", task: newTaskRecord(t) };
  }
}

/**
 * Inserts the (account, key) row, relying on the primary key rather than a prior lookup. Returns
 * an outcome when the create must stop here (replay or conflict), or null to carry on.
 */
function claimIdempotencyKey(
  db: SqliteDb,
  idem: NonNullable<CreateTaskCommand["idempotency"]>,
  accountId: string,
  taskId: string,
  now: number,
): CreateTaskOutcome | null {
  const inserted = db.run(
    `INSERT INTO idempotency_keys (account_id, key, body_hash, task_id, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (account_id, key) DO NOTHING`,
    accountId,
    idem.key,
    idem.bodyHash,
    taskId,
    idem.expiresAt,
  );
  if (inserted) return null;
  const existing = db.get<{ body_hash: string; task_id: string; expires_at: number }>(
    "SELECT body_hash, task_id, expires_at FROM idempotency_keys WHERE account_id = ? AND key = ?",
    accountId,
    idem.key,
  )!;
  if (existing.expires_at <= now) {
    // An expired entry no longer protects anything: take the key over for this request.
    db.run(
      "UPDATE idempotency_keys SET body_hash = ?, task_id = ?, expires_at = ? WHERE account_id = ? AND key = ?",
      idem.bodyHash,
      taskId,
      idem.expiresAt,
      accountId,
      idem.key,
    );
    return null;
  }
  return existing.body_hash === idem.bodyHash ? { kind: "replayed", taskId: existing.task_id } : { kind: "idempotency_conflict" };
}

/** The first window (hourly, daily, total) whose cap the new price would exceed, or null. */
function capExceeded(db: SqliteDb, cmd: CreateTaskCommand, keyId: string, price: number, now: number): UsageWindow | null {
  const caps = cmd.caps;
  if (!caps) return null;
  const windows: [UsageWindow, number | null | undefined, number | null][] = [
    ["hourly", caps.hourly, now - HOUR_MS],
    ["daily", caps.daily, now - DAY_MS],
    ["total", caps.total, null],
  ];
  for (const [window, cap, since] of windows) {
    if (cap === null || cap === undefined) continue;
    if (keyUsage(db, keyId, since) + price > cap) return window;
  }
  return null;
}

/**
 * When the oldest counted tasks of a key have left the rolling window far enough for `price` to
 * fit under `cap` (Retry-After of a 433), or null when it never will.
 */
export function usageFreedAt(
  db: SqliteDb,
  opts: { keyId: string; window: "hourly" | "daily"; cap: number; price: number; now: number },
): number | null {
  const length = opts.window === "hourly" ? HOUR_MS : DAY_MS;
  const since = opts.now - length;
  const need = keyUsage(db, opts.keyId, since) + opts.price - opts.cap;
  if (need <= 0) return opts.now;
  const rows = db.all<{ create_time: number; price: number }>(
    "SELECT create_time, price FROM tasks WHERE key_id = ? AND create_time > ? AND state <> 'fail' ORDER BY create_time",
    opts.keyId,
    since,
  );
  let freed = 0;
  for (const r of rows) {
    freed += r.price;
    // the window is (now - length, now]: a task created at c has left it at c + length
    if (freed >= need) return r.create_time + length;
  }
  return null;
}

/**
 * Credits used by a key: prices of its tasks that did not fail, created after `since` (the window
 * is (now - length, now], so a task exactly one hour old has left the hourly window).
 */
export function keyUsage(db: SqliteDb, keyId: string, since: number | null): number {
  const row =
    since === null
      ? db.get<{ used: number | null }>("SELECT SUM(price) AS used FROM tasks WHERE key_id = ? AND state <> 'fail'", keyId)
      : db.get<{ used: number | null }>(
          "SELECT SUM(price) AS used FROM tasks WHERE key_id = ? AND create_time > ? AND state <> 'fail'",
          keyId,
          since,
        );
  return row?.used ?? 0;
}

export function getTaskRow(db: SqliteDb, id: string): TaskRow | undefined {
  return db.get<TaskRow>("SELECT * FROM tasks WHERE id = ?", id);
}

export function getTask(db: SqliteDb, id: string, accountId?: string): TaskRecord | null {
  const row = getTaskRow(db, id);
  if (!row || (accountId !== undefined && row.account_id !== accountId)) return null;
  return toTask(row);
}

export function listTasks(
  db: SqliteDb,
  opts: { accountId: string; state?: TaskState; model?: string; offset: number; limit: number },
): { total: number; tasks: TaskRecord[] } {
  // Fixed fragments only; values are bound.
  const where = ["account_id = ?"];
  const params: unknown[] = [opts.accountId];
  if (opts.state !== undefined) where.push("state = ?"), params.push(opts.state);
  if (opts.model !== undefined) where.push("model = ?"), params.push(opts.model);
  const filter = where.join(" AND ");
  const total = db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM tasks WHERE ${filter}`, ...params)!.n;
  const rows = db.all<TaskRow>(
    `SELECT * FROM tasks WHERE ${filter} ORDER BY create_time DESC, id DESC LIMIT ? OFFSET ?`,
    ...params,
    opts.limit,
    opts.offset,
  );
  return { total, tasks: rows.map(toTask) };
}

export function queuePosition(db: SqliteDb, taskId: string): number | null {
  const row = getTaskRow(db, taskId);
  if (!row || (row.state !== "waiting" && row.state !== "queuing")) return null;
  return db.get<{ n: number }>(
    `SELECT COUNT(*) AS n FROM tasks
     WHERE state IN ('waiting', 'queuing') AND (create_time < ? OR (create_time = ? AND id < ?))`,
    row.create_time,
    row.create_time,
    row.id,
  )!.n;
}

export function listOverdueTasks(db: SqliteDb, now: number, limit: number): TaskRecord[] {
  return db
    .all<TaskRow>(
      `SELECT * FROM tasks WHERE state IN ('waiting', 'queuing', 'generating') AND deadline <= ?
       ORDER BY create_time, id LIMIT ?`,
      now,
      limit,
    )
    .map(toTask);
}

const ALL_STATES: readonly TaskState[] = ["waiting", "queuing", "generating", "success", "fail"];

export function countTasks(db: SqliteDb, opts: { accountId?: string } = {}): Record<string, number> {
  const rows =
    opts.accountId === undefined
      ? db.all<{ state: string; n: number }>("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state")
      : db.all<{ state: string; n: number }>(
          "SELECT state, COUNT(*) AS n FROM tasks WHERE account_id = ? GROUP BY state",
          opts.accountId,
        );
  const counts: Record<string, number> = Object.fromEntries(ALL_STATES.map((s) => [s, 0]));
  for (const r of rows) counts[r.state] = r.n;
  return counts;
}

export function purgeIdempotencyKeys(db: SqliteDb, now: number): number {
  return db.run("DELETE FROM idempotency_keys WHERE expires_at <= ?", now);
}
