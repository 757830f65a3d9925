import type { Server } from "node:http";

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
 * Stops accepting connections and resolves when every request in flight has been answered, or
 * after `graceMs` (whatever is still open is then the caller's to cut, e.g. Fastify's close()).
 * Added only at drain time, the request listener costs the hot path nothing before.
 */
export async function drainHttp(server: Server, graceMs: number): Promise<{ drained: boolean }> {
  // Runs before Fastify's own listener: every answer from now on closes its connection.
  server.prependListener("request", (_req, res) => {
    res.shouldKeepAlive = false;
  });
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
