import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { KieError } from "../../errors.js";
import { creditsNumber } from "../../services/settlement.js";
import type { AppContext } from "../context.js";
import { kieOk } from "../envelope.js";
import { kieGuard, principalOf } from "../guards.js";
import { queryParser } from "../query-schema.js";

const LedgerQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: "^([1-9]|[1-9][0-9]|1[0-9][0-9]|200)$", description: "1–200, default 50" })),
});
const DeliveriesQuery = Type.Object({ taskId: Type.Optional(Type.String()) });

/**
 * The account's own activity (peel extensions, kie envelope): its credit ledger and the callback
 * deliveries of one of its tasks. Used by the console; an account sees only its own rows.
 */
export function accountRoutes(app: FastifyInstance, ctx: AppContext): void {
  const guard = kieGuard(ctx, { bucket: "read" });
  const ledgerQuery = queryParser(LedgerQuery, { limit: "limit_invalid" });

  app.get(
    "/api/v1/chat/credit/ledger",
    {
      onRequest: guard,
      schema: {
        summary: "Credit ledger (peel extension)",
        description:
          "The account's credit movements, newest first: `grant` (+), `hold` (− the price at createTask), `release` (+ on fail or cancel) and `capture` (0: the hold becomes the charge on success).",
        tags: ["common"],
        querystring: LedgerQuery,
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const q = ledgerQuery(req.query);
      const { account } = principalOf(req);
      const entries = await ctx.store.listLedger(account.id, { limit: q.limit ? Number(q.limit) : 50 });
      return kieOk(
        reply,
        entries.map((e) => ({
          id: e.id,
          taskId: e.taskId,
          kind: e.kind,
          amount: creditsNumber(e.amount),
          note: e.note,
          createdAt: e.createdAt,
        })),
      );
    },
  );

  app.get(
    "/api/v1/jobs/deliveries",
    {
      onRequest: guard,
      schema: {
        summary: "A task's callback deliveries (peel extension)",
        description: "Each callback of the task with its state and every attempt (time, HTTP status, latency, error).",
        tags: ["jobs"],
        querystring: DeliveriesQuery,
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      const taskId = typeof q.taskId === "string" ? q.taskId : "";
      if (!taskId) throw new KieError("bad_request_task_id");
      const { account } = principalOf(req);
      if (!(await ctx.store.getTask(taskId, account.id))) throw new KieError("record_not_found");
      const deliveries = await ctx.store.listDeliveries({ accountId: account.id, taskId, limit: 20 });
      const data = [];
      for (const d of deliveries) {
        const attempts = await ctx.store.listDeliveryAttempts(d.id);
        data.push({
          id: d.id,
          taskId: d.taskId,
          url: d.url,
          state: d.state,
          attemptCount: d.attemptCount,
          nextAttemptAt: d.nextAttemptAt,
          createdAt: d.createdAt,
          updatedAt: d.updatedAt,
          lastStatus: d.lastStatus,
          lastError: d.lastError,
          attempts: attempts.map((a) => ({
            attemptedAt: a.attemptedAt,
            statusCode: a.statusCode,
            latencyMs: a.latencyMs,
            error: a.error,
          })),
        });
      }
      return kieOk(reply, data);
    },
  );
}
