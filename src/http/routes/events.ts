import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isTerminal, type TaskState } from "../../domain/types.js";
import { KieError } from "../../errors.js";
import { eventIdOf, isNewer, type TaskView } from "../../events/task-watch.js";
import { getRecord } from "../../services/tasks.js";
import type { AppContext } from "../context.js";
import { kieGuard, principalOf } from "../guards.js";

/** taskIds one stream may watch. */
export const MAX_STREAM_TASKS = 100;
/** open streams per account; one more answers 429. */
const MAX_STREAMS_PER_ACCOUNT = 50;
/** a stream is closed after this long even if a task is unfinished; the client resumes. */
const MAX_STREAM_MS = 30 * 60_000;
/** the id of the last event of a finished stream; resuming from it answers 204 (EventSource stops). */
export const END_EVENT_ID = "end";

/**
 * GET /api/v1/jobs/events (peel extension): task state as server-sent events, so a client sees
 * each change as it happens instead of polling recordInfo. Every error before the stream starts
 * answers in the kie envelope, like recordInfo (another account's task reads as unknown).
 *
 * The stream: `retry: 3000`; then for each task its current state, and one `state` event per change,
 * `data` = the recordInfo `data` object (+ `queuePosition`, `etaMs` while it waits); `: heartbeat`
 * comments every PEEL_EVENTS_HEARTBEAT_MS; once every task is terminal an `end` event (id `end`)
 * and the stream closes. Resuming (`Last-Event-ID`) sends the current states again; after `end`
 * it answers 204 No Content, which stops a browser's EventSource from reconnecting.
 */
export function eventsRoutes(app: FastifyInstance, ctx: AppContext): void {
  const guard = kieGuard(ctx, { bucket: "read" });
  const openPerAccount = new Map<string, number>();
  const streams = new Set<() => void>();
  app.addHook("onClose", async () => {
    for (const end of [...streams]) end();
  });
  // A draining process ends its streams at once (clients resume elsewhere) instead of holding the drain.
  ctx.ops?.onDrain(() => {
    for (const end of [...streams]) end();
  });

  app.get(
    "/api/v1/jobs/events",
    {
      onRequest: guard,
      schema: {
        summary: "Watch tasks as server-sent events (peel extension)",
        description:
          "`text/event-stream`. `taskId=ID` or `taskIds=a,b,…` (up to 100). One `state` event per change of a task; its `data` is the recordInfo `data` object plus `queuePosition` (tasks ahead) and `etaMs` while the task waits. The current state of every task is sent first (also on resume with `Last-Event-ID`). Heartbeat comments every 15 s. After every task reached `success` or `fail`: an `end` event with id `end`, then the stream closes; resuming from `end` answers 204. Errors before the stream starts answer in the kie envelope, as recordInfo does.",
        tags: ["jobs"],
        querystring: {
          type: "object",
          properties: {
            taskId: { type: "string", description: "one task id" },
            taskIds: { type: "string", description: "comma-separated task ids, at most 100" },
          },
        },
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const ids = taskIdsOf(req.query as Record<string, unknown>);
      if (req.headers["last-event-id"] === END_EVENT_ID) return reply.code(204).send();
      const principal = principalOf(req);
      // Ownership and retention exactly as recordInfo: unknown, foreign and expired read the same.
      for (const id of ids) await getRecord(ctx, principal, id);
      const accountId = principal.account.id;
      const open = openPerAccount.get(accountId) ?? 0;
      if (open >= MAX_STREAMS_PER_ACCOUNT) throw new KieError("rate_limited", { retryAfter: 5 });
      openPerAccount.set(accountId, open + 1);
      stream(req, reply, ids, () => {
        const n = (openPerAccount.get(accountId) ?? 1) - 1;
        if (n > 0) openPerAccount.set(accountId, n);
        else openPerAccount.delete(accountId);
      });
    },
  );

  function stream(req: FastifyRequest, reply: FastifyReply, ids: string[], released: () => void): void {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
      "x-request-id": req.id,
    });
    // a stream the client already closed takes no more writes (and its watcher is being removed)
    const send = (text: string) => {
      if (!res.destroyed && !res.writableEnded) res.write(text);
    };
    send("retry: 3000\n\n");
    const sent = new Map<string, TaskView>();
    const done = new Set<string>();
    let ended = false;
    const heartbeat = setInterval(() => send(": heartbeat\n\n"), ctx.config.events.heartbeatMs);
    const lifetime = setTimeout(() => end(false), MAX_STREAM_MS);
    const unwatch = ctx.taskWatch.watch(ids, {
      onView(view) {
        if (ended || !isNewer(sent.get(view.taskId), view)) return;
        sent.set(view.taskId, view);
        send(`id: ${eventIdOf(view)}\nevent: state\ndata: ${JSON.stringify(view)}\n\n`);
        if (isTerminal(view.state as TaskState)) done.add(view.taskId);
        if (done.size === ids.length) end(true);
      },
    });
    function end(finished: boolean): void {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      clearTimeout(lifetime);
      unwatch();
      streams.delete(closeNow);
      released();
      if (finished) send(`id: ${END_EVENT_ID}\nevent: end\ndata: ${JSON.stringify({ taskIds: ids })}\n\n`);
      res.end();
    }
    const closeNow = () => end(false);
    streams.add(closeNow);
    res.on("close", closeNow);
  }
}

/** `taskId` and/or `taskIds` (comma-separated; repeated parameters too), de-duplicated, in order. */
function taskIdsOf(q: Record<string, unknown>): string[] {
  const parts: string[] = [];
  for (const name of ["taskId", "taskIds"]) {
    const v = q[name];
    for (const s of Array.isArray(v) ? v : [v]) if (typeof s === "string") parts.push(...s.split(","));
  }
  const ids = [...new Set(parts.map((s) => s.trim()).filter(Boolean))];
  if (ids.length === 0) throw new KieError("bad_request_task_id");
  if (ids.length > MAX_STREAM_TASKS) throw new KieError("task_ids_too_many");
  return ids;
}
