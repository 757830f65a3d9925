import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from "fastify";
import type { Logger } from "pino";
import { jsonBody } from "../http/body.js";
import type { HttpMetrics, RouteSeries } from "./http-metrics.js";

declare module "fastify" {
  interface FastifyRequest {
    /** the task a request created or read, for its log line (set by the route when it knows it). */
    taskId?: string;
  }
}

/**
 * Per-request metrics and log lines, from one onResponse hook per route. The hook is attached when
 * the route is declared (onRoute), so the route pattern is a closure constant: no per-request
 * lookup of route options, which Fastify builds as a fresh object on each access.
 *
 * Log lines: one per request, at `info`, except on the polling hot path (recordInfo, the probes),
 * logged at `debug`: a client polls recordInfo every few seconds per task, so at `info` it would
 * outweigh every other line many times over while saying little (the task's own lines tell its
 * story). createTask stays at `info`: one line per accepted task is the audit trail of who asked
 * for what. Lines name the route pattern, never the raw URL (file URLs carry tokens and signatures).
 */
const DEBUG_ROUTES = [/\/recordInfo$/, /^\/healthz$/, /^\/readyz$/];

/** Label of requests that matched no route (404 from the not-found handler). */
export const UNMATCHED_ROUTE = "unmatched";

export function registerHttpHooks(app: FastifyInstance, opts: { metrics: HttpMetrics | null; logger: Logger }): void {
  const { metrics, logger } = opts;
  // A declared property keeps every request object the same shape (no hidden-class change when set).
  app.decorateRequest("taskId", undefined);
  app.addHook("onRoute", (route) => {
    const hook = responseHook(route.url ?? route.path, metrics, logger);
    route.onResponse = [...asArray(route.onResponse), hook];
  });
  // Route-level hooks do not run for requests no route matched; this one only handles those.
  const unmatched = responseHook(UNMATCHED_ROUTE, metrics, logger);
  app.addHook("onResponse", function (req, reply, done) {
    if (req.is404) return unmatched.call(this, req, reply, done);
    done();
  });
}

function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function responseHook(route: string, metrics: HttpMetrics | null, logger: Logger): onResponseHookHandler {
  const level = DEBUG_ROUTES.some((re) => re.test(route)) ? "debug" : "info";
  const levelValue = logger.levels.values[level];
  // One series per method seen on this route (usually one, plus HEAD for GET routes).
  let lastMethod = "";
  let lastSeries: RouteSeries | null = null;
  return (req, reply, done) => {
    const seconds = reply.elapsedTime / 1000;
    if (metrics) {
      const method = req.method;
      if (method !== lastMethod || lastSeries === null) {
        lastSeries = metrics.seriesFor(route, method);
        lastMethod = method;
      }
      lastSeries.record(reply.statusCode, seconds);
    }
    if (logger.levelVal <= levelValue) logRequest(logger, level, route, req, reply, seconds);
    done();
  };
}

function logRequest(
  logger: Logger,
  level: "debug" | "info",
  route: string,
  req: FastifyRequest,
  reply: FastifyReply,
  seconds: number,
): void {
  logger[level](
    {
      event: "http:request",
      reqId: req.id,
      method: req.method,
      route,
      status: reply.statusCode,
      ms: Math.round(seconds * 10_000) / 10,
      accountId: req.principal?.account.id,
      keyId: req.principal?.key.id,
      taskId: req.taskId ?? taskIdOf(req.query) ?? taskIdOf(jsonBody(req).value),
    },
    "request",
  );
}

/** `taskId` of a query string or JSON body (recordInfo, cancel), when it is a plain string. */
function taskIdOf(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const id = (v as { taskId?: unknown }).taskId;
  return typeof id === "string" && id.length <= 64 ? id : undefined;
}
