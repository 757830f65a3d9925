import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * Runs SQLite's WAL checkpoints on a worker thread with its own connection.
 *
 * A checkpoint copies the WAL back into the database file and fsyncs it. Left to SQLite's
 * automatic checkpoint, that happens inside whichever COMMIT crosses the threshold — on the event
 * loop, in the middle of a createTask — and shows up as 50–150 ms stalls and most of createTask's
 * cost (bench/README.md). A PASSIVE checkpoint never blocks writers or readers, so doing it from a
 * second connection on another thread keeps the WAL short without touching the request path.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.filename);
db.pragma("busy_timeout = 1000");
const tick = () => {
  try { db.pragma("wal_checkpoint(PASSIVE)"); } catch (e) { /* busy or closing: try next tick */ }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m === "stop") {
    clearInterval(timer);
    try { db.pragma("wal_checkpoint(PASSIVE)"); db.close(); } catch (e) {}
    parentPort.postMessage("stopped");
  }
});
`;

export class BackgroundCheckpointer {
  private worker: Worker;

  constructor(filename: string, intervalMs = 1000) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { filename, intervalMs, driver } });
    this.worker.unref();
    // A failed checkpointer only means SQLite's own (much larger) autocheckpoint takes over.
    this.worker.on("error", () => {});
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      this.worker.once("message", done);
      this.worker.once("exit", done);
      this.worker.postMessage("stop");
      setTimeout(done, 2000).unref();
    });
    await this.worker.terminate();
  }
}
