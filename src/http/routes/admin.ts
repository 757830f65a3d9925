import { timingSafeEqual, createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AdminError, AdminOps } from "../../admin/operations.js";
import type { DeliveryState, KeyLimits } from "../../domain/types.js";
import { jsonBody, isJsonObject } from "../body.js";
import type { AppContext } from "../context.js";
import { PeelApiError } from "../error-handler.js";
import { toRecordInfo } from "../../domain/record.js";

/**
 * The operator API under /admin/v1, behind PEEL_ADMIN_TOKEN (never an API key). Off when no token
 * is configured. Answers in peel's envelope: data as JSON, errors as { error: { code, message, requestId } }.
 */
export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  const token = ctx.config.adminToken;
  const ops = new AdminOps(ctx.store, ctx.config, () => ctx.clock.now());
  const tokenHash = token ? sha(token) : null;

  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    if (!tokenHash || !m || !timingSafeEqual(sha(m[1]), tokenHash)) {
      return reply.code(401).send({ error: { code: "unauthorized", message: "admin token required", requestId: req.id } });
    }
  };
  const opts = {
    onRequest: guard,
    config: { envelope: "peel" as const },
    schema: { tags: ["admin"], security: [{ admin: [] }] },
  };
  const body = (req: FastifyRequest): Record<string, unknown> => {
    const { value } = jsonBody(req);
    if (value === undefined) return {};
    if (!isJsonObject(value)) throw new PeelApiError(400, "invalid_body", "body must be a JSON object");
    return value;
  };
  const param = (req: FastifyRequest, name: string) => (req.params as Record<string, string>)[name];
  const wrap =
    (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        return await fn(req, reply);
      } catch (err) {
        if (err instanceof AdminError) throw new PeelApiError(err.status, err.code, err.message);
        throw err;
      }
    };
  const afterKeyChange = () => ctx.auth.forget();

  // accounts
  app.get(
    "/admin/v1/accounts",
    opts,
    wrap(async () => ({ data: await ctx.store.listAccounts() })),
  );
  app.post(
    "/admin/v1/accounts",
    opts,
    wrap(async (req, reply) => {
      const b = body(req);
      const account = await ops.createAccount({
        name: b.name as string,
        unmetered: b.unmetered === true,
        maxRunning: typeof b.maxRunning === "number" ? b.maxRunning : null,
        credits: typeof b.credits === "number" ? b.credits : 0,
      });
      return reply.code(201).send({ data: account });
    }),
  );
  app.get(
    "/admin/v1/accounts/:id",
    opts,
    wrap(async (req) => {
      const a = await ops.account(param(req, "id"));
      return { data: { ...a, ...(await ops.balance(a.id)) } };
    }),
  );
  app.patch(
    "/admin/v1/accounts/:id",
    opts,
    wrap(async (req) => {
      const b = body(req);
      const patch: Record<string, unknown> = {};
      for (const k of ["name", "unmetered", "maxRunning", "disabled"]) if (k in b) patch[k] = b[k];
      const a = await ctx.store.updateAccount(param(req, "id"), patch);
      if (!a) throw new AdminError(404, "account_not_found", "no such account");
      afterKeyChange();
      return { data: a };
    }),
  );

  // keys
  app.get(
    "/admin/v1/keys",
    opts,
    wrap(async (req) => ({ data: await ops.listKeys((req.query as { accountId?: string }).accountId) })),
  );
  app.post(
    "/admin/v1/keys",
    opts,
    wrap(async (req, reply) => {
      const b = body(req);
      const res = await ops.createKey({
        name: b.name as string,
        accountId: b.accountId as string | undefined,
        limits: b.limits as KeyLimits | undefined,
      });
      return reply.code(201).send({ data: res });
    }),
  );
  app.patch(
    "/admin/v1/keys/:id",
    opts,
    wrap(async (req) => {
      const k = await ops.setKeyLimits(param(req, "id"), (body(req).limits ?? {}) as KeyLimits);
      afterKeyChange();
      return { data: k };
    }),
  );
  app.delete(
    "/admin/v1/keys/:id",
    opts,
    wrap(async (req) => {
      await ops.revokeKey(param(req, "id"));
      afterKeyChange();
      return { data: { revoked: true } };
    }),
  );

  // credits
  app.get(
    "/admin/v1/accounts/:id/credits",
    opts,
    wrap(async (req) => ({ data: await ops.balance(param(req, "id")) })),
  );
  app.post(
    "/admin/v1/accounts/:id/credits",
    opts,
    wrap(async (req) => {
      const b = body(req);
      return { data: await ops.grant(param(req, "id"), b.amount as number, typeof b.note === "string" ? b.note : null) };
    }),
  );
  app.get(
    "/admin/v1/accounts/:id/ledger",
    opts,
    wrap(async (req) => {
      const q = req.query as { limit?: string; taskId?: string };
      await ops.account(param(req, "id"));
      return { data: await ctx.store.listLedger(param(req, "id"), { limit: q.limit ? Number(q.limit) : 100, taskId: q.taskId }) };
    }),
  );

  // webhook secrets
  app.post(
    "/admin/v1/accounts/:id/webhook-secret",
    opts,
    wrap(async (req) => {
      const b = body(req);
      const overlapMs = typeof b.overlapHours === "number" ? b.overlapHours * 3_600_000 : 24 * 3_600_000;
      return { data: { secret: await ops.rotateSigningSecret(param(req, "id"), overlapMs) } };
    }),
  );
  app.put(
    "/admin/v1/accounts/:id/webhook-hmac-key",
    opts,
    wrap(async (req) => {
      const b = body(req);
      const v = b.hmacKey === undefined ? "generate" : (b.hmacKey as string | null);
      return { data: { hmacKey: await ops.setHmacKey(param(req, "id"), v) } };
    }),
  );

  // callback destination policy of one account (docs/webhooks.md)
  app.put(
    "/admin/v1/accounts/:id/callback-policy",
    opts,
    wrap(async (req) => {
      const b = body(req);
      return { data: await ops.setCallbackPolicy(param(req, "id"), { allow: b.allow, deny: b.deny }) };
    }),
  );

  // switches
  app.get(
    "/admin/v1/switches",
    opts,
    wrap(async () => ({ data: await ctx.store.getSwitches() })),
  );
  app.put(
    "/admin/v1/maintenance",
    opts,
    wrap(async (req) => {
      await ops.setMaintenance(body(req).on === true);
      ctx.switches.invalidate();
      return { data: await ctx.store.getSwitches() };
    }),
  );
  app.put(
    "/admin/v1/models/*",
    opts,
    wrap(async (req) => {
      await ops.setModelEnabled(decodeURIComponent(param(req, "*")), body(req).enabled !== false);
      ctx.switches.invalidate();
      return { data: await ctx.store.getSwitches() };
    }),
  );

  // tasks (any account)
  app.get(
    "/admin/v1/tasks/:id",
    opts,
    wrap(async (req) => {
      const t = await ctx.store.getTask(param(req, "id"));
      if (!t) throw new AdminError(404, "task_not_found", "no such task");
      return { data: { ...toRecordInfo(t), accountId: t.accountId, keyId: t.keyId, attempts: t.attempts, price: t.price } };
    }),
  );

  // deliveries
  app.get(
    "/admin/v1/deliveries",
    opts,
    wrap(async (req) => {
      const q = req.query as { accountId?: string; taskId?: string; state?: DeliveryState; since?: string; limit?: string };
      return {
        data: await ctx.store.listDeliveries({
          accountId: q.accountId,
          taskId: q.taskId,
          state: q.state,
          since: q.since ? parseTime(q.since) : undefined,
          limit: q.limit ? Number(q.limit) : 100,
        }),
      };
    }),
  );
  app.get(
    "/admin/v1/deliveries/:id",
    opts,
    wrap(async (req) => {
      const d = await ctx.store.getDelivery(param(req, "id"));
      if (!d) throw new AdminError(404, "delivery_not_found", "no such delivery");
      return { data: { ...d, attempts: await ctx.store.listDeliveryAttempts(d.id) } };
    }),
  );
  app.post(
    "/admin/v1/deliveries/:id/replay",
    opts,
    wrap(async (req) => {
      if (!(await ctx.store.replayDelivery(param(req, "id"), ctx.clock.now()))) {
        throw new AdminError(404, "delivery_not_found", "no such delivery");
      }
      ctx.dispatcher?.notify();
      return { data: { replayed: 1 } };
    }),
  );
  app.post(
    "/admin/v1/deliveries/replay-failed",
    opts,
    wrap(async (req) => {
      const b = body(req);
      if (b.since === undefined) throw new AdminError(400, "since_required", "since (ms or ISO time) is required");
      const n = await ctx.store.replayFailedDeliveries({
        accountId: typeof b.accountId === "string" ? b.accountId : undefined,
        since: parseTime(b.since),
        now: ctx.clock.now(),
      });
      ctx.dispatcher?.notify();
      return { data: { replayed: n } };
    }),
  );
  app.post(
    "/admin/v1/webhooks/test",
    opts,
    wrap(async (req) => {
      const b = body(req);
      if (typeof b.url !== "string" || typeof b.accountId !== "string") {
        throw new AdminError(400, "invalid_body", "url and accountId are required");
      }
      if (!ctx.dispatcher) throw new AdminError(409, "no_dispatcher", "this process does not run the callback dispatcher");
      await ops.account(b.accountId);
      return { data: await ctx.dispatcher.sendTestEvent({ url: b.url, accountId: b.accountId }) };
    }),
  );
}

function sha(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function parseTime(v: unknown): number {
  const n = typeof v === "number" ? v : /^\d+$/.test(String(v)) ? Number(v) : Date.parse(String(v));
  if (!Number.isFinite(n)) throw new AdminError(400, "invalid_time", "time must be ms since the epoch or an ISO date");
  return n;
}
