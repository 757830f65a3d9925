import type { Logger } from "pino";
import { toRecordInfo, type RecordInfo } from "../domain/record.js";
import { isTerminal, type TaskRecord, type TaskState } from "../domain/types.js";
import type { EventBus, TaskEvent } from "./bus.js";

/** The recordInfo `data` object plus, while the task waits, where it stands in line. */
export interface TaskView extends RecordInfo {
  /** tasks ahead of this one (0 = next); only while waiting or queuing. */
  queuePosition?: number;
  /** a rough estimate of the time until the result, ms; only while waiting or queuing. */
  etaMs?: number;
}

export interface Watcher {
  onView(view: TaskView): void;
}

export interface TaskWatchOptions {
  bus: EventBus;
  getTask(id: string): Promise<TaskRecord | null>;
  /** tasks ahead of this one in the queue, or null when it is not waiting/queuing. */
  queuePosition?(id: string): Promise<number | null>;
  /** tasks generating at once per worker process: the divisor of the ETA. */
  slots: number;
  logger: Logger;
  /**
   * Re-read every watched task this often, for a deployment whose events cannot reach this process
   * (SQLite with the API and the worker in separate processes and no Redis). 0 = never.
   */
  resyncMs?: number;
}

const RANK: Record<TaskState, number> = { waiting: 0, queuing: 1, generating: 2, success: 3, fail: 3 };
/** the starting guess of a generation's length; replaced by what this process observes. */
const DEFAULT_GENERATION_MS = 20_000;
/** queue positions are re-read at most this often while other tasks move. */
const POSITION_REFRESH_MS = 500;

/**
 * Fans task events out to the SSE streams of this process. One bus subscription per process; on
 * an event for a watched task the task is read once from the store (reads of one task never
 * overlap: a newer event during a read schedules one more read) and the view goes to every stream
 * watching it. No stream ever polls the database. While a watched task waits, its queue position
 * is re-read when another task starts or ends (throttled), since that is what moves the line.
 */
export class TaskWatchHub {
  private watchers = new Map<string, Set<Watcher>>();
  private reading = new Map<string, { again: boolean }>();
  private last = new Map<string, TaskRecord>();
  private unsubscribe: (() => void) | null = null;
  private positionTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private generationMs = DEFAULT_GENERATION_MS;

  constructor(private o: TaskWatchOptions) {}

  /** Starts watching; the current state of each task is read and delivered right away. */
  watch(taskIds: readonly string[], w: Watcher): () => void {
    this.unsubscribe ??= this.o.bus.subscribe({ onEvent: (e) => this.onEvent(e), onGap: () => this.refreshAll() });
    if (this.o.resyncMs && !this.resyncTimer) {
      this.resyncTimer = setInterval(() => this.refreshAll(), this.o.resyncMs);
      this.resyncTimer.unref();
    }
    for (const id of taskIds) {
      const set = this.watchers.get(id) ?? new Set<Watcher>();
      this.watchers.set(id, set);
      set.add(w);
      this.refresh(id);
    }
    return () => {
      for (const id of taskIds) {
        const set = this.watchers.get(id);
        set?.delete(w);
        if (set?.size === 0) {
          this.watchers.delete(id);
          this.last.delete(id);
        }
      }
    };
  }

  /** streams watching at least one task (tests, metrics). */
  get watchedTasks(): number {
    return this.watchers.size;
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.positionTimer) clearTimeout(this.positionTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.positionTimer = this.resyncTimer = null;
  }

  private onEvent(e: TaskEvent): void {
    if (this.watchers.has(e.taskId)) this.refresh(e.taskId);
    // A task that starts or ends moves everyone behind it one place up.
    if (e.state !== "waiting" && e.state !== "queuing") this.schedulePositions();
  }

  private refreshAll(): void {
    for (const id of this.watchers.keys()) this.refresh(id);
  }

  private refresh(id: string): void {
    const busy = this.reading.get(id);
    if (busy) {
      busy.again = true;
      return;
    }
    const state = { again: false };
    this.reading.set(id, state);
    void (async () => {
      do {
        state.again = false;
        try {
          const task = await this.o.getTask(id);
          if (task && this.watchers.has(id)) await this.deliver(task);
        } catch (err) {
          this.o.logger.warn({ err, taskId: id }, "could not read a watched task");
        }
      } while (state.again && this.watchers.has(id));
      this.reading.delete(id);
    })();
  }

  private async deliver(task: TaskRecord): Promise<void> {
    this.last.set(task.id, task);
    const view: TaskView = toRecordInfo(task);
    if (task.state === "waiting" || task.state === "queuing") {
      const ahead = this.o.queuePosition ? await this.o.queuePosition(task.id).catch(() => null) : null;
      if (ahead !== null) {
        view.queuePosition = ahead;
        // Those ahead run `slots` at a time, then this one: a rough guess, good enough for a progress line.
        view.etaMs = (Math.floor(ahead / Math.max(1, this.o.slots)) + 1) * this.generationMs;
      }
    } else if (task.state === "success" && view.costTime > 0) {
      this.generationMs = Math.round(this.generationMs * 0.8 + view.costTime * 0.2);
    }
    for (const w of this.watchers.get(task.id) ?? []) w.onView(view);
  }

  private schedulePositions(): void {
    if (this.positionTimer || !this.o.queuePosition) return;
    this.positionTimer = setTimeout(() => {
      this.positionTimer = null;
      for (const [id, task] of this.last) if (!isTerminal(task.state) && RANK[task.state] < 2) this.refresh(id);
    }, POSITION_REFRESH_MS);
    this.positionTimer.unref();
  }
}

/**
 * An event's id names the version of the task it carries: `<taskId>.<state>.<updateTime>`, plus
 * `.<queuePosition>` while it waits. The same version always gets the same id, so a client that
 * resumes (and is sent the current state again) can tell whether it already has it.
 */
export function eventIdOf(v: TaskView): string {
  return `${v.taskId}.${v.state}.${v.updateTime}${v.queuePosition !== undefined ? `.${v.queuePosition}` : ""}`;
}

/** Whether `next` may follow `prev` on one stream: states only move forward. */
export function isNewer(prev: TaskView | undefined, next: TaskView): boolean {
  if (!prev) return true;
  const a = RANK[prev.state as TaskState] ?? 0;
  const b = RANK[next.state as TaskState] ?? 0;
  if (b !== a) return b > a;
  if (a === 3) return false;
  if (next.updateTime !== prev.updateTime) return next.updateTime > prev.updateTime;
  return next.queuePosition !== prev.queuePosition;
}
