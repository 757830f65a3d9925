import { Redis } from "ioredis";
import { nextPacificMidnight } from "../engines/gemini-errors.js";
import {
  DEFAULT_SLOT_TTL_MS,
  RPM_WINDOW_MS,
  newLeaseId,
  type CapacityAnswer,
  type CapacityLease,
  type CapacityLimitName,
  type CapacityRoute,
  type CapacityUsage,
  type RouteCapacity,
} from "./capacity.js";

/**
 * Route capacity shared by every worker process through Redis (scale-out). Per route, in one hash
 * slot (`{route}`) so the script also runs on Redis Cluster:
 *   `…:m`        sorted set, lease id → admission time (the rpm log)
 *   `…:d:<end>`  set of lease ids admitted in the Pacific day ending at <end> (rpd)
 *   `…:c`        sorted set, lease id → slot expiry (concurrency; renewed while the call runs)
 * Acquisition checks and takes all three atomically in one Lua script, so two processes can never
 * both take the last token. Semantics are those of MemoryCapacity (capacity.ts).
 */
const ACQUIRE = `
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local rpd = tonumber(ARGV[3])
local conc = tonumber(ARGV[4])
local id = ARGV[5]
local ttl = tonumber(ARGV[6])
local dayTtl = tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ${RPM_WINDOW_MS})
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if rpd > 0 and redis.call('SCARD', KEYS[2]) >= rpd then return {0, 'rpd', -1} end
if rpm > 0 then
  local n = redis.call('ZCARD', KEYS[1])
  if n >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
    return {0, 'rpm', tonumber(oldest[2]) + ${RPM_WINDOW_MS}}
  end
end
if conc > 0 and redis.call('ZCARD', KEYS[3]) >= conc then return {0, 'concurrency', -1} end
redis.call('ZADD', KEYS[1], now, id)
redis.call('PEXPIRE', KEYS[1], ${2 * RPM_WINDOW_MS})
redis.call('SADD', KEYS[2], id)
redis.call('PEXPIRE', KEYS[2], dayTtl)
redis.call('ZADD', KEYS[3], now + ttl, id)
redis.call('PEXPIRE', KEYS[3], ttl + ${RPM_WINDOW_MS})
return {1, 'ok', 0}
`;

const RENEW = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]))
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + ${RPM_WINDOW_MS})
return 1
`;

type ScriptRedis = Redis & {
  peelCapAcquire(m: string, d: string, c: string, ...args: (string | number)[]): Promise<[number, string, number]>;
  peelCapRenew(c: string, id: string, now: number, ttl: number): Promise<number>;
};

export class RedisCapacity implements RouteCapacity {
  private readonly redis: ScriptRedis;
  private readonly ttlMs: number;

  /**
   * @param opts.prefix key prefix. @defaultValue "peel:cap:"
   * @param opts.slotTtlMs concurrency slot lifetime without renewal, ms. @defaultValue 60000
   */
  constructor(
    url: string,
    private readonly opts: { prefix?: string; slotTtlMs?: number } = {},
  ) {
    this.ttlMs = opts.slotTtlMs ?? DEFAULT_SLOT_TTL_MS;
    const redis = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
    redis.defineCommand("peelCapAcquire", { numberOfKeys: 3, lua: ACQUIRE });
    redis.defineCommand("peelCapRenew", { numberOfKeys: 1, lua: RENEW });
    this.redis = redis as ScriptRedis;
  }

  async tryAcquire(route: CapacityRoute, now: number): Promise<CapacityAnswer> {
    const { rpm, rpd, concurrency } = route.limits;
    const window = nextPacificMidnight(now);
    const id = newLeaseId();
    const [ok, limit, at] = await this.redis.peelCapAcquire(
      this.key(route.name, "m"),
      this.dayKey(route.name, window),
      this.key(route.name, "c"),
      now,
      rpm ?? 0,
      rpd ?? 0,
      concurrency ?? 0,
      id,
      this.ttlMs,
      // the day's set outlives the day by an hour; relative, so a test clock's far past is harmless
      window - now + 3_600_000,
    );
    if (ok === 1) return { ok: true, lease: { id, route: route.name, acquiredAt: now, rpdWindow: rpd !== null ? window : null } };
    const name = limit as CapacityLimitName;
    return { ok: false, limit: name, retryAt: name === "rpd" ? window : name === "rpm" ? at : null };
  }

  async release(lease: CapacityLease, opts: { spent: boolean; now: number }): Promise<void> {
    const tx = this.redis.multi().zrem(this.key(lease.route, "c"), lease.id);
    if (!opts.spent) {
      tx.zrem(this.key(lease.route, "m"), lease.id);
      tx.srem(this.dayKey(lease.route, nextPacificMidnight(lease.acquiredAt)), lease.id);
    }
    await tx.exec();
  }

  async renew(lease: CapacityLease, now: number): Promise<boolean> {
    return (await this.redis.peelCapRenew(this.key(lease.route, "c"), lease.id, now, this.ttlMs)) === 1;
  }

  async usage(route: CapacityRoute, now: number): Promise<CapacityUsage> {
    const window = nextPacificMidnight(now);
    const res = await this.redis
      .multi()
      .zcount(this.key(route.name, "m"), `(${now - RPM_WINDOW_MS}`, "+inf")
      .scard(this.dayKey(route.name, window))
      .zcount(this.key(route.name, "c"), `(${now}`, "+inf")
      .exec();
    const n = (i: number) => Number(res?.[i]?.[1] ?? 0);
    return { rpmUsed: n(0), rpdUsed: n(1), inFlight: n(2), rpdResetsAt: window };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private key(route: string, what: string): string {
    return `${this.opts.prefix ?? "peel:cap:"}{${route}}:${what}`;
  }

  private dayKey(route: string, window: number): string {
    return this.key(route, `d:${window}`);
  }
}
