import pg from "pg";
import type { Logger } from "pino";
import type { TaskState } from "../domain/types.js";
import { postgresOptionsFromUrl } from "../store/postgres/db.js";
import { decodeEvent, encodeEvent, type EventBus, type Subscriber, Subscribers } from "./bus.js";

/**
 * Task events through PostgreSQL LISTEN/NOTIFY, for scale-out on PostgreSQL without Redis. One
 * connection per process listens; publishing goes through a one-connection pool of its own (a
 * listening connection must stay free to receive). The channel is per schema, so deployments
 * (and test schemas) sharing a database do not hear each other. NOTIFY is delivered to every
 * listener connected at commit time; a listener that lost its connection reconnects with backoff
 * and tells its subscribers about the gap.
 */
export class PostgresEventBus implements EventBus {
  readonly kind = "postgres";
  readonly channel: string;
  private subs: Subscribers;
  private publisher: pg.Pool;
  private listener: pg.Client | null = null;
  private closed = false;
  private connecting: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private everConnected = false;

  constructor(
    databaseUrl: string,
    private logger: Logger,
  ) {
    const opts = postgresOptionsFromUrl(databaseUrl);
    this.connectionString = opts.connectionString;
    this.channel = channelName(opts.schema ?? null);
    this.subs = new Subscribers((err) => logger.error({ err }, "task event subscriber failed"));
    this.publisher = new pg.Pool({ connectionString: opts.connectionString, max: 1, idleTimeoutMillis: 30_000 });
    this.publisher.on("error", (err) => logger.warn({ err }, "task event publisher connection failed"));
  }

  private readonly connectionString: string;

  publish(taskId: string, state: TaskState): void {
    if (this.closed) return;
    this.publisher
      .query("SELECT pg_notify($1, $2)", [this.channel, encodeEvent(taskId, state)])
      .catch((err) => this.logger.warn({ err, taskId, state }, "task event not published"));
  }

  subscribe(s: Subscriber): () => void {
    const off = this.subs.add(s);
    void this.ensureListening();
    return off;
  }

  /** Resolves once this process listens (tests; subscribers need not wait). */
  ready(): Promise<void> {
    return this.ensureListening();
  }

  /** The backend pid of the listening connection (tests cut it with pg_terminate_backend). */
  get listenerPid(): number | null {
    return (this.listener as unknown as { processID?: number } | null)?.processID ?? null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.connecting?.catch(() => {});
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
    await this.publisher.end().catch(() => {});
  }

  private ensureListening(): Promise<void> {
    if (this.closed || this.listener) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on("notification", (msg) => {
      if (msg.channel !== this.channel || msg.payload === undefined) return;
      const e = decodeEvent(msg.payload);
      if (e) this.subs.emit(e);
    });
    // An error or end on an idle listening connection: drop it and listen again.
    const lost = (err?: Error) => {
      if (this.listener !== client) return;
      this.listener = null;
      if (!this.closed) {
        this.logger.warn({ err }, "task event listener lost its connection; reconnecting");
        this.scheduleReconnect();
      }
    };
    client.on("error", lost);
    client.on("end", () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      client.end().catch(() => {});
      if (!this.closed) {
        this.logger.warn({ err }, "task event listener could not connect; retrying");
        this.scheduleReconnect();
      }
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
    this.failures = 0;
    // Anything published while there was no listener was missed: subscribers re-read what they watch.
    if (this.everConnected) this.subs.gap();
    this.everConnected = true;
  }

  private scheduleReconnect(): void {
    if (this.retryTimer || this.closed) return;
    const delay = Math.min(5_000, 100 * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.ensureListening();
    }, delay);
    this.retryTimer.unref();
  }
}

/** `peel_events` or `peel_events_<schema>`, within PostgreSQL's 63-byte identifier limit. */
export function channelName(schema: string | null): string {
  return (schema ? `peel_events_${schema}` : "peel_events").slice(0, 63);
}
