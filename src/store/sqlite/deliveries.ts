import { type Delivery, type DeliveryAttempt, type DeliveryState, type NewDelivery, newDelivery } from "../../domain/types.js";
import type { SqliteDb } from "./db.js";
import { toDelivery, toDeliveryAttempt, type DeliveryAttemptRow, type DeliveryRow } from "./rows.js";

// Callback deliveries (the outbox) and their attempts.

/**
 * Inserts a delivery: pending and due at once, or `skipped` (never sent) when it carries a
 * skipReason. Runs inside the caller's transaction when there is one.
 */
export function insertDelivery(db: SqliteDb, d: NewDelivery): Delivery {
  const delivery = newDelivery(d);
  db.run(
    `INSERT INTO deliveries (id, task_id, account_id, url, payload, webhook_id, state, attempt_count, next_attempt_at,
                             created_at, updated_at, last_error)
     VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
    d.id,
    d.taskId,
    d.accountId,
    d.url,
    d.payload,
    d.webhookId,
    delivery.state,
    delivery.nextAttemptAt,
    d.createdAt,
    d.createdAt,
    delivery.lastError,
  );
  return delivery;
}

export function claimDueDeliveries(
  db: SqliteDb,
  opts: { workerId: string; now: number; limit: number; leaseMs: number },
): Delivery[] {
  return db.immediate(() => {
    // An expired lease means the dispatcher holding it died mid-send: claimable again.
    const rows = db.all<DeliveryRow>(
      `SELECT * FROM deliveries
       WHERE state = 'pending' AND next_attempt_at <= ? AND (lease_owner IS NULL OR lease_expires_at <= ?)
       ORDER BY next_attempt_at, created_at, id LIMIT ?`,
      opts.now,
      opts.now,
      opts.limit,
    );
    const until = opts.now + opts.leaseMs;
    for (const r of rows) {
      db.run("UPDATE deliveries SET lease_owner = ?, lease_expires_at = ? WHERE id = ?", opts.workerId, until, r.id);
    }
    return rows.map(toDelivery);
  });
}

/** Lease cleared, due at `until`; attempt_count and history untouched. Only for the lease holder. */
export function deferDelivery(db: SqliteDb, id: string, workerId: string, until: number): boolean {
  return (
    db.run(
      `UPDATE deliveries SET next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL
       WHERE id = ? AND lease_owner = ? AND state = 'pending'`,
      until,
      id,
      workerId,
    ) > 0
  );
}

export function recordDeliveryAttempt(
  db: SqliteDb,
  attempt: DeliveryAttempt,
  outcome: Exclude<DeliveryState, "pending"> | "retry",
): void {
  const retry = outcome === "retry";
  if (retry && attempt.nextAttemptAt === null) {
    throw new TypeError(`delivery ${attempt.deliveryId}: a retry needs attempt.nextAttemptAt`);
  }
  db.immediate(() => {
    db.run(
      `INSERT INTO delivery_attempts (id, delivery_id, attempted_at, status_code, latency_ms, error, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      attempt.id,
      attempt.deliveryId,
      attempt.attemptedAt,
      attempt.statusCode,
      attempt.latencyMs,
      attempt.error,
      retry ? attempt.nextAttemptAt : null,
    );
    db.run(
      `UPDATE deliveries SET attempt_count = attempt_count + 1, last_status = ?, last_error = ?, state = ?,
                             next_attempt_at = ?, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL
       WHERE id = ?`,
      attempt.statusCode,
      attempt.error,
      retry ? "pending" : outcome,
      retry ? attempt.nextAttemptAt : null,
      attempt.attemptedAt,
      attempt.deliveryId,
    );
  });
}

export function getDelivery(db: SqliteDb, id: string): Delivery | null {
  const row = db.get<DeliveryRow>("SELECT * FROM deliveries WHERE id = ?", id);
  return row ? toDelivery(row) : null;
}

export function listDeliveries(
  db: SqliteDb,
  opts: { accountId?: string; taskId?: string; state?: DeliveryState; since?: number; limit?: number },
): Delivery[] {
  // Fixed fragments only; values are bound.
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.accountId !== undefined) where.push("account_id = ?"), params.push(opts.accountId);
  if (opts.taskId !== undefined) where.push("task_id = ?"), params.push(opts.taskId);
  if (opts.state !== undefined) where.push("state = ?"), params.push(opts.state);
  if (opts.since !== undefined) where.push("created_at >= ?"), params.push(opts.since);
  const sql =
    "SELECT * FROM deliveries" +
    (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
    " ORDER BY created_at DESC, id DESC LIMIT ?";
  return db.all<DeliveryRow>(sql, ...params, opts.limit ?? 100).map(toDelivery);
}

export function listDeliveryAttempts(db: SqliteDb, deliveryId: string): DeliveryAttempt[] {
  return db
    .all<DeliveryAttemptRow>("SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempted_at, seq", deliveryId)
    .map(toDeliveryAttempt);
}

/** Pending again and due now; webhook_id and attempt history are kept (receivers de-duplicate on it). */
export function replayDelivery(db: SqliteDb, id: string, now: number): boolean {
  return (
    db.run(
      `UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL
       WHERE id = ?`,
      now,
      now,
      id,
    ) > 0
  );
}

export function replayFailedDeliveries(db: SqliteDb, opts: { accountId?: string; since: number; now: number }): number {
  const base = `UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL
     WHERE state IN ('failed', 'stopped') AND created_at >= ?`;
  return opts.accountId === undefined
    ? db.run(base, opts.now, opts.now, opts.since)
    : db.run(`${base} AND account_id = ?`, opts.now, opts.now, opts.since, opts.accountId);
}
