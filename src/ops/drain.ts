import type { Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Graceful drain on SIGTERM/SIGINT (docs/operations.md): readiness turns 503 at once, the listener
 * stops accepting, requests in flight finish (each answered with `Connection: close`), and idle
 * keep-alive connections are closed instead of being waited out (Node keeps them up to the
 * keep-alive timeout otherwise). Background work drains beside it (Runtime.drain).
 */
export class Lifecycle {
  private drainingSince: number | null = null;
  private readonly listeners: (() => void)[] = [];

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  /**
   * Runs `fn` when the drain begins: for work that would otherwise hold the drain for its whole
   * grace period, such as long-lived event streams (clients reconnect, to another process).
   */
  onDrain(fn: () => void): void {
    if (this.draining) fn();
    else this.listeners.push(fn);
  }

  /** Marks the process as draining; /readyz answers 503 from now on. Returns false if it already was. */
  beginDrain(): boolean {
    if (this.drainingSince !== null) return false;
    this.drainingSince = Date.now();
    for (const fn of this.listeners.splice(0)) fn();
    return true;
  }
}

/**
 * Keeps the server's open connections (a Set update per connection, nothing per request), so that a
 * drain can mark the answers already being prepared to close their connection. Call before listening.
 */
export function trackConnections(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * Stops accepting connections and resolves when every request in flight has been answered, or
 * after `graceMs` (whatever is still open is then the caller's to cut, e.g. Fastify's close()).
 * From the drain on, every answer closes its connection: those already in flight through the
 * tracked sockets, later ones (on connections that were open) through a request listener added
 * only now, so the hot path pays nothing for it before.
 */
export async function drainHttp(server: Server, graceMs: number, sockets?: Set<Socket>): Promise<{ drained: boolean }> {
  // Runs before Fastify's own listener.
  server.prependListener("request", (_req, res) => {
    res.shouldKeepAlive = false;
  });
  // `_httpMessage` is the response a socket is serving (the field Node's own http code and
  // connection-draining libraries use); without it, the sweep below still closes the connection.
  for (const socket of sockets ?? []) {
    const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (res && !res.headersSent) res.shouldKeepAlive = false;
  }
  const closed = new Promise<boolean>((resolve) => {
    if (!server.listening) return resolve(true);
    server.close(() => resolve(true));
  });
  // Connections idle right now, and those that go idle between requests, are closed promptly.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  try {
    return { drained: await Promise.race([closed, timeout]) };
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }
}
