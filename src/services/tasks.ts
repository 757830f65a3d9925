import { createHash } from "node:crypto";
import { priceOf } from "../domain/prices.js";
import { toRecordInfo, type RecordInfo } from "../domain/record.js";
import { validateCreateTask } from "../domain/validation.js";
import { KieError, validationError } from "../errors.js";
import type { AppContext } from "../http/context.js";
import { newTaskId } from "../ids.js";
import type { Principal } from "./api-keys.js";
import { callbackOnSettle } from "./settlement.js";

/** How long an Idempotency-Key is remembered (at least 24 h, as promised in the docs). */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

export type CreateResult = { taskId: string; replayed: boolean };

/**
 * createTask after the guard (auth, maintenance, rate limit): docs/kie-contract.md §4.2 steps 4–9.
 * Every refusal throws a KieError; nothing is stored or charged unless the task is accepted.
 */
export async function createTask(
  ctx: AppContext,
  principal: Principal,
  body: { raw: string; value: unknown },
  idempotencyKey: string | undefined,
): Promise<CreateResult> {
  // 4. the body must be a JSON object
  const value = body.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new KieError("body_not_object");

  // 5. fields, first error only
  const v = validateCreateTask(value as Record<string, unknown>);
  if (!v.ok) throw validationError(v.msg);
  if (v.callbackUrl && !ctx.policy.isUrlHostAllowed(new URL(v.callbackUrl))) throw new KieError("callback_forbidden");
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY_RE.test(idempotencyKey)) throw new KieError("idempotency_key_invalid");

  // 6. operator switches
  const now = ctx.clock.now();
  const switches = await ctx.switches.get(now);
  const off = new Set(switches.disabledModels);
  if (
    off.has(v.spec.id) ||
    (v.input.resolution === "4K" && off.has("feature:4K")) ||
    (v.input.imageUrls.length > 0 && off.has("feature:image_input"))
  ) {
    throw new KieError("feature_disabled");
  }

  // 7–9. caps, hold and insert happen atomically in the store
  const account = principal.account;
  const price = account.unmetered ? 0 : priceOf(ctx.config.billing.prices, v.spec.id, v.input.resolution);
  const limits = principal.key.limits;
  const outcome = await ctx.store.createTask({
    task: {
      id: newTaskId(),
      accountId: account.id,
      keyId: principal.key.id,
      model: v.spec.id,
      param: paramOf(value as Record<string, unknown>),
      input: v.input,
      callbackUrl: v.callbackUrl,
      price,
      createTime: now,
      deadline: now + ctx.config.taskDeadlineMs,
    },
    holdCredits: !account.unmetered && price > 0,
    caps: { hourly: limits.hourlyCap ?? null, daily: limits.dailyCap ?? null, total: limits.totalCap ?? null },
    idempotency:
      idempotencyKey === undefined
        ? undefined
        : { key: idempotencyKey, bodyHash: sha256(body.raw), expiresAt: now + IDEMPOTENCY_TTL_MS },
  });
  switch (outcome.kind) {
    case "created":
      ctx.events.publish(outcome.task.id, "waiting");
      ctx.wakeWorker?.();
      ctx.ops?.metrics?.taskCreated(v.spec.id, v.input.resolution);
      return { taskId: outcome.task.id, replayed: false };
    case "replayed":
      return { taskId: outcome.taskId, replayed: true };
    case "idempotency_conflict":
      throw new KieError("idempotency_conflict");
    case "insufficient_credits":
      throw new KieError("insufficient_credits");
    case "cap_exceeded":
      throw new KieError(`cap_${outcome.window}`, {
        retryAfter: await retryAfterForCap(ctx, principal, outcome.window, price, now),
      });
  }
}

/** `param` is the body as received, limited to model, callBackUrl (only if sent) and input. */
function paramOf(body: Record<string, unknown>): string {
  const p: Record<string, unknown> = { model: body.model };
  if (body.callBackUrl !== undefined) p.callBackUrl = body.callBackUrl;
  p.input = body.input;
  return JSON.stringify(p);
}

/**
 * Seconds until a capped key has room for this price again: when the oldest counted usage leaves
 * the rolling window (asked of the store), else the window's length (an upper bound). A total cap
 * never frees up by itself; a day is the honest "ask the operator" answer.
 */
async function retryAfterForCap(
  ctx: AppContext,
  principal: Principal,
  window: "hourly" | "daily" | "total",
  price: number,
  now: number,
): Promise<number> {
  const fallback = window === "hourly" ? 3600 : 86_400;
  const limits = principal.key.limits;
  const cap = window === "hourly" ? limits.hourlyCap : window === "daily" ? limits.dailyCap : null;
  if (window === "total" || cap === null || cap === undefined || !ctx.store.usageFreedAt) return fallback;
  const at = await ctx.store.usageFreedAt({ keyId: principal.key.id, window, cap, price, now });
  return at === null ? fallback : Math.max(1, Math.ceil((at - now) / 1000));
}

export async function getRecord(ctx: AppContext, principal: Principal, taskId: string): Promise<RecordInfo> {
  const accountId = principal.account.id;
  const retainedSince = ctx.clock.now() - ctx.config.taskRetentionMs;
  const cached = ctx.settledRecords?.get(taskId, accountId);
  if (cached) {
    if (cached.createTime < retainedSince) throw new KieError("record_not_found");
    return cached.view;
  }
  const task = await ctx.store.getTask(taskId, accountId);
  // Records past retention read as unknown (docs/kie-contract.md §12: 60 days).
  if (!task || task.createTime < retainedSince) throw new KieError("record_not_found");
  const view = toRecordInfo(task);
  ctx.settledRecords?.offer(accountId, task.createTime, view);
  return view;
}

/** POST /api/v1/jobs/cancel (peel extension). */
export async function cancelTask(ctx: AppContext, principal: Principal, taskId: string): Promise<RecordInfo> {
  const now = ctx.clock.now();
  const res = await ctx.store.requestCancel(
    taskId,
    principal.account.id,
    now,
    callbackOnSettle({
      account: principal.account,
      unmeteredBalance: ctx.config.billing.unmeteredBalance,
      now,
      policy: ctx.callbackPolicy,
    }),
  );
  if (res.kind === "not_found") throw new KieError("record_not_found");
  if (res.kind === "canceled") {
    ctx.events.publish(taskId, "fail");
    ctx.dispatcher?.notify();
    ctx.ops?.metrics?.taskSettled(res.task);
  }
  // A worker in this process stops at once; one elsewhere notices the flag on its next heartbeat.
  if (res.kind === "cancel_requested") ctx.cancelRun?.(taskId);
  return toRecordInfo(res.task);
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
