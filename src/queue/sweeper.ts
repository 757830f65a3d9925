import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { TaskRecord } from "../domain/types.js";
import { FAIL_REASONS } from "../errors.js";
import type { FileRecordStore, Store } from "../store/store.js";
import type { FileStore } from "../files/file-store.js";
import { sweepExpiredFiles } from "../files/sweeper.js";
import { callbackOnSettle } from "../services/settlement.js";
import type { CallbackPolicy } from "../webhooks/callback-policy.js";
import { Waker } from "./backoff.js";

/**
 * Housekeeping on a timer: fails tasks past their deadline (docs/kie-contract.md §6.1: "Generation timed
 * out"), forgets expired idempotency keys, and deletes files past retention.
 */
export class Sweeper {
  private waker = new Waker();
  private stopping = false;
  private done: Promise<void> | null = null;
  private lastFileSweep = 0;

  constructor(
    private o: {
      store: Store & FileRecordStore;
      fileStore: FileStore;
      clock: Clock;
      logger: Logger;
      intervalMs: number;
      fileSweepIntervalMs: number;
      unmeteredBalance: number;
      callbackPolicy: CallbackPolicy;
      /** called after each task the sweeper settles (wakes the callback dispatcher, counts it in metrics). */
      onSettled?: (task: TaskRecord) => void;
      publish?: (taskId: string, state: "fail") => void;
    },
  ) {}

  start(): void {
    this.done ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.waker.wake();
    await this.done;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.runOnce();
      } catch (err) {
        this.o.logger.error({ err, event: "sweeper:error" }, "sweep failed");
      }
      await this.waker.sleep(this.o.intervalMs);
    }
  }

  /** One pass; returns how many tasks it timed out. */
  async runOnce(): Promise<number> {
    const { store, clock } = this.o;
    const now = clock.now();
    let failed = 0;
    for (const task of await store.listOverdueTasks(now, 100)) {
      const account = await store.getAccount(task.accountId);
      const r = FAIL_REASONS.timed_out;
      const settled = await store.failTask(
        { taskId: task.id, workerId: null, now, failCode: r.failCode, failMsg: r.failMsg },
        callbackOnSettle({ account, unmeteredBalance: this.o.unmeteredBalance, now, policy: this.o.callbackPolicy }),
      );
      if (settled) {
        failed++;
        this.o.publish?.(task.id, "fail");
        this.o.onSettled?.(settled);
      }
    }
    if (now - this.lastFileSweep >= this.o.fileSweepIntervalMs) {
      this.lastFileSweep = now;
      await store.purgeIdempotencyKeys(now);
      await sweepExpiredFiles({ records: store, store: this.o.fileStore, now, batch: 500, logger: this.o.logger });
    }
    return failed;
  }
}
