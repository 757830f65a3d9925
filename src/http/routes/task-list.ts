import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { toRecordInfo } from "../../domain/record.js";
import type { TaskState } from "../../domain/types.js";
import type { AppContext } from "../context.js";
import { kieOk } from "../envelope.js";
import { kieGuard, principalOf } from "../guards.js";
import { queryParser } from "../query-schema.js";
import { kieResponse, RecordInfoSchema } from "../schemas.js";

const TaskListQuery = Type.Object({
  pageNum: Type.Optional(Type.String({ pattern: "^[1-9][0-9]{0,6}$", description: "1-based page, default 1" })),
  pageSize: Type.Optional(Type.String({ pattern: "^([1-9]|[1-9][0-9]|100)$", description: "1–100, default 20" })),
  state: Type.Optional(
    Type.Union(
      ["waiting", "queuing", "generating", "success", "fail"].map((s) => Type.Literal(s)),
      { description: "only tasks in this state" },
    ),
  ),
  model: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9._/-]{1,100}$", description: "only tasks of this model" })),
});

const TaskPageSchema = Type.Object({
  pageNum: Type.Integer(),
  pageSize: Type.Integer(),
  total: Type.Integer({ description: "tasks that match, on every page" }),
  list: Type.Array(RecordInfoSchema),
});

/**
 * GET /api/v1/jobs/list (peel extension): the key's account's tasks, newest first, each as the
 * recordInfo `data` object, in the kie envelope. Bad parameters answer kie 422 with the reason.
 */
export function taskListRoutes(app: FastifyInstance, ctx: AppContext): void {
  const guard = kieGuard(ctx, { bucket: "read" });
  const parse = queryParser(TaskListQuery, {
    pageNum: "page_num_invalid",
    pageSize: "page_size_invalid",
    state: "state_filter_invalid",
    model: "model_filter_invalid",
  });
  app.get(
    "/api/v1/jobs/list",
    {
      onRequest: guard,
      schema: {
        summary: "List tasks (peel extension)",
        description:
          "This account's tasks, newest first, as recordInfo `data` objects. Filters: `state`, `model`. Tasks past the record retention (60 days) are left out, as recordInfo leaves them out.",
        tags: ["jobs"],
        querystring: TaskListQuery,
        response: { 200: kieResponse(TaskPageSchema) },
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const q = parse(req.query);
      const pageNum = q.pageNum ? Number(q.pageNum) : 1;
      const pageSize = q.pageSize ? Number(q.pageSize) : 20;
      const { total, tasks } = await ctx.store.listTasks({
        accountId: principalOf(req).account.id,
        state: q.state as TaskState | undefined,
        model: q.model,
        offset: (pageNum - 1) * pageSize,
        limit: pageSize,
      });
      const retainedSince = ctx.clock.now() - ctx.config.taskRetentionMs;
      const list = tasks.filter((t) => t.createTime >= retainedSince).map(toRecordInfo);
      return kieOk(reply, { pageNum, pageSize, total, list });
    },
  );
}
