import type { TaskState } from "../domain/types.js";
import { type EventBus, type Subscriber, Subscribers } from "./bus.js";

/**
 * Events inside one process (embedded SQLite, `PEEL_ROLE=all`). Delivery is asynchronous (a
 * microtask later), like the other transports, so a publisher never runs subscriber code inside
 * its own call.
 */
export class LocalEventBus implements EventBus {
  readonly kind = "local";
  private subs: Subscribers;
  private closed = false;

  constructor(onError: (err: unknown) => void = () => {}) {
    this.subs = new Subscribers(onError);
  }

  publish(taskId: string, state: TaskState): void {
    if (this.closed) return;
    queueMicrotask(() => this.subs.emit({ taskId, state }));
  }

  subscribe(s: Subscriber): () => void {
    return this.subs.add(s);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
