import { createHash, timingSafeEqual } from "node:crypto";
import type { TObject } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from "fastify";
import { type InputPart, inputChecker } from "../../admin/input.js";
import { AdminOps } from "../../admin/operations.js";
import { ADMIN_ROUTES, type AdminRoute } from "../../admin/route-table.js";
import { PEEL_ERRORS, PeelError } from "../../errors.js";
import { jsonBody } from "../body.js";
import type { AppContext } from "../context.js";
import { sendError } from "../envelope.js";

/**
 * The operator API under /admin/v1, served from the route table (src/admin/route-table.ts), behind
 * PEEL_ADMIN_TOKEN (never an API key); every route answers 401 when no token is configured.
 * Params, query and body are checked against the entry's schemas before the operation runs.
 * Answers `{ data }`; errors are `{ error: { code, message, requestId } }` from PEEL_ERRORS.
 */
export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  const ops = new AdminOps({
    store: ctx.store,
    config: ctx.config,
    now: () => ctx.clock.now(),
    onKeysChanged: () => ctx.auth.forget(),
    onSwitchesChanged: () => ctx.switches.invalidate(),
    onDeliveriesQueued: () => ctx.dispatcher?.notify(),
    sendTestEvent: ctx.dispatcher ? (input) => ctx.dispatcher!.sendTestEvent(input) : undefined,
  });
  const tokenHash = ctx.config.adminToken ? sha(ctx.config.adminToken) : null;
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    if (!tokenHash || !m || !timingSafeEqual(sha(m[1]), tokenHash)) return sendError(reply, "peel", PEEL_ERRORS.unauthorized);
  };
  for (const route of Object.values(ADMIN_ROUTES)) serve(app, route as AdminRoute, ops, guard);
}

function serve<P extends TObject, Q extends TObject, B extends TObject>(
  app: FastifyInstance,
  route: AdminRoute<P, Q, B>,
  ops: AdminOps,
  guard: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
): void {
  const takesBody = route.method !== "GET" && route.method !== "DELETE";
  app.route({
    method: route.method,
    url: route.path,
    onRequest: guard,
    // The body parsers (body.ts) hand over text + parsed JSON; the schema checks the JSON.
    preValidation: takesBody ? unwrapJsonBody : undefined,
    validatorCompiler,
    config: { envelope: "peel" },
    schema: {
      tags: ["admin"],
      security: [{ admin: [] }],
      summary: route.summary,
      params: route.params,
      querystring: route.query,
      ...(takesBody ? { body: route.body } : {}),
    },
    handler: async (req, reply) => {
      // validatorCompiler has checked (and converted) each part against the schemas `run` is typed by.
      const input = { params: req.params, query: req.query, body: req.body ?? {} } as Parameters<typeof route.run>[1];
      return reply.code(route.status).send({ data: await route.run(ops, input) });
    },
  });
}

const PARTS: Record<string, InputPart> = { params: "params", querystring: "query", body: "body" };

/** Fastify's validator for admin routes: the same check the CLI runs in-process (admin/input.ts). */
const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const check = inputChecker(schema as TObject, PARTS[httpPart ?? "body"] ?? "body");
  return (value) => check(value);
};

/** An absent or empty body is `{}`; text that is not JSON is refused. */
async function unwrapJsonBody(req: FastifyRequest): Promise<void> {
  const { raw, value } = jsonBody(req);
  if (raw.trim() === "") req.body = {};
  else if (value === undefined) throw new PeelError("invalid_request", "body: not valid JSON");
  else req.body = value;
}

function sha(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}
