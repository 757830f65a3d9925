/**
 * Child process for task-memory measurements (bench/task-memory.ts, test/e2e/memory.test.ts):
 * starts a real peel on the gemini engine against the parent's fake Google, runs ONE task with
 * the given image_input URLs — the first task of this process, the worst case — and prints one
 * JSON line with the baseline, the peak and the outcome. Run with --expose-gc so the baseline is
 * settled; peel itself never calls gc().
 *
 * Input (env): TASK_MEMORY_FAKE_URL, TASK_MEMORY_URLS (JSON array), optional
 * TASK_MEMORY_SHARP_CONCURRENCY (bench knob: sharp.concurrency(n) before the task).
 */
import { readFileSync, writeFileSync } from "node:fs";
import sharp from "sharp";
import { startPeel } from "./harness.js";

const MiB = 1 << 20;
const fakeUrl = process.env.TASK_MEMORY_FAKE_URL!;
const urls = JSON.parse(process.env.TASK_MEMORY_URLS ?? "[]") as string[];
if (process.env.TASK_MEMORY_SHARP_CONCURRENCY) sharp.concurrency(Number(process.env.TASK_MEMORY_SHARP_CONCURRENCY));

const peel = await startPeel({
  env: { PEEL_ENGINE: "gemini", GEMINI_API_KEY: "test-key", PEEL_GEMINI_BASE_URL: fakeUrl, PEEL_INPUT_TIMEOUT_MS: "120000" },
});

/** Peak RSS since the last reset, from the kernel (exact, unlike sampling); null off Linux. */
function hwm(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
function resetHwm(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5"); // "5": reset the peak RSS to the current RSS
    return true;
  } catch {
    return false;
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
await new Promise((r) => setTimeout(r, 100));
gc?.();
const base = process.memoryUsage();
const exact = resetHwm();
const peak = { rss: base.rss, arrayBuffers: base.arrayBuffers, external: base.external, heapUsed: base.heapUsed };
const timer = setInterval(() => {
  const m = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  peak.external = Math.max(peak.external, m.external);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
}, 5);

const started = Date.now();
const created = await peel.api("POST", "/api/v1/jobs/createTask", {
  model: "nano-banana-pro",
  input: { prompt: "combine these", image_input: urls, resolution: "1K", output_format: "png" },
});
const rec = await peel.waitForTask(created.json.data.taskId, { timeoutMs: 300_000 });
const took = Date.now() - started;
clearInterval(timer);
const hwmRss = exact ? hwm() : null;
if (hwmRss !== null) peak.rss = Math.max(peak.rss, hwmRss);
await peel.close();

const out = {
  state: rec.state,
  failCode: rec.failCode,
  failMsg: rec.failMsg,
  took,
  exactPeak: hwmRss !== null,
  base: {
    rss: base.rss / MiB,
    arrayBuffers: base.arrayBuffers / MiB,
    external: base.external / MiB,
    heapUsed: base.heapUsed / MiB,
  },
  peak: {
    rss: peak.rss / MiB,
    arrayBuffers: peak.arrayBuffers / MiB,
    external: peak.external / MiB,
    heapUsed: peak.heapUsed / MiB,
  },
};
process.stdout.write(`TASK_MEMORY ${JSON.stringify(out)}\n`);
process.exit(0);
