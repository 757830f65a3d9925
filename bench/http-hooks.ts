/**
 * What the per-request metrics and log hooks (src/ops/http-hooks.ts) cost, isolated from the
 * database: the same tiny Fastify route on a local port, driven by a keep-alive undici client in
 * this process, with and without the hooks, in interleaved rounds so drift on a shared machine
 * hits every variant alike (client work is the same in each, so differences are the server's). For
 * comparison, the obvious alternative: one global onResponse hook that calls prom-client's
 * `Counter.inc(labels)` and `Histogram.observe(labels, v)` with the route read from
 * `req.routeOptions` on every request. Prints figures; never fails on them.
 *
 *   npx tsx bench/http-hooks.ts      # BENCH_REQUESTS (per round, default 20000), BENCH_ROUNDS (default 7)
 */
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { Pool } from "undici";
import pino from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import { registerHttpHooks } from "../src/ops/http-hooks.js";
import { HttpMetrics } from "../src/ops/http-metrics.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

async function app(variant: "bare" | "peel" | "prom-client"): Promise<FastifyInstance> {
  const a = Fastify();
  if (variant === "peel") {
    // As in production at the default level: metrics on, request lines at info/debug (not written at warn).
    registerHttpHooks(a, { metrics: new HttpMetrics(), logger: pino({ level: "warn" }) });
  }
  if (variant === "prom-client") {
    const registers = [new Registry()];
    const requests = new Counter({ name: "r", help: "r", labelNames: ["route", "method", "status"], registers });
    const duration = new Histogram({ name: "d", help: "d", labelNames: ["route", "method"], registers });
    a.addHook("onResponse", (req, reply, done) => {
      const route = req.routeOptions.url ?? "unmatched";
      requests.inc({ route, method: req.method, status: reply.statusCode });
      duration.observe({ route, method: req.method }, reply.elapsedTime / 1000);
      done();
    });
  }
  a.get("/api/v1/jobs/recordInfo", async () => ({ code: 200, msg: "success", data: { state: "success" } }));
  await a.listen({ port: 0, host: "127.0.0.1" });
  return a;
}

/** 8 requests in flight on 8 keep-alive connections. */
async function round(a: FastifyInstance): Promise<{ wallNs: number; cpuNs: number }> {
  const pool = new Pool(`http://127.0.0.1:${(a.server.address() as AddressInfo).port}`, { connections: 8 });
  let left = REQUESTS;
  const lane = async () => {
    while (left-- > 0) {
      const res = await pool.request({ method: "GET", path: "/api/v1/jobs/recordInfo?taskId=abc" });
      await res.body.dump();
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 8 }, lane));
  const wallNs = Number(process.hrtime.bigint() - t0) / REQUESTS;
  const cpu = process.cpuUsage(cpu0);
  await pool.close();
  return { wallNs, cpuNs: ((cpu.user + cpu.system) * 1000) / REQUESTS };
}

const variants = ["bare", "peel", "prom-client"] as const;
const apps = await Promise.all(variants.map(app));
for (const a of apps) await round(a); // warm-up (JIT)
const results: Record<string, { wall: number[]; cpu: number[] }> = {};
for (const v of variants) results[v] = { wall: [], cpu: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < variants.length; i++) {
    const { wallNs, cpuNs } = await round(apps[i]);
    results[variants[i]].wall.push(wallNs);
    results[variants[i]].cpu.push(cpuNs);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results.bare.cpu);
console.log(
  `${ROUNDS} interleaved rounds × ${REQUESTS} requests, median per request, server and client in one process (Node ${process.version})\n`,
);
console.log("variant                      wall µs   CPU µs   CPU over bare µs");
for (const v of variants) {
  const cpu = median(results[v].cpu);
  console.log(
    `${v.padEnd(27)} ${(median(results[v].wall) / 1000).toFixed(2).padStart(8)} ${(cpu / 1000).toFixed(2).padStart(8)} ${(
      (cpu - base) /
      1000
    )
      .toFixed(2)
      .padStart(18)}`,
  );
}
await Promise.all(apps.map((a) => a.close()));

// The hook bodies alone, called directly (no HTTP, no Fastify hook runner): steadier than the
// end-to-end figure above on a busy machine.
const CALLS = 2_000_000;
const probe = Fastify();
let peelHook: ((req: unknown, reply: unknown, done: () => void) => void) | null = null;
registerHttpHooks(probe, { metrics: new HttpMetrics(), logger: pino({ level: "warn" }) });
probe.addHook("onRoute", (route) => {
  const hooks = route.onResponse as unknown as ((req: unknown, reply: unknown, done: () => void) => void)[];
  peelHook = hooks[hooks.length - 1];
});
probe.get("/api/v1/jobs/recordInfo", async () => ({}));
const registers = [new Registry()];
const counter = new Counter({ name: "r", help: "r", labelNames: ["route", "method", "status"], registers });
const histogram = new Histogram({ name: "d", help: "d", labelNames: ["route", "method"], registers });
const fakeReq = { method: "GET", is404: false };
const fakeReply = { statusCode: 200, elapsedTime: 0.42 };
const noop = () => {};
const time = (fn: () => void): number => {
  for (let i = 0; i < CALLS / 10; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) fn();
  return Number(process.hrtime.bigint() - t0) / CALLS;
};
const peelNs = time(() => peelHook!(fakeReq, fakeReply, noop));
const promNs = time(() => {
  counter.inc({ route: "/api/v1/jobs/recordInfo", method: fakeReq.method, status: fakeReply.statusCode });
  histogram.observe({ route: "/api/v1/jobs/recordInfo", method: fakeReq.method }, fakeReply.elapsedTime / 1000);
});
console.log(
  `\nhook body alone, ${CALLS} direct calls: peel ${peelNs.toFixed(0)} ns/request; prom-client inc + observe ${promNs.toFixed(0)} ns/request`,
);
