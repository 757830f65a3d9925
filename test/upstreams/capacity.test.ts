import { randomBytes } from "node:crypto";
import { MemoryCapacity, type RouteCapacity } from "../../src/upstreams/capacity.js";
import { RedisCapacity } from "../../src/upstreams/redis-capacity.js";
import { CONTRACT_SLOT_TTL_MS, runCapacityContract } from "./capacity-contract.js";

/** One contract, every implementation: memory (one process) and Redis (shared by processes). */

runCapacityContract("memory", async () => ({
  capacity: new MemoryCapacity({ slotTtlMs: CONTRACT_SLOT_TTL_MS }),
  cleanup: async () => {},
}));

const redisUrl = process.env.PEEL_TEST_REDIS_URL;
if (!redisUrl) console.log("# skipping Redis route-capacity tests: PEEL_TEST_REDIS_URL is not set");
runCapacityContract(
  "redis",
  async () => {
    // a fresh prefix per test: its keys never meet another test's (and expire on their own)
    const prefix = `peel:test:cap:${randomBytes(4).toString("hex")}:`;
    const open: RouteCapacity[] = [];
    const make = () => {
      const c = new RedisCapacity(redisUrl!, { prefix, slotTtlMs: CONTRACT_SLOT_TTL_MS });
      open.push(c);
      return c;
    };
    return {
      capacity: make(),
      peer: async () => make(),
      cleanup: async () => {
        await Promise.all(open.map((c) => c.close()));
      },
    };
  },
  redisUrl ? undefined : "PEEL_TEST_REDIS_URL is not set",
);
