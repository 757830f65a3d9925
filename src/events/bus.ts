import type { TaskState } from "../domain/types.js";

/**
 * Task events: "task X is now in state S". A hint that something changed, never the data itself —
 * whoever cares reads the task from the store. Published after the change is committed; delivered
 * at most once (a subscriber that was disconnected is told so through `onGap` and re-reads what it
 * watches). Three transports behind one interface: in-process (one process, embedded SQLite),
 * PostgreSQL LISTEN/NOTIFY and Redis pub/sub (several processes).
 */
export interface TaskEvent {
  taskId: string;
  state: TaskState;
}

export interface Subscriber {
  onEvent(e: TaskEvent): void;
  /** Events may have been missed (the connection to PostgreSQL/Redis dropped and came back). */
  onGap?(): void;
}

export interface EventBus {
  /** `local`, `postgres` or `redis`: whether events reach other processes. */
  readonly kind: "local" | "postgres" | "redis";
  /** Never throws and never blocks the caller's work: a failed publish is logged and dropped. */
  publish(taskId: string, state: TaskState): void;
  /** Returns the unsubscribe function. */
  subscribe(s: Subscriber): () => void;
  close(): Promise<void>;
}

const STATES: ReadonlySet<string> = new Set(["waiting", "queuing", "generating", "success", "fail"]);
const TASK_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Wire form shared by the PostgreSQL and Redis transports: `<taskId> <state>`. */
export function encodeEvent(taskId: string, state: TaskState): string {
  return `${taskId} ${state}`;
}

/** null for anything that is not an event (another program on the channel, a truncated payload). */
export function decodeEvent(payload: string): TaskEvent | null {
  const i = payload.indexOf(" ");
  if (i < 0) return null;
  const taskId = payload.slice(0, i);
  const state = payload.slice(i + 1);
  if (!TASK_ID.test(taskId) || !STATES.has(state)) return null;
  return { taskId, state: state as TaskState };
}

/** The subscriber list every transport keeps; one throwing subscriber does not stop the others. */
export class Subscribers {
  private list = new Set<Subscriber>();

  constructor(private onError: (err: unknown) => void) {}

  add(s: Subscriber): () => void {
    this.list.add(s);
    return () => this.list.delete(s);
  }

  get size(): number {
    return this.list.size;
  }

  emit(e: TaskEvent): void {
    for (const s of this.list) {
      try {
        s.onEvent(e);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  gap(): void {
    for (const s of this.list) {
      try {
        s.onGap?.();
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
