import { type Delivery, type DeliveryAttempt, type DeliveryState, type NewDelivery, newDelivery } from "../../domain/types.js";
import type { PgDb, Sql } from "./db.js";
import { toDelivery, toDeliveryAttempt, type DeliveryAttemptRow, type DeliveryRow } from "./rows.js";

// Callback deliveries (the outbox) and their attempts.

/**
 * Inserts a delivery: pending and due at once, or `skipped` (never sent) when it carries a
 * skipReason. Runs inside the caller's transaction when given one.
 */
export async function insertDelivery(sql: Sql, d: NewDelivery): Promise<Delivery> {
  const delivery = newDelivery(d);
  await sql.run(
    `INSERT INTO deliveries (id, task_id, account_id, url, payload, webhook_id, state, attempt_count, next_attempt_at,
                             created_at, updated_at, last_error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $9, $10)`,
    [
      d.id,
      d.taskId,
      d.accountId,
      d.url,
      d.payload,
      d.webhookId,
      delivery.state,
      delivery.nextAttemptAt,
      d.createdAt,
      delivery.lastError,
    ],
  );
  return delivery;
}

const dueOrder = (a: DeliveryRow, b: DeliveryRow): number =>
  (a.next_attempt_at ?? 0) - (b.next_attempt_at ?? 0) || a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * One statement: picks due rows with SKIP LOCKED (rows another dispatcher is leasing right now are
 * passed over, not waited for) and leases them. An expired lease means the dispatcher holding it
 * died mid-send: claimable again.
 */
export async function claimDueDeliveries(
  sql: Sql,
  opts: { workerId: string; now: number; limit: number; leaseMs: number },
): Promise<Delivery[]> {
  const rows = await sql.rows<DeliveryRow>(
    `WITH due AS (
       SELECT id FROM deliveries
       WHERE state = 'pending' AND next_attempt_at <= $1 AND (lease_owner IS NULL OR lease_expires_at <= $1)
       ORDER BY next_attempt_at, created_at, id
       LIMIT $2
       FOR UPDATE SKIP LOCKED)
     UPDATE deliveries d SET lease_owner = $3, lease_expires_at = $4
     FROM due WHERE d.id = due.id
     RETURNING d.*`,
    [opts.now, opts.limit, opts.workerId, opts.now + opts.leaseMs],
  );
  // RETURNING has no order of its own.
  return rows.sort(dueOrder).map(toDelivery);
}

/** Lease cleared, due at `until`; attempt_count and history untouched. Only for the lease holder. */
export async function deferDelivery(sql: Sql, id: string, workerId: string, until: number): Promise<boolean> {
  const changed = await sql.run(
    `UPDATE deliveries SET next_attempt_at = $1, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = $2 AND lease_owner = $3 AND state = 'pending'`,
    [until, id, workerId],
  );
  return changed > 0;
}

export async function recordDeliveryAttempt(
  db: PgDb,
  attempt: DeliveryAttempt,
  outcome: Exclude<DeliveryState, "pending"> | "retry",
): Promise<void> {
  const retry = outcome === "retry";
  if (retry && attempt.nextAttemptAt === null) {
    throw new TypeError(`delivery ${attempt.deliveryId}: a retry needs attempt.nextAttemptAt`);
  }
  await db.tx(async (sql) => {
    await sql.run(
      `INSERT INTO delivery_attempts (id, delivery_id, attempted_at, status_code, latency_ms, error, next_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        attempt.id,
        attempt.deliveryId,
        attempt.attemptedAt,
        attempt.statusCode,
        attempt.latencyMs,
        attempt.error,
        retry ? attempt.nextAttemptAt : null,
      ],
    );
    await sql.run(
      `UPDATE deliveries SET attempt_count = attempt_count + 1, last_status = $1, last_error = $2, state = $3,
                             next_attempt_at = $4, updated_at = $5, lease_owner = NULL, lease_expires_at = NULL
       WHERE id = $6`,
      [
        attempt.statusCode,
        attempt.error,
        retry ? "pending" : outcome,
        retry ? attempt.nextAttemptAt : null,
        attempt.attemptedAt,
        attempt.deliveryId,
      ],
    );
  });
}

export async function getDelivery(sql: Sql, id: string): Promise<Delivery | null> {
  const row = await sql.one<DeliveryRow>("SELECT * FROM deliveries WHERE id = $1", [id]);
  return row ? toDelivery(row) : null;
}

export async function listDeliveries(
  sql: Sql,
  opts: { accountId?: string; taskId?: string; state?: DeliveryState; since?: number; limit?: number },
): Promise<Delivery[]> {
  // Fixed fragments only; values are bound.
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (fragment: string, value: unknown) => {
    params.push(value);
    where.push(fragment.replace("?", `$${params.length}`));
  };
  if (opts.accountId !== undefined) add("account_id = ?", opts.accountId);
  if (opts.taskId !== undefined) add("task_id = ?", opts.taskId);
  if (opts.state !== undefined) add("state = ?", opts.state);
  if (opts.since !== undefined) add("created_at >= ?", opts.since);
  params.push(opts.limit ?? 100);
  const text =
    "SELECT * FROM deliveries" +
    (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
    ` ORDER BY created_at DESC, id DESC LIMIT $${params.length}`;
  return (await sql.rows<DeliveryRow>(text, params)).map(toDelivery);
}

export async function listDeliveryAttempts(sql: Sql, deliveryId: string): Promise<DeliveryAttempt[]> {
  const rows = await sql.rows<DeliveryAttemptRow>(
    "SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempted_at, seq",
    [deliveryId],
  );
  return rows.map(toDeliveryAttempt);
}

/** Pending again and due now; webhook_id and attempt history are kept (receivers de-duplicate on it). */
export async function replayDelivery(sql: Sql, id: string, now: number): Promise<boolean> {
  const changed = await sql.run(
    `UPDATE deliveries SET state = 'pending', next_attempt_at = $1, updated_at = $1, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = $2`,
    [now, id],
  );
  return changed > 0;
}

export async function replayFailedDeliveries(
  sql: Sql,
  opts: { accountId?: string; since: number; now: number },
): Promise<number> {
  const base = `UPDATE deliveries SET state = 'pending', next_attempt_at = $1, updated_at = $1, lease_owner = NULL, lease_expires_at = NULL
     WHERE state IN ('failed', 'stopped') AND created_at >= $2`;
  return opts.accountId === undefined
    ? sql.run(base, [opts.now, opts.since])
    : sql.run(`${base} AND account_id = $3`, [opts.now, opts.since, opts.accountId]);
}
