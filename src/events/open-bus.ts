import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { EventBus } from "./bus.js";
import { LocalEventBus } from "./local-bus.js";
import { PostgresEventBus } from "./postgres-bus.js";
import { RedisEventBus } from "./redis-bus.js";

/**
 * The transport for this deployment: Redis when PEEL_REDIS_URL is set, else PostgreSQL
 * LISTEN/NOTIFY on a PostgreSQL database, else in-process (embedded SQLite: one process).
 */
export function openEventBus(config: Readonly<Config>, logger: Logger): EventBus {
  const log = logger.child({ component: "events" });
  if (config.redisUrl) return new RedisEventBus(config.redisUrl, log);
  if (/^postgres(ql)?:\/\//.test(config.databaseUrl)) return new PostgresEventBus(config.databaseUrl, log);
  return new LocalEventBus((err) => log.error({ err }, "task event subscriber failed"));
}
