import http from "node:http";
import type { AddressInfo } from "node:net";
import type { PeelMetrics } from "./metrics.js";

/**
 * The metrics listener: `GET /metrics` in Prometheus text format on its own host and port
 * (PEEL_METRICS_HOST, PEEL_METRICS_PORT), never on the API port, so metrics stay off the public
 * interface. Nothing else is served.
 */
export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(metrics: PeelMetrics, host: string, port: number): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: metrics are at GET /metrics\n");
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`collecting metrics failed: ${String(err)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === "EADDRINUSE" ? "is in use" : err.code === "EACCES" ? "is not allowed" : err.message;
      reject(
        new Error(`metrics listener: ${host}:${port} ${why} (set PEEL_METRICS_PORT to a free port, or 0 to turn metrics off)`, {
          cause: err,
        }),
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  metrics.collectProcessMetrics();
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
