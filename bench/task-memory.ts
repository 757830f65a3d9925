/**
 * Peak memory of ONE whole task — fetch 8 inputs, prepare them, call (fake) Google, store the
 * result — measured in a fresh child process per run, so every figure is the first-task one (the
 * worst case: libvips and malloc arenas are cold). Inputs are distinct ~25 MB noise PNGs served
 * from disk by this process; the fake Google also runs here, so its copy of the request body is
 * not counted against peel.
 *
 *   node --import tsx bench/task-memory.ts [count=8] [megabytes=25] [runs=3] [--variants]
 *
 * Without --variants it measures peel as configured (what `peel serve` does). With --variants it
 * also measures the knobs considered for docs/engines.md (allocator arenas, sharp threads).
 */
import { makeNoiseSet } from "../test/inputs/noise.js";
import { startFakeGemini } from "../test/fakes/fake-gemini.js";
import { measureTaskMemory, type TaskMemory } from "../test/helpers/task-memory.js";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const count = Number(args[0] ?? 8);
const mb = Number(args[1] ?? 25);
const runs = Number(args[2] ?? 3);
const MiB = 1 << 20;

const set = await makeNoiseSet(count, mb * 1e6);
const fake = await startFakeGemini({ imageMode: "tiny" });
const one = Math.max(...set.files.map((f) => f.size)) / MiB;

type Variant = { name: string; env: Record<string, string | undefined> };
const variants: Variant[] = [{ name: "as configured", env: {} }];
if (process.argv.includes("--variants")) {
  variants.push(
    // glibc's allocator: fewer per-thread arenas, and a fixed mmap threshold so large blocks go
    // back to the kernel when freed (glibc otherwise raises the threshold as big blocks are freed).
    { name: "MALLOC_ARENA_MAX=2", env: { MALLOC_ARENA_MAX: "2" } },
    { name: "MALLOC_MMAP_THRESHOLD_=131072", env: { MALLOC_MMAP_THRESHOLD_: "131072" } },
    { name: "MALLOC_ARENA_MAX=2 + MALLOC_MMAP_THRESHOLD_", env: { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" } },
    // sharp already defaults to 1 thread on glibc without jemalloc; 2 shows what that default saves
    { name: "sharp.concurrency(2)", env: { TASK_MEMORY_SHARP_CONCURRENCY: "2" } },
  );
}

const x = (n: number) => `${(n / one).toFixed(2)}×`;
console.log(`inputs: ${count} × ~${one.toFixed(1)} MiB noise PNG; ${runs} fresh process(es) per variant`);
for (const v of variants) {
  const results: TaskMemory[] = [];
  for (let i = 0; i < runs; i++) results.push(await measureTaskMemory({ fakeUrl: fake.url, urls: set.urls, env: v.env }));
  const bad = results.find((r) => r.state !== "success");
  if (bad) console.log(`  ${v.name}: task ended ${bad.state} ${bad.failCode} ${bad.failMsg}`);
  const rss = results.map((r) => r.peak.rss - r.base.rss);
  const ab = results.map((r) => r.peak.arrayBuffers - r.base.arrayBuffers);
  const heap = results.map((r) => r.peak.heapUsed - r.base.heapUsed);
  const fmt = (a: number[]) =>
    `${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)} MiB (${x(Math.min(...a))}–${x(Math.max(...a))})`;
  console.log(
    `${v.name.padEnd(44)} rss growth ${fmt(rss)}; arrayBuffers ${fmt(ab)}; heapUsed ${fmt(heap)}; ${results.map((r) => r.took).join("/")} ms; ${results[0].exactPeak ? "VmHWM" : "sampled"}`,
  );
}

await fake.close();
await set.cleanup();
