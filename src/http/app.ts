import multipart from "@fastify/multipart";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { newId } from "../ids.js";
import { registerHttpHooks } from "../ops/http-hooks.js";
import { opsRoutes } from "../ops/routes.js";
import { PEEL_VERSION } from "../version.js";
import { registerBodyParsers } from "./body.js";
import type { AppContext } from "./context.js";
import { clientErrorHandler, frameworkErrors, registerErrorHandlers } from "./error-handler.js";
import { adminRoutes } from "./routes/admin.js";
import { accountRoutes } from "./routes/account.js";
import { commonRoutes } from "./routes/common.js";
import { consoleRoutes } from "./routes/console.js";
import { eventsRoutes } from "./routes/events.js";
import { fileRoutes } from "./routes/files.js";
import { jobsRoutes } from "./routes/jobs.js";
import { taskListRoutes } from "./routes/task-list.js";
import { uploadRoutes } from "./routes/uploads.js";

/**
 * Builds the HTTP app: kie routes, file URLs, uploads, the admin API, OpenAPI and docs. It does
 * not listen (server.ts does) so tests drive it with inject() or a real port.
 */
export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: ctx.logger as unknown as FastifyBaseLogger,
    // Per-request log lines cost throughput on the polling hot path; errors are logged by the
    // error handler and task events by the worker.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger (a measurable share of a recordInfo): the few lines logged in a
    // request (errors) carry the request id themselves.
    childLoggerFactory: (logger) => logger,
    genReqId: () => newId("req"),
    requestIdHeader: false,
    bodyLimit: 1024 * 1024,
    // 4K generations never run inside a request; these only bound slow clients.
    requestTimeout: 120_000,
    forceCloseConnections: true,
    return503OnClosing: true,
    // Requests broken below the routes still answer in the kie envelope (error-handler.ts).
    frameworkErrors,
    clientErrorHandler,
  });

  registerHttpHooks(app, { metrics: ctx.ops?.metrics?.http ?? null, logger: ctx.logger });
  // Synchronous hook: an async one costs a promise per request on the polling hot path.
  app.addHook("onRequest", (req, reply, done) => {
    reply.header("x-request-id", req.id);
    done();
  });

  registerBodyParsers(app);
  registerErrorHandlers(app, ctx.files.storageStatus);

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "peel — kie.ai-compatible Nano Banana Pro API",
        version: PEEL_VERSION,
        description:
          "Wire-compatible with kie.ai's task API for `nano-banana-pro` and its sibling models. Business errors answer HTTP 200 with a non-200 body `code`; only rate limits (429), unknown routes (404) and faults (500) change the HTTP status.",
      },
      servers: [{ url: ctx.config.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "An API key from `peel keys create`" },
          admin: { type: "http", scheme: "bearer", description: "PEEL_ADMIN_TOKEN" },
        },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: "jobs", description: "Create and read image tasks" },
        { name: "common", description: "Credits and download links" },
        { name: "uploads", description: "Upload input images" },
        { name: "admin", description: "Operator API (PEEL_ADMIN_TOKEN)" },
      ],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    staticCSP: true,
    // swagger-ui's default CSP has `upgrade-insecure-requests`: on a plain-http deployment at any
    // host but localhost (a LAN name, a compose service) the browser then fetches every asset over
    // https and /docs stays blank. Swagger UI also injects a <style> element, which `style-src`
    // without 'unsafe-inline' blocks (a console error on every load).
    transformStaticCSP: (header: string) =>
      header
        .replace(/\s*upgrade-insecure-requests;?/, "")
        .replace("style-src 'self' https:", "style-src 'self' 'unsafe-inline' https:"),
  });

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  opsRoutes(app, ctx);

  jobsRoutes(app, ctx);
  eventsRoutes(app, ctx);
  taskListRoutes(app, ctx);
  accountRoutes(app, ctx);
  consoleRoutes(app, ctx);
  commonRoutes(app, ctx);
  // multipart lives only beside the upload routes: its hooks would otherwise run on every request.
  await app.register(async (uploads) => {
    await uploads.register(multipart, { throwFileSizeLimit: true });
    uploadRoutes(uploads, ctx);
  });
  fileRoutes(app, ctx);
  adminRoutes(app, ctx);
  return app;
}
