import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { TaskState } from "../domain/types.js";
import { decodeEvent, encodeEvent, type EventBus, type Subscriber, Subscribers } from "./bus.js";

/**
 * Task events through Redis pub/sub (when PEEL_REDIS_URL is set). A subscribed Redis connection
 * can do nothing else, so there are two: one publishes, one listens. ioredis reconnects and
 * re-subscribes by itself; after such a reconnect the subscribers are told about the gap.
 */
export class RedisEventBus implements EventBus {
  readonly kind = "redis";
  private subs: Subscribers;
  private pub: Redis;
  private sub: Redis | null = null;
  private subscribed: Promise<void> | null = null;
  private closed = false;

  constructor(
    private url: string,
    private logger: Logger,
    readonly channel = "peel:task-events",
  ) {
    this.subs = new Subscribers((err) => logger.error({ err }, "task event subscriber failed"));
    this.pub = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: true });
    this.pub.on("error", (err) => logger.warn({ err }, "task event publisher: redis error"));
  }

  publish(taskId: string, state: TaskState): void {
    if (this.closed) return;
    this.pub
      .publish(this.channel, encodeEvent(taskId, state))
      .catch((err) => this.logger.warn({ err, taskId, state }, "task event not published"));
  }

  subscribe(s: Subscriber): () => void {
    const off = this.subs.add(s);
    void this.ready().catch(() => {});
    return off;
  }

  /** Resolves once the listening connection has subscribed (tests; subscribers need not wait). */
  ready(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.subscribed ??= this.listen();
    return this.subscribed;
  }

  /** The listening connection (tests kill it to check the reconnect). */
  get listener(): Redis | null {
    return this.sub;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.subscribed?.catch(() => {});
    for (const c of [this.sub, this.pub]) {
      if (c) await c.quit().catch(() => c.disconnect());
    }
  }

  private async listen(): Promise<void> {
    const sub = new Redis(this.url, { maxRetriesPerRequest: null, enableOfflineQueue: true });
    this.sub = sub;
    sub.on("error", (err) => this.logger.warn({ err }, "task event listener: redis error"));
    sub.on("message", (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      const e = decodeEvent(payload);
      if (e) this.subs.emit(e);
    });
    let readyOnce = false;
    sub.on("ready", () => {
      // The first ready is the initial connect; later ones follow a reconnect (ioredis re-subscribes).
      if (readyOnce) this.subs.gap();
      readyOnce = true;
    });
    await sub.subscribe(this.channel);
  }
}
