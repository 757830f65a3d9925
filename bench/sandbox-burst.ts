/**
 * recordInfo latency while a burst of sandbox images renders (issue 10 §6). Starts `peel serve`
 * (sandbox engine) with room for the whole burst at once, creates BENCH_TASKS tasks that all
 * start together and, after PEEL_SANDBOX_DELAY_MS, all render together, and meanwhile polls
 * recordInfo from BENCH_POLLERS closed-loop clients. Prints recordInfo p50/p99/max during the
 * burst (and idle, before it) and how long the burst took. Figures, not assertions. The pollers
 * are paced (BENCH_RATE requests per second in all), like clients polling a task, so the figures
 * show stalls of the event loop rather than the queueing of a saturating load.
 *
 *   node --import tsx bench/sandbox-burst.ts
 *   BENCH_TASKS=256 BENCH_RESOLUTIONS=1K,2K,4K BENCH_RATE=200 node --import tsx bench/sandbox-burst.ts
 *   BENCH_ENV='{"PEEL_IMAGE_CONCURRENCY":"4"}' node --import tsx bench/sandbox-burst.ts   # any extra server env
 *   BENCH_ROOT=/path/to/other/checkout node --import tsx bench/sandbox-burst.ts            # measure another build
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../test/helpers/ports.js";
import { PeelProcesses } from "../test/proof/processes.js";

const TASKS = Number(process.env.BENCH_TASKS ?? 256);
const POLLERS = Number(process.env.BENCH_POLLERS ?? 4);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const RESOLUTIONS = (process.env.BENCH_RESOLUTIONS ?? "1K,2K").split(",");
const DELAY_MS = Number(process.env.BENCH_DELAY_MS ?? 4000);
const EXTRA_ENV = JSON.parse(process.env.BENCH_ENV ?? "{}") as Record<string, string>;
const BENCH_ROOT = process.env.BENCH_ROOT || undefined;

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-burst-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const procs = new PeelProcesses(
    {
      PEEL_DATA_DIR: dataDir,
      PEEL_PUBLIC_URL: url,
      PEEL_WORKER_CONCURRENCY: String(Math.min(256, TASKS)),
      PEEL_MAX_RUNNING_PER_ACCOUNT: String(TASKS),
      PEEL_SANDBOX_DELAY_MS: String(DELAY_MS),
      PEEL_CREATE_LIMIT: "0",
      PEEL_READ_LIMIT: "0",
      PEEL_INITIAL_CREDITS: String(TASKS * 100),
      ...EXTRA_ENV,
    },
    BENCH_ROOT,
  );
  try {
    const { key } = await procs.createKey();
    await procs.serve(port);
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const read = async (taskId: string) => {
      const t0 = performance.now();
      const res = await fetch(`${url}/api/v1/jobs/recordInfo?taskId=${taskId}`, { headers });
      const body = (await res.json()) as { data: { state: string } };
      return { ms: performance.now() - t0, state: body.data.state };
    };

    // idle figures first, on one task
    const first = (await (
      await fetch(`${url}/api/v1/jobs/createTask`, {
        method: "POST",
        headers,
        body: JSON.stringify({ model: "nano-banana-pro", input: { prompt: "warm-up" } }),
      })
    ).json()) as { data: { taskId: string } };
    const idle: number[] = [];
    for (let i = 0; i < 500; i++) {
      idle.push((await read(first.data.taskId)).ms);
      await new Promise((res) => setTimeout(res, 1000 / RATE));
    }
    while ((await read(first.data.taskId)).state !== "success") await new Promise((r) => setTimeout(r, 100));

    const ids: string[] = [];
    const started = performance.now();
    for (let i = 0; i < TASKS; i++) {
      const res = await fetch(`${url}/api/v1/jobs/createTask`, {
        method: "POST",
        headers,
        body: JSON.stringify({
          model: "nano-banana-pro",
          input: {
            prompt: `burst image ${i}: a lighthouse on a cliff at dusk, long exposure, warm window light`,
            resolution: RESOLUTIONS[i % RESOLUTIONS.length],
            aspect_ratio: ["1:1", "16:9", "3:4", "21:9"][i % 4],
            output_format: i % 2 ? "png" : "jpg",
          },
        }),
      });
      ids.push(((await res.json()) as { data: { taskId: string } }).data.taskId);
    }
    const created = performance.now();

    // poll until every task is terminal; latency samples count only while renders are running
    const during: number[] = [];
    const done = new Set<string>();
    let renderStart = 0;
    let lastDone = 0;
    await Promise.all(
      Array.from({ length: POLLERS }, async (_, p) => {
        for (let i = p; done.size < ids.length; i += POLLERS) {
          // the next unfinished task after this poller's cursor
          let id = ids[i % ids.length];
          for (let k = 1; done.has(id) && k < ids.length; k++) id = ids[(i + k) % ids.length];
          const sent = performance.now();
          const r = await read(id);
          const now = performance.now();
          // paced: the next read of this poller is due POLLERS / RATE seconds after this one was sent
          const wait = sent + (1000 * POLLERS) / RATE - now;
          if (wait > 0) await new Promise((res) => setTimeout(res, wait));
          if (now - created >= DELAY_MS - 200 && done.size < ids.length) {
            renderStart ||= now;
            during.push(r.ms);
          }
          if (r.state === "success" || r.state === "fail") {
            if (!done.has(id)) lastDone = now;
            done.add(id);
          }
        }
      }),
    );
    idle.sort((a, b) => a - b);
    during.sort((a, b) => a - b);
    const fmt = (n: number) => n.toFixed(1).padStart(7);
    console.log(
      `sandbox burst: ${TASKS} tasks (${RESOLUTIONS.join("/")}), recordInfo at ${RATE}/s from ${POLLERS} pollers, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}`,
    );
    console.log(`server: ${BENCH_ROOT ?? "this checkout"}, extra env ${JSON.stringify(EXTRA_ENV)}`);
    console.log(
      `creates took ${((created - started) / 1000).toFixed(1)} s; renders took ${((lastDone - renderStart) / 1000).toFixed(1)} s after the ${DELAY_MS} ms delay`,
    );
    console.log("                      n     p50 ms   p99 ms   max ms");
    console.log(
      `recordInfo idle   ${String(idle.length).padStart(5)}  ${fmt(pct(idle, 50))}  ${fmt(pct(idle, 99))}  ${fmt(idle[idle.length - 1])}`,
    );
    console.log(
      `recordInfo burst  ${String(during.length).padStart(5)}  ${fmt(pct(during, 50))}  ${fmt(pct(during, 99))}  ${fmt(during[during.length - 1])}`,
    );
  } finally {
    await procs.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
