import { newTaskRecord, type TaskRecord, type TaskState } from "../../domain/types.js";
import { newId } from "../../ids.js";
import type { CreateTaskCommand, CreateTaskOutcome, UsageWindow } from "../store.js";
import { Rollback, type PgDb, type Sql } from "./db.js";
import { toTask, type TaskRow } from "./rows.js";

// Task creation (idempotency, usage caps, credit hold) and task reads.
//
// Lock order inside createTask: api key row (only with caps) → idempotency row → account row. The
// account row is the hottest one (every create of the account, claims, settlement), so it is taken
// last, by the conditional debit, and held only until COMMIT.

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export async function createTask(db: PgDb, cmd: CreateTaskCommand): Promise<CreateTaskOutcome> {
  const t = cmd.task;
  return db.tx<CreateTaskOutcome>(async (sql) => {
    const caps = activeCaps(cmd);
    // Caps read usage then insert: without this lock two creates on one key could both fit under
    // the cap. It serialises creates of the same key only while caps are on.
    if (caps.length) await sql.run("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE", [t.keyId]);

    // Idempotency first: a replay answers with the original task even if credits ran out since.
    if (cmd.idempotency) {
      const early = await claimIdempotencyKey(sql, cmd.idempotency, t.accountId, t.id, t.createTime);
      if (early) throw new Rollback(early);
    }
    for (const [window, cap, since] of caps) {
      // Rollback also undoes the idempotency row written above.
      if ((await keyUsage(sql, t.keyId, since)) + t.price > cap)
        throw new Rollback<CreateTaskOutcome>({ kind: "cap_exceeded", window });
    }

    const held = cmd.holdCredits && t.price > 0 ? t.price : 0;
    await sql.run(
      `INSERT INTO tasks (id, account_id, key_id, model, state, param, input, callback_url, price, held_credits,
                          create_time, update_time, deadline, attempts, cancel_requested, consumed_credits, run_after)
       VALUES ($1, $2, $3, $4, 'waiting', $5, $6, $7, $8, $9, $10, $10, $11, 0, false, 0, $10)`,
      [
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
        t.deadline,
      ],
    );
    if (held > 0) {
      await sql.run(
        "INSERT INTO ledger (id, account_id, task_id, kind, amount, note, created_at) VALUES ($1, $2, $3, 'hold', $4, NULL, $5)",
        [newId("led"), t.accountId, t.id, -held, t.createTime],
      );
      // Conditional debit: the balance check and the hold are one statement. A concurrent create
      // waits for the row lock and re-checks the condition against the committed balance, so no two
      // creates can spend the same credits. Zero rows = not enough: undo the inserts above.
      const changed = await sql.run("UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1", [
        held,
        t.accountId,
      ]);
      if (changed === 0) throw new Rollback<CreateTaskOutcome>({ kind: "insufficient_credits" });
    }
    return { kind: "created", task: newTaskRecord(t) };
  });
}

/** The windows with a cap set, in checking order (hourly, daily, total), with their start. */
function activeCaps(cmd: CreateTaskCommand): [UsageWindow, number, number | null][] {
  const caps = cmd.caps;
  if (!caps) return [];
  const now = cmd.task.createTime;
  const windows: [UsageWindow, number | null | undefined, number | null][] = [
    ["hourly", caps.hourly, now - HOUR_MS],
    ["daily", caps.daily, now - DAY_MS],
    ["total", caps.total, null],
  ];
  return windows.filter((w): w is [UsageWindow, number, number | null] => w[1] !== null && w[1] !== undefined);
}

/**
 * Inserts the (account, key) row, relying on the primary key rather than a prior lookup: a
 * concurrent create with the same key waits on the unique index until the first commits (then sees
 * its row) or rolls back (then inserts). Returns an outcome when the create must stop here
 * (replay or conflict), or null to carry on.
 */
async function claimIdempotencyKey(
  sql: Sql,
  idem: NonNullable<CreateTaskCommand["idempotency"]>,
  accountId: string,
  taskId: string,
  now: number,
): Promise<CreateTaskOutcome | null> {
  // Twice at most: the row we conflicted with may be purged before we read it.
  for (let i = 0; i < 2; i++) {
    const inserted = await sql.one(
      `INSERT INTO idempotency_keys (account_id, key, body_hash, task_id, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (account_id, key) DO NOTHING RETURNING 1`,
      [accountId, idem.key, idem.bodyHash, taskId, idem.expiresAt],
    );
    if (inserted) return null;
    const existing = await sql.one<{ body_hash: string; task_id: string; expires_at: number }>(
      "SELECT body_hash, task_id, expires_at FROM idempotency_keys WHERE account_id = $1 AND key = $2 FOR UPDATE",
      [accountId, idem.key],
    );
    if (!existing) continue;
    if (existing.expires_at <= now) {
      // An expired entry no longer protects anything: take the key over for this request.
      await sql.run(
        "UPDATE idempotency_keys SET body_hash = $1, task_id = $2, expires_at = $3 WHERE account_id = $4 AND key = $5",
        [idem.bodyHash, taskId, idem.expiresAt, accountId, idem.key],
      );
      return null;
    }
    return existing.body_hash === idem.bodyHash
      ? { kind: "replayed", taskId: existing.task_id }
      : { kind: "idempotency_conflict" };
  }
  throw new Error(`idempotency key ${idem.key}: row vanished twice while being read`);
}

/**
 * When the oldest counted tasks of a key have left the rolling window far enough for `price` to
 * fit under `cap` (Retry-After of a refused create), or null when it never will.
 */
export async function usageFreedAt(
  sql: Sql,
  opts: { keyId: string; window: "hourly" | "daily"; cap: number; price: number; now: number },
): Promise<number | null> {
  const length = opts.window === "hourly" ? HOUR_MS : DAY_MS;
  const since = opts.now - length;
  const rows = await sql.rows<{ create_time: number; price: number }>(
    "SELECT create_time, price FROM tasks WHERE key_id = $1 AND create_time > $2 AND state <> 'fail' ORDER BY create_time, id",
    [opts.keyId, since],
  );
  const need = rows.reduce((sum, r) => sum + r.price, 0) + opts.price - opts.cap;
  if (need <= 0) return opts.now;
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
async function keyUsage(sql: Sql, keyId: string, since: number | null): Promise<number> {
  const row =
    since === null
      ? await sql.one<{ used: number | null }>("SELECT SUM(price) AS used FROM tasks WHERE key_id = $1 AND state <> 'fail'", [
          keyId,
        ])
      : await sql.one<{ used: number | null }>(
          "SELECT SUM(price) AS used FROM tasks WHERE key_id = $1 AND create_time > $2 AND state <> 'fail'",
          [keyId, since],
        );
  return row?.used ?? 0;
}

export async function getTaskRow(sql: Sql, id: string, lock = false): Promise<TaskRow | undefined> {
  return sql.one<TaskRow>(`SELECT * FROM tasks WHERE id = $1${lock ? " FOR UPDATE" : ""}`, [id]);
}

export async function getTask(sql: Sql, id: string, accountId?: string): Promise<TaskRecord | null> {
  const row = await getTaskRow(sql, id);
  if (!row || (accountId !== undefined && row.account_id !== accountId)) return null;
  return toTask(row);
}

export async function listTasks(
  sql: Sql,
  opts: { accountId: string; state?: TaskState; model?: string; offset: number; limit: number },
): Promise<{ total: number; tasks: TaskRecord[] }> {
  // Fixed fragments only; values are bound.
  const params: unknown[] = [opts.accountId];
  const where = ["account_id = $1"];
  if (opts.state !== undefined) params.push(opts.state), where.push(`state = $${params.length}`);
  if (opts.model !== undefined) params.push(opts.model), where.push(`model = $${params.length}`);
  const filter = where.join(" AND ");
  const total = (await sql.one<{ n: number }>(`SELECT COUNT(*) AS n FROM tasks WHERE ${filter}`, params))!.n;
  const rows = await sql.rows<TaskRow>(
    `SELECT * FROM tasks WHERE ${filter} ORDER BY create_time DESC, id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, opts.limit, opts.offset],
  );
  return { total, tasks: rows.map(toTask) };
}

export async function queuePosition(sql: Sql, taskId: string): Promise<number | null> {
  const row = await getTaskRow(sql, taskId);
  if (!row || (row.state !== "waiting" && row.state !== "queuing")) return null;
  return (await sql.one<{ n: number }>(
    `SELECT COUNT(*) AS n FROM tasks
     WHERE state IN ('waiting', 'queuing') AND (create_time < $1 OR (create_time = $1 AND id < $2))`,
    [row.create_time, row.id],
  ))!.n;
}

export async function listOverdueTasks(sql: Sql, now: number, limit: number): Promise<TaskRecord[]> {
  const rows = await sql.rows<TaskRow>(
    `SELECT * FROM tasks WHERE state IN ('waiting', 'queuing', 'generating') AND deadline <= $1
     ORDER BY create_time, id LIMIT $2`,
    [now, limit],
  );
  return rows.map(toTask);
}

const ALL_STATES: readonly TaskState[] = ["waiting", "queuing", "generating", "success", "fail"];

export async function countTasks(sql: Sql, opts: { accountId?: string } = {}): Promise<Record<string, number>> {
  const rows =
    opts.accountId === undefined
      ? await sql.rows<{ state: string; n: number }>("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state")
      : await sql.rows<{ state: string; n: number }>(
          "SELECT state, COUNT(*) AS n FROM tasks WHERE account_id = $1 GROUP BY state",
          [opts.accountId],
        );
  const counts: Record<string, number> = Object.fromEntries(ALL_STATES.map((s) => [s, 0]));
  for (const r of rows) counts[r.state] = r.n;
  return counts;
}

export async function purgeIdempotencyKeys(sql: Sql, now: number): Promise<number> {
  return sql.run("DELETE FROM idempotency_keys WHERE expires_at <= $1", [now]);
}
