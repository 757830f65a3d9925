import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryRateLimiter, type RateLimiter } from "../../src/limits/rate-limiter.js";
import { RedisRateLimiter } from "../../src/limits/redis-rate-limiter.js";
import { randomString } from "../../src/ids.js";

/** One behaviour, two backends: the in-process limiter and the Redis one shared by processes. */
function contract(name: string, make: () => Promise<{ limiter: RateLimiter; close: () => Promise<void> }>, skip?: string) {
  test(`${name}: 20 per rolling 10 s; refused calls do not count; Retry-After counts down`, { skip }, async (t) => {
    const { limiter, close } = await make();
    t.after(close);
    const key = `k_${randomString(8)}`;
    const t0 = 1_000_000;
    for (let i = 0; i < 20; i++) assert.deepEqual(await limiter.hit(key, "create", 20, 10_000, t0 + i * 100), { ok: true });
    const refused = await limiter.hit(key, "create", 20, 10_000, t0 + 2_000);
    assert.deepEqual(refused, { ok: false, retryAfterSec: 8 }); // the first admission leaves at t0 + 10 s
    // refused calls are not counted: right after the first admission leaves, one call fits
    for (let i = 0; i < 5; i++) assert.equal((await limiter.hit(key, "create", 20, 10_000, t0 + 9_000)).ok, false);
    assert.deepEqual(await limiter.hit(key, "create", 20, 10_000, t0 + 10_001), { ok: true });
    assert.equal((await limiter.hit(key, "create", 20, 10_000, t0 + 10_002)).ok, false);
    // buckets and keys are independent; max 0 means unlimited
    assert.equal((await limiter.hit(key, "read", 20, 10_000, t0 + 2_000)).ok, true);
    assert.equal((await limiter.hit(`${key}x`, "create", 20, 10_000, t0 + 2_000)).ok, true);
    for (let i = 0; i < 50; i++) assert.equal((await limiter.hit(key, "upload", 0, 1000, t0)).ok, true);
  });

  test(`${name}: concurrent hits admit exactly max`, { skip }, async (t) => {
    const { limiter, close } = await make();
    t.after(close);
    const key = `k_${randomString(8)}`;
    const res = await Promise.all(Array.from({ length: 100 }, () => limiter.hit(key, "read", 10, 1000, 5_000_000)));
    assert.equal(res.filter((r) => r.ok).length, 10);
  });
}

contract("memory", async () => ({ limiter: new MemoryRateLimiter(), close: async () => {} }));

const redisUrl = process.env.PEEL_TEST_REDIS_URL;
if (!redisUrl) console.log("# skipping Redis rate-limiter tests: PEEL_TEST_REDIS_URL is not set");
contract(
  "redis",
  async () => {
    // two limiters = two API processes sharing one Redis
    const a = new RedisRateLimiter(redisUrl!, `peel:test:${randomString(6)}:`);
    return { limiter: a, close: () => a.close() };
  },
  redisUrl ? undefined : "PEEL_TEST_REDIS_URL is not set",
);

test("redis: two processes share one window", { skip: redisUrl ? undefined : "PEEL_TEST_REDIS_URL is not set" }, async (t) => {
  const prefix = `peel:test:${randomString(6)}:`;
  const a = new RedisRateLimiter(redisUrl!, prefix);
  const b = new RedisRateLimiter(redisUrl!, prefix);
  t.after(async () => {
    await a.close();
    await b.close();
  });
  const now = 7_000_000;
  const res = await Promise.all(
    Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).hit("key_shared", "create", 20, 10_000, now)),
  );
  assert.equal(res.filter((r) => r.ok).length, 20);
});
