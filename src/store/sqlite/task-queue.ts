import { FAIL_REASONS } from "../../errors.js";
import type { TaskRecord } from "../../domain/types.js";
import type { ClaimOptions, SettlementHook, Store } from "../store.js";
import { appendLedger, getBalance } from "./accounts.js";
import type { SqliteDb } from "./db.js";
import { insertDelivery } from "./deliveries.js";
import { toTask, type TaskRow } from "./rows.js";
import { getTaskRow } from "./tasks.js";

// The task queue: promotion, claiming under a lease, retries, settlement and cancel.
//
// A generating task "occupies a slot" while a worker holds a live lease on it, or while it waits
// for a retry (lease cleared by releaseForRetry). A generating task whose lease expired belongs to
// a worker that died; it is runnable again and does not count until re-claimed.

/** Non-terminal states, as SQL. */
const OPEN = "('waiting', 'queuing', 'generating')";

export function promoteWaitingTasks(db: SqliteDb, opts: { now: number; maxRunningPerAccount: number }): string[] {
  return db.immediate(() => {
    const accounts = db.all<{ id: string; cap: number; queuing: number; generating: number }>(
      `SELECT a.id AS id,
              COALESCE(a.max_running, ?) AS cap,
              (SELECT COUNT(*) FROM tasks q WHERE q.account_id = a.id AND q.state = 'queuing') AS queuing,
              (SELECT COUNT(*) FROM tasks g WHERE g.account_id = a.id AND g.state = 'generating'
                 AND (g.lease_owner IS NULL OR g.lease_expires_at > ?)) AS generating
       FROM accounts a
       WHERE EXISTS (SELECT 1 FROM tasks w WHERE w.account_id = a.id AND w.state = 'waiting')`,
      opts.maxRunningPerAccount,
      opts.now,
    );
    const moved: string[] = [];
    for (const a of accounts) {
      const room = a.cap - a.generating - a.queuing;
      if (room <= 0) continue;
      const rows = db.all<{ id: string; create_time: number }>(
        `UPDATE tasks SET state = 'queuing', update_time = ?
         WHERE id IN (SELECT id FROM tasks WHERE account_id = ? AND state = 'waiting' ORDER BY create_time, id LIMIT ?)
         RETURNING id, create_time`,
        opts.now,
        a.id,
        room,
      );
      // RETURNING has no order of its own.
      rows.sort((x, y) => x.create_time - y.create_time || (x.id < y.id ? -1 : 1));
      for (const r of rows) moved.push(r.id);
    }
    return moved;
  });
}

/** Runnable: queuing and due, or generating with no live lease and due (abandoned or retrying). */
const RUNNABLE = `((t.state = 'queuing' AND t.run_after <= ?)
   OR (t.state = 'generating' AND (t.lease_owner IS NULL OR t.lease_expires_at <= ?) AND t.run_after <= ?))`;

export function claimTask(db: SqliteDb, opts: ClaimOptions): TaskRecord | null {
  const { now, workerId } = opts;
  return db.immediate(() => {
    // Least recently served account first (round-robin), skipping accounts at their running cap.
    const account = db.get<{ id: string }>(
      `SELECT a.id AS id FROM accounts a
       WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.account_id = a.id AND ${RUNNABLE})
         AND (SELECT COUNT(*) FROM tasks g WHERE g.account_id = a.id AND g.state = 'generating'
                AND g.lease_owner IS NOT NULL AND g.lease_expires_at > ?) < COALESCE(a.max_running, ?)
       ORDER BY a.last_claim_at, a.id
       LIMIT 1`,
      now,
      now,
      now,
      now,
      opts.maxRunningPerAccount,
    );
    if (!account) return null;
    const row = db.get<TaskRow>(
      `SELECT * FROM tasks t WHERE t.account_id = ? AND ${RUNNABLE} ORDER BY t.create_time, t.id LIMIT 1`,
      account.id,
      now,
      now,
      now,
    )!;
    const leaseUntil = now + opts.leaseMs;
    // kie: updateTime changes only with the state, so a re-claim of a generating task keeps it.
    const updateTime = row.state === "generating" ? row.update_time : now;
    const generatingSince = row.generating_since ?? now;
    db.run(
      `UPDATE tasks SET state = 'generating', generating_since = ?, lease_owner = ?, lease_expires_at = ?, update_time = ?
       WHERE id = ?`,
      generatingSince,
      workerId,
      leaseUntil,
      updateTime,
      row.id,
    );
    db.run("UPDATE accounts SET last_claim_at = ? WHERE id = ?", now, account.id);
    return toTask({
      ...row,
      state: "generating",
      generating_since: generatingSince,
      lease_owner: workerId,
      lease_expires_at: leaseUntil,
      update_time: updateTime,
    });
  });
}

/** attempts + 1 for a task this worker holds; 0 when it does not hold the lease. */
export function startAttempt(db: SqliteDb, taskId: string, workerId: string): number {
  const row = db.get<{ attempts: number }>(
    "UPDATE tasks SET attempts = attempts + 1 WHERE id = ? AND lease_owner = ? AND state = 'generating' RETURNING attempts",
    taskId,
    workerId,
  );
  return row?.attempts ?? 0;
}

export function renewLease(
  db: SqliteDb,
  taskId: string,
  workerId: string,
  leaseUntil: number,
): { held: boolean; cancelRequested: boolean } {
  const row = db.get<{ cancel_requested: number }>(
    `UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND state = 'generating'
     RETURNING cancel_requested`,
    leaseUntil,
    taskId,
    workerId,
  );
  if (row) return { held: true, cancelRequested: row.cancel_requested === 1 };
  const current = db.get<{ cancel_requested: number }>("SELECT cancel_requested FROM tasks WHERE id = ?", taskId);
  return { held: false, cancelRequested: current?.cancel_requested === 1 };
}

export function releaseForRetry(db: SqliteDb, taskId: string, workerId: string, runAfter: number): boolean {
  return (
    db.run(
      `UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL, run_after = ?
       WHERE id = ? AND lease_owner = ? AND state = 'generating'`,
      runAfter,
      taskId,
      workerId,
    ) > 0
  );
}

// ---------------------------------------------------------------------------------------------
// settlement

type Outcome = { state: "success"; resultUrls: string[] } | { state: "fail"; failCode: string; failMsg: string };

/**
 * Moves an open task to its terminal state, captures or releases its hold, and stores the
 * callback the hook builds. Must run inside a transaction; the caller has checked the task is open.
 */
function settle(db: SqliteDb, row: TaskRow, outcome: Outcome, now: number, onSettled?: SettlementHook): TaskRecord {
  const success = outcome.state === "success";
  const settled: TaskRow = {
    ...row,
    state: outcome.state,
    result_urls: success ? JSON.stringify(outcome.resultUrls) : null,
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
  const changed = db.run(
    `UPDATE tasks SET state = ?, result_urls = ?, fail_code = ?, fail_msg = ?, complete_time = ?, update_time = ?,
                      consumed_credits = ?, held_credits = 0, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = ? AND state IN ${OPEN}`,
    settled.state,
    settled.result_urls,
    settled.fail_code,
    settled.fail_msg,
    now,
    now,
    settled.consumed_credits,
    row.id,
  );
  if (changed !== 1) throw new Error(`task ${row.id} was settled concurrently`);
  if (row.held_credits > 0) {
    appendLedger(db, {
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
    const delivery = onSettled(task, getBalance(db, row.account_id));
    if (delivery) insertDelivery(db, delivery);
  }
  return task;
}

const isOpen = (row: TaskRow): boolean => row.state !== "success" && row.state !== "fail";

export function completeTask(
  db: SqliteDb,
  cmd: { taskId: string; workerId: string; now: number; resultUrls: string[] },
  onSettled?: SettlementHook,
): TaskRecord | null {
  return db.immediate(() => {
    const row = getTaskRow(db, cmd.taskId);
    if (row?.state !== "generating" || row.lease_owner !== cmd.workerId) return null;
    return settle(db, row, { state: "success", resultUrls: cmd.resultUrls }, cmd.now, onSettled);
  });
}

export function failTask(
  db: SqliteDb,
  cmd: { taskId: string; workerId: string | null; now: number; failCode: string; failMsg: string },
  onSettled?: SettlementHook,
): TaskRecord | null {
  return db.immediate(() => {
    const row = getTaskRow(db, cmd.taskId);
    if (!row || !isOpen(row)) return null;
    if (cmd.workerId !== null && row.lease_owner !== cmd.workerId) return null;
    return settle(db, row, { state: "fail", failCode: cmd.failCode, failMsg: cmd.failMsg }, cmd.now, onSettled);
  });
}

export function requestCancel(
  db: SqliteDb,
  taskId: string,
  accountId: string,
  now: number,
  onSettled?: SettlementHook,
): Awaited<ReturnType<Store["requestCancel"]>> {
  return db.immediate(() => {
    const row = getTaskRow(db, taskId);
    if (!row || row.account_id !== accountId) return { kind: "not_found" };
    if (!isOpen(row)) return { kind: "already_terminal", task: toTask(row) };
    const leased = row.lease_owner !== null && row.lease_expires_at !== null && row.lease_expires_at > now;
    if (row.state === "generating" && leased) {
      // The worker owns the engine call; it sees the flag on its next lease renewal and fails the task.
      db.run("UPDATE tasks SET cancel_requested = 1 WHERE id = ?", taskId);
      return { kind: "cancel_requested", task: toTask({ ...row, cancel_requested: 1 }) };
    }
    // Not generating, or generating with no live lease (waiting out a retry delay, or its worker
    // died): no result can be delivered now, so the task fails at once instead of at its next claim.
    const task = settle(db, row, { state: "fail", ...FAIL_REASONS.canceled }, now, onSettled);
    return { kind: "canceled", task };
  });
}
