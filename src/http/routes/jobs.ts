import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { KieError } from "../../errors.js";
import { cancelTask, createTask, getRecord } from "../../services/tasks.js";
import { jsonBody, isJsonObject } from "../body.js";
import type { AppContext } from "../context.js";
import { kieOk } from "../envelope.js";
import { kieGuard, principalOf } from "../guards.js";
import {
  CancelBodySchema,
  CreateTaskBodySchema,
  RecordInfoQuerySchema,
  kieResponse,
  RecordInfoSchema,
  TaskIdDataSchema,
} from "../schemas.js";

/**
 * The Market jobs API and its legacy `playground` aliases (docs/kie-contract.md §4, §5).
 * createTask and cancel keep Fastify's validation off: their bodies are checked in kie's order with
 * kie's messages (validateCreateTask, services/tasks.ts), so their schemas only document, and
 * `req.body` stays the raw parsed body (http/body.ts). recordInfo's query is validated by its
 * schema, and the TypeBox type provider types `req.query` from it.
 */
export function jobsRoutes(app: FastifyInstance, ctx: AppContext): void {
  const createGuard = kieGuard(ctx, { bucket: "create", maintenance: true });
  const readGuard = kieGuard(ctx, { bucket: "read" });
  const anyGuard = kieGuard(ctx);

  for (const prefix of ["/api/v1/jobs", "/api/v1/playground"]) {
    const hidden = prefix !== "/api/v1/jobs";
    app.post(
      `${prefix}/createTask`,
      {
        onRequest: createGuard,
        bodyLimit: 1024 * 1024,
        schema: {
          hide: hidden,
          summary: "Create an image task",
          description:
            "Validates the body (first error only, kie messages), holds the price and stores the task in `waiting`. `code: 200` means accepted, never finished. Optional `Idempotency-Key` header (peel extension).",
          tags: ["jobs"],
          body: CreateTaskBodySchema,
          response: { 200: kieResponse(TaskIdDataSchema) },
        },
        // The schema documents the body; validation is validateCreateTask (same ModelSpecs) so
        // that messages and their order match kie exactly.
        validatorCompiler: () => () => true,
      },
      async (req, reply) => {
        const key = req.headers["idempotency-key"];
        const res = await createTask(ctx, principalOf(req), jsonBody(req), Array.isArray(key) ? key[0] : key);
        req.taskId = res.taskId; // for the request's log line
        if (res.replayed) reply.header("idempotency-replayed", "true");
        return kieOk(reply, { taskId: res.taskId });
      },
    );

    app.withTypeProvider<TypeBoxTypeProvider>().get(
      `${prefix}/recordInfo`,
      {
        onRequest: readGuard,
        schema: {
          hide: hidden,
          summary: "Read a task",
          tags: ["jobs"],
          querystring: RecordInfoQuerySchema,
          response: { 200: kieResponse(RecordInfoSchema) },
        },
        // A missing, empty or repeated taskId. Validation runs after onRequest, so auth and the
        // rate limit still come first (docs/kie-contract.md §5.3).
        schemaErrorFormatter: () => new KieError("bad_request_task_id"),
      },
      async (req, reply) => kieOk(reply, await getRecord(ctx, principalOf(req), req.query.taskId)),
    );

    app.post(
      `${prefix}/cancel`,
      {
        onRequest: anyGuard,
        schema: {
          hide: hidden,
          summary: "Cancel a task (peel extension)",
          description:
            "A task not yet generating fails at once with failCode `canceled` and its hold is released; a generating task is canceled as soon as the engine allows and is charged only if its result was delivered.",
          tags: ["jobs"],
          body: CancelBodySchema,
          response: { 200: kieResponse(RecordInfoSchema) },
        },
        validatorCompiler: () => () => true,
      },
      async (req, reply) => {
        const { value } = jsonBody(req);
        if (!isJsonObject(value)) throw new KieError("body_not_object");
        const taskId = value.taskId;
        if (typeof taskId !== "string" || !taskId) throw new KieError("task_id_required");
        return kieOk(reply, await cancelTask(ctx, principalOf(req), taskId));
      },
    );
  }
}
