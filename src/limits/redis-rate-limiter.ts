import { Redis } from "ioredis";
import type { RateBucket, RateDecision, RateLimiter } from "./rate-limiter.js";

/**
 * The rolling-window limiter shared by every API process (scale-out): one sorted set per
 * (bucket, key) holding admission times, trimmed and checked atomically by a Lua script, so two
 * processes can never both admit the 21st call. Same semantics as MemoryRateLimiter: refused
 * calls do not count, and the answer says when the oldest admission leaves the window.
 */
const SCRIPT = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local member = ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= max then
  local oldest = redis.call('ZRANGE', key, count - max, count - max, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, window)
return -1
`;

export class RedisRateLimiter implements RateLimiter {
  private redis: Redis;
  private seq = 0;

  constructor(
    url: string,
    private prefix = "peel:rl:",
  ) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    this.redis.defineCommand("peelHit", { numberOfKeys: 1, lua: SCRIPT });
  }

  async hit(keyId: string, bucket: RateBucket, max: number, windowMs: number, now: number): Promise<RateDecision> {
    if (max <= 0) return { ok: true };
    // The member must be unique even for two calls in the same millisecond from two processes.
    const member = `${now}:${process.pid}:${++this.seq}:${Math.random().toString(36).slice(2, 8)}`;
    const waitMs = (await (this.redis as unknown as { peelHit: (...a: unknown[]) => Promise<number> }).peelHit(
      `${this.prefix}${bucket}:${keyId}`,
      now,
      windowMs,
      max,
      member,
    )) as number;
    if (waitMs < 0) return { ok: true };
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
