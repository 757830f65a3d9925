import type { FastifyInstance } from "fastify";
import type { AppContext } from "../http/context.js";
import { PEEL_VERSION } from "../version.js";

/**
 * Probes. /healthz is liveness: the process answers HTTP (nothing else is checked, so a database
 * outage does not get every process restarted). /readyz is readiness: database, migrations, file
 * store and drain state (readiness.ts), 200 or 503 with the reasons.
 */
export function opsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get("/healthz", { schema: { hide: true } }, async () => ({
    ok: true,
    version: PEEL_VERSION,
    engine: ctx.engineName,
    instance: ctx.ops?.instanceId,
  }));
  const ops = ctx.ops;
  if (!ops) return;
  app.get("/readyz", { schema: { hide: true } }, async (_req, reply) => {
    const report = await ops.readiness.check();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
}
