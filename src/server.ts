import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Config } from "./config.js";
import { configWarnings } from "./config-warnings.js";
import { buildApp } from "./http/app.js";
import { drainHttp, trackConnections } from "./ops/drain.js";
import { startMetricsServer, type MetricsServer } from "./ops/metrics-server.js";
import { createRuntime, type Runtime } from "./runtime.js";

/**
 * `peel serve`: builds the runtime and the app, listens (API, and metrics on their own port),
 * starts the background loops, and drains gracefully on close (SIGTERM/SIGINT, docs/operations.md):
 * /readyz turns 503 at once, the listener stops accepting and requests in flight finish, the
 * worker stops claiming and its running tasks get `shutdownGraceMs` before they are handed back,
 * callbacks in flight finish or are re-queued, and only then are the database and files closed.
 */
export async function serve(config: Readonly<Config>): Promise<{
  app: FastifyInstance;
  runtime: Runtime;
  metricsServer: MetricsServer | null;
  close: () => Promise<void>;
}> {
  const runtime = await createRuntime(config);
  const { logger } = runtime;
  for (const warning of configWarnings(config)) logger.warn({ event: "config:warning" }, warning);
  let app: FastifyInstance | null = null;
  let metricsServer: MetricsServer | null = null;
  let sockets: Set<Socket> | undefined;
  try {
    app = await buildApp(runtime.ctx);
    if (runtime.metrics) metricsServer = await startMetricsServer(runtime.metrics, config.metrics.host, config.metrics.port);
    sockets = trackConnections(app.server);
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await metricsServer?.close();
    await app?.close();
    await runtime.stop(0);
    throw err;
  }
  runtime.startBackground();
  logger.info(
    {
      event: "server:start",
      url: config.publicUrl,
      engine: runtime.engine.name,
      role: config.role,
      database: config.databaseUrl.startsWith("sqlite:") ? "sqlite" : "postgres",
      files: config.files.store,
      metrics: metricsServer ? `http://${config.metrics.host}:${metricsServer.port}/metrics` : "off",
    },
    `peel listening on ${config.host}:${(app.server.address() as { port: number }).port} — engine: ${runtime.engine.name}${runtime.engine.name === "sandbox" ? " (no Google key configured: images are sandbox placeholders)" : ""}`,
  );
  const api = app;
  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      const graceMs = config.shutdownGraceMs;
      logger.info({ event: "server:drain", graceMs }, "draining: not ready, finishing requests, tasks and callbacks");
      const started = Date.now();
      runtime.lifecycle.beginDrain();
      const [http] = await Promise.all([drainHttp(api.server, graceMs, sockets), runtime.drain(graceMs)]);
      if (!http.drained) logger.warn({ event: "server:drain:http" }, "requests still open after the grace period are cut");
      await api.close();
      await runtime.stop();
      await metricsServer?.close();
      logger.info({ event: "server:stop", ms: Date.now() - started }, "stopped");
    })());
  return { app, runtime, metricsServer, close };
}
