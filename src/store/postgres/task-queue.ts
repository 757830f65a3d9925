import { FAIL_REASONS } from "../../errors.js";
import type { TaskRecord } from "../../domain/types.js";
import type { ClaimOptions, SettlementHook, Store } from "../store.js";
import { appendLedger, getBalance } from "./accounts.js";
import type { PgDb, Sql } from "./db.js";
import { insertDelivery } from "./deliveries.js";
import { toTask, type TaskRow } from "./rows.js";
import { getTaskRow } from "./tasks.js";

// The task queue: promotion, claiming under a lease, retries, settlement and cancel.
//
// A generating task "occupies a slot" while a worker holds a live lease on it, or while it waits
// for a retry (lease cleared by releaseForRetry). A generating task whose lease expired belongs to
// a worker that died; it is runnable again and does not count until re-claimed.
//
// Locking: whatever changes an account's running set (promotion, claim, settlement, cancel) first
// locks that account's row FOR NO KEY UPDATE, then task rows. One order everywhere means no
// deadlock; the account lock makes the cap counts exact across worker processes. NO KEY UPDATE
// (not FOR UPDATE) so that creates inserting tasks and ledger rows (foreign-key checks take KEY
// SHARE on the account) are not blocked by a claim.

/** Non-terminal states, as SQL. */
const OPEN = "('waiting', 'queuing', 'generating')";

/** Generating tasks holding a live lease: the ones a claim counts against the account's cap. */
const LIVE = (alias: string, now: string) =>
  `${alias}.state = 'generating' AND ${alias}.lease_owner IS NOT NULL AND ${alias}.lease_expires_at > ${now}`;

/** Runnable: queuing and due, or generating with no live lease and due (abandoned or retrying). */
const RUNNABLE = (now: string) => `((t.state = 'queuing' AND t.run_after <= ${now})
   OR (t.state = 'generating' AND (t.lease_owner IS NULL OR t.lease_expires_at <= ${now}) AND t.run_after <= ${now}))`;

/**
 * One short transaction per account with waiting tasks, so a promotion never holds several
 * accounts (and their claims) at once.
 */
export async function promoteWaitingTasks(db: PgDb, opts: { now: number; maxRunningPerAccount: number }): Promise<string[]> {
  const candidates = await db.sql.rows<{ account_id: string }>(
    "SELECT DISTINCT account_id FROM tasks WHERE state = 'waiting' ORDER BY account_id",
  );
  const moved: string[] = [];
  for (const { account_id: accountId } of candidates) {
    const ids = await db.tx(async (sql): Promise<string[]> => {
      const a = await sql.one<{ cap: number }>(
        "SELECT COALESCE(max_running, $2) AS cap FROM accounts WHERE id = $1 FOR NO KEY UPDATE",
        [accountId, opts.maxRunningPerAccount],
      );
      if (!a) return [];
      // Counted after the lock: every claim and settlement of this account has committed or waits.
      const busy = (await sql.one<{ n: number }>(
        `SELECT COUNT(*) AS n FROM tasks g WHERE g.account_id = $1
           AND (g.state = 'queuing' OR (g.state = 'generating' AND (g.lease_owner IS NULL OR g.lease_expires_at > $2)))`,
        [accountId, opts.now],
      ))!.n;
      const room = a.cap - busy;
      if (room <= 0) return [];
      const rows = await sql.rows<{ id: string }>(
        `WITH moved AS (
           UPDATE tasks SET state = 'queuing', update_time = $1
           WHERE id IN (SELECT id FROM tasks WHERE account_id = $2 AND state = 'waiting' ORDER BY create_time, id LIMIT $3)
           RETURNING id, create_time)
         SELECT id FROM moved ORDER BY create_time, id`,
        [opts.now, accountId, room],
      );
      return rows.map((r) => r.id);
    });
    moved.push(...ids);
  }
  return moved;
}

/**
 * Round-robin claim. The least recently served account with runnable work and room is locked
 * with SKIP LOCKED (another worker busy with that account makes this one move on to the next), its
 * running count is re-read under the lock (the first query's snapshot may predate a claim that
 * just committed), then its oldest runnable task is taken, again with SKIP LOCKED.
 *
 * When every candidate account is locked (workers outnumber accounts with work), the claim waits
 * once for the first of them instead of answering null: a null sends the worker to sleep for a
 * poll interval although work is there. It waits only while holding no other account lock, so two
 * claims can never wait on each other.
 */
export async function claimTask(db: PgDb, opts: ClaimOptions): Promise<TaskRecord | null> {
  const { now, workerId } = opts;
  return db.tx(async (sql) => {
    const passedOver: string[] = [];
    let waited = false;
    for (;;) {
      const pick = (lockMode: string) =>
        sql.one<{ id: string; cap: number }>(
          `SELECT a.id AS id, COALESCE(a.max_running, $2) AS cap FROM accounts a
           WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.account_id = a.id AND ${RUNNABLE("$1")})
             AND (SELECT COUNT(*) FROM tasks g WHERE g.account_id = a.id AND ${LIVE("g", "$1")}) < COALESCE(a.max_running, $2)
             AND a.id <> ALL ($3::text[])
           ORDER BY a.last_claim_at, a.id
           LIMIT 1
           FOR NO KEY UPDATE OF a${lockMode}`,
          [now, opts.maxRunningPerAccount, passedOver],
        );
      let account = await pick(" SKIP LOCKED");
      if (!account && !waited && passedOver.length === 0) {
        waited = true;
        account = await pick("");
      }
      if (!account) return null;
      const running = (await sql.one<{ n: number }>(
        `SELECT COUNT(*) AS n FROM tasks g WHERE g.account_id = $1 AND ${LIVE("g", "$2")}`,
        [account.id, now],
      ))!.n;
      const row =
        running < account.cap
          ? await sql.one<TaskRow>(
              `SELECT * FROM tasks t WHERE t.account_id = $1 AND ${RUNNABLE("$2")}
               ORDER BY t.create_time, t.id LIMIT 1 FOR UPDATE SKIP LOCKED`,
              [account.id, now],
            )
          : undefined;
      if (!row) {
        // Lost a race for this account since the first query: try the next one.
        passedOver.push(account.id);
        continue;
      }
      const leaseUntil = now + opts.leaseMs;
      // kie: updateTime changes only with the state, so a re-claim of a generating task keeps it.
      const updateTime = row.state === "generating" ? row.update_time : now;
      const generatingSince = row.generating_since ?? now;
      await sql.run(
        `UPDATE tasks SET state = 'generating', generating_since = $1, lease_owner = $2, lease_expires_at = $3, update_time = $4
         WHERE id = $5`,
        [generatingSince, workerId, leaseUntil, updateTime, row.id],
      );
      await sql.run("UPDATE accounts SET last_claim_at = $1 WHERE id = $2", [now, account.id]);
      return toTask({
        ...row,
        state: "generating",
        generating_since: generatingSince,
        lease_owner: workerId,
        lease_expires_at: leaseUntil,
        update_time: updateTime,
      });
    }
  });
}

/** attempts + 1 for a task this worker holds; 0 when it does not hold the lease. */
export async function startAttempt(sql: Sql, taskId: string, workerId: string): Promise<number> {
  const row = await sql.one<{ attempts: number }>(
    "UPDATE tasks SET attempts = attempts + 1 WHERE id = $1 AND lease_owner = $2 AND state = 'generating' RETURNING attempts",
    [taskId, workerId],
  );
  return row?.attempts ?? 0;
}

export async function renewLease(
  sql: Sql,
  taskId: string,
  workerId: string,
  leaseUntil: number,
): Promise<{ held: boolean; cancelRequested: boolean }> {
  const row = await sql.one<{ cancel_requested: boolean }>(
    `UPDATE tasks SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'generating'
     RETURNING cancel_requested`,
    [leaseUntil, taskId, workerId],
  );
  if (row) return { held: true, cancelRequested: row.cancel_requested };
  const current = await sql.one<{ cancel_requested: boolean }>("SELECT cancel_requested FROM tasks WHERE id = $1", [taskId]);
  return { held: false, cancelRequested: current?.cancel_requested === true };
}

export async function releaseForRetry(sql: Sql, taskId: string, workerId: string, runAfter: number): Promise<boolean> {
  const changed = await sql.run(
    `UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL, run_after = $1
     WHERE id = $2 AND lease_owner = $3 AND state = 'generating'`,
    [runAfter, taskId, workerId],
  );
  return changed > 0;
}

// ---------------------------------------------------------------------------------------------
// settlement

type Outcome = { state: "success"; resultUrls: string[] } | { state: "fail"; failCode: string; failMsg: string };

/**
 * Runs `fn` in a transaction holding the task's account row and then the task row (the lock
 * order above). `fn` gets null for an unknown task.
 */
async function withLockedTask<T>(db: PgDb, taskId: string, fn: (sql: Sql, row: TaskRow | null) => Promise<T>): Promise<T> {
  // account_id never changes, so reading it before taking any lock is safe.
  const owner = await db.sql.one<{ account_id: string }>("SELECT account_id FROM tasks WHERE id = $1", [taskId]);
  return db.tx(async (sql) => {
    if (!owner) return fn(sql, null);
    await sql.run("SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE", [owner.account_id]);
    return fn(sql, (await getTaskRow(sql, taskId, true)) ?? null);
  });
}

/**
 * Moves an open task to its terminal state, captures or releases its hold, and stores the
 * callback the hook builds. Runs inside the caller's transaction, which holds the task row.
 */
async function settle(sql: Sql, row: TaskRow, outcome: Outcome, now: number, onSettled?: SettlementHook): Promise<TaskRecord> {
  const success = outcome.state === "success";
  const settled: TaskRow = {
    ...row,
    state: outcome.state,
    result_urls: success ? outcome.resultUrls : null,
    fail_code: success ? null : outcome.failCode,
    fail_msg: success ? null : outcome.failMsg,
    complete_time: now,
    update_time: now,
    consumed_credits: success ? row.price : 0,
    held_credits: 0,
    lease_owner: null,
    lease_expires_at: null,
  };
  // The state guard makes a lost race a no-op even if the caller's check went stale.
  const changed = await sql.run(
    `UPDATE tasks SET state = $1, result_urls = $2, fail_code = $3, fail_msg = $4, complete_time = $5, update_time = $5,
                      consumed_credits = $6, held_credits = 0, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = $7 AND state IN ${OPEN}`,
    [
      settled.state,
      settled.result_urls === null ? null : JSON.stringify(settled.result_urls),
      settled.fail_code,
      settled.fail_msg,
      now,
      settled.consumed_credits,
      row.id,
    ],
  );
  if (changed !== 1) throw new Error(`task ${row.id} was settled concurrently`);
  if (row.held_credits > 0) {
    await appendLedger(sql, {
      accountId: row.account_id,
      taskId: row.id,
      // capture: the hold already took the credits, so it moves nothing; release gives them back.
      kind: success ? "capture" : "release",
      amount: success ? 0 : row.held_credits,
      note: null,
      now,
    });
  }
  const task = toTask(settled);
  if (onSettled) {
    const delivery = onSettled(task, await getBalance(sql, row.account_id));
    if (delivery) await insertDelivery(sql, delivery);
  }
  return task;
}

const isOpen = (row: TaskRow): boolean => row.state !== "success" && row.state !== "fail";

export async function completeTask(
  db: PgDb,
  cmd: { taskId: string; workerId: string; now: number; resultUrls: string[] },
  onSettled?: SettlementHook,
): Promise<TaskRecord | null> {
  return withLockedTask(db, cmd.taskId, async (sql, row) => {
    if (row?.state !== "generating" || row.lease_owner !== cmd.workerId) return null;
    return settle(sql, row, { state: "success", resultUrls: cmd.resultUrls }, cmd.now, onSettled);
  });
}

export async function failTask(
  db: PgDb,
  cmd: { taskId: string; workerId: string | null; now: number; failCode: string; failMsg: string },
  onSettled?: SettlementHook,
): Promise<TaskRecord | null> {
  return withLockedTask(db, cmd.taskId, async (sql, row) => {
    if (!row || !isOpen(row)) return null;
    if (cmd.workerId !== null && row.lease_owner !== cmd.workerId) return null;
    return settle(sql, row, { state: "fail", failCode: cmd.failCode, failMsg: cmd.failMsg }, cmd.now, onSettled);
  });
}

export async function requestCancel(
  db: PgDb,
  taskId: string,
  accountId: string,
  now: number,
  onSettled?: SettlementHook,
): Promise<Awaited<ReturnType<Store["requestCancel"]>>> {
  return withLockedTask(db, taskId, async (sql, row) => {
    if (!row || row.account_id !== accountId) return { kind: "not_found" as const };
    if (!isOpen(row)) return { kind: "already_terminal" as const, task: toTask(row) };
    const leased = row.lease_owner !== null && row.lease_expires_at !== null && row.lease_expires_at > now;
    if (row.state === "generating" && leased) {
      // The worker owns the engine call; it sees the flag on its next lease renewal and fails the task.
      await sql.run("UPDATE tasks SET cancel_requested = true WHERE id = $1", [taskId]);
      return { kind: "cancel_requested" as const, task: toTask({ ...row, cancel_requested: true }) };
    }
    // Not generating, or generating with no live lease (waiting out a retry delay, or its worker
    // died): no result can be delivered now, so the task fails at once instead of at its next claim.
    const task = await settle(sql, row, { state: "fail", ...FAIL_REASONS.canceled }, now, onSettled);
    return { kind: "canceled" as const, task };
  });
}
