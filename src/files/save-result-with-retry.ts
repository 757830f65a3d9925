import type { Logger } from "pino";
import type { FileService } from "./file-service.js";
import { isStorageFull, storageErrorLine } from "./storage-full.js";

/**
 * Stores a finished task's image, waiting out a full disk (or database, or bucket) instead of
 * failing the task. The image is already paid for in engine time; losing it to a transient full
 * disk would throw that away and, worse, used to leave the task `generating` until its lease ran
 * out. Here the write is retried with a short capped backoff while the worker keeps renewing the
 * task's lease, so the task proceeds within about a second of space coming back. The retries end
 * only when the run is aborted — deadline, cancel, lost lease or shutdown — which the worker
 * settles as it does for any other abort. Any other error is thrown at once.
 */
export interface SaveResultRetryOptions {
  /** the run's signal: its abort (deadline, cancel, lease lost, shutdown) ends the wait. */
  signal: AbortSignal;
  log: Pick<Logger, "warn" | "info">;
  /** first wait, ms. @defaultValue 100 */
  firstDelayMs?: number;
  /** longest wait between attempts, ms. @defaultValue 1000 */
  maxDelayMs?: number;
}

export async function saveResultWithRetry(
  files: FileService,
  input: Parameters<FileService["saveResult"]>[0],
  opts: SaveResultRetryOptions,
): Promise<string> {
  const first = opts.firstDelayMs ?? 100;
  const max = opts.maxDelayMs ?? 1000;
  let failures = 0;
  let since = 0;
  for (;;) {
    opts.signal.throwIfAborted();
    try {
      const url = await files.saveResult(input);
      if (failures > 0) {
        opts.log.info(
          { event: "storage:recovered", attempts: failures + 1, waitedMs: Date.now() - since },
          "result stored after storage was full",
        );
      }
      return url;
    } catch (err) {
      if (!isStorageFull(err)) throw err;
      files.storageStatus.reportFull("result", err);
      if (failures === 0) {
        since = Date.now();
        opts.log.warn(
          { event: "storage:full", error: storageErrorLine(err) },
          "storage is full: keeping the result and retrying the write",
        );
      }
      failures++;
      await abortableSleep(Math.min(max, first * 2 ** (failures - 1)), opts.signal);
    }
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
