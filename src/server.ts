import type { FastifyInstance } from "fastify";
import type { Config } from "./config.js";
import { configWarnings } from "./config-warnings.js";
import { buildApp } from "./http/app.js";
import { createRuntime, type Runtime } from "./runtime.js";

/**
 * `peel serve`: builds the runtime and the app, listens, starts the background loops, and shuts
 * down gracefully on SIGTERM/SIGINT (stop accepting, let running tasks finish or hand them back).
 */
export async function serve(
  config: Readonly<Config>,
): Promise<{ app: FastifyInstance; runtime: Runtime; close: () => Promise<void> }> {
  const runtime = await createRuntime(config);
  const app = await buildApp(runtime.ctx);
  const { logger } = runtime;
  for (const warning of configWarnings(config)) logger.warn({ event: "config:warning" }, warning);
  await app.listen({ port: config.port, host: config.host });
  runtime.startBackground();
  logger.info(
    {
      event: "server:start",
      url: config.publicUrl,
      engine: runtime.engine.name,
      role: config.role,
      database: config.databaseUrl.startsWith("sqlite:") ? "sqlite" : "postgres",
      files: config.files.store,
    },
    `peel listening on ${config.host}:${(app.server.address() as { port: number }).port} — engine: ${runtime.engine.name}${runtime.engine.name === "sandbox" ? " (no Google key configured: images are sandbox placeholders)" : ""}`,
  );
  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      logger.info({ event: "server:stop" }, "shutting down");
      await app.close();
      await runtime.stop();
    })());
  return { app, runtime, close };
}
