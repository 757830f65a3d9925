import http from "node:http";
import type { AddressInfo } from "node:net";

/** A real HTTP server on a loopback address that records every request it receives. */
export interface TestServer {
  /** `http://<host>:<port>` without a trailing slash. */
  origin: string;
  port: number;
  /** `METHOD path` of every request received, in arrival order. */
  hits: string[];
  /** request headers, parallel to hits. */
  headers: http.IncomingHttpHeaders[];
  server: http.Server;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export async function startServer(handler: Handler, host = "127.0.0.1"): Promise<TestServer> {
  const hits: string[] = [];
  const headers: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    headers.push(req.headers);
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    origin,
    port,
    hits,
    headers,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Starts a server, or returns null when the address cannot be bound here (e.g. no IPv6). */
export async function tryStartServer(handler: Handler, host: string): Promise<TestServer | null> {
  try {
    return await startServer(handler, host);
  } catch {
    return null;
  }
}
