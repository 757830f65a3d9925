import { test } from "node:test";
import assert from "node:assert/strict";
import { startFakeGemini } from "../fakes/fake-gemini.js";
import { measureTaskMemory } from "../helpers/task-memory.js";
import { makeNoiseSet } from "../inputs/noise.js";

// Issue 3: "a task with 8 inputs of 25 MB completes without peak memory growing by more than a
// few times one input". The task runs in a fresh peel process (the first task is the worst case:
// libvips and the allocator are cold), through createTask → fetch → prepare → fake Google →
// store; the peak RSS is the kernel's high-water mark. bench/task-memory.ts prints the same
// figures for more variants; docs/engines.md ("Memory") records them. Measured on Node 20, 2 CPUs
// (one input = 25.3 MiB of incompressible noise):
//   glibc defaults:                                        RSS +4.8–5.5×, arrayBuffers +1.2×
//   MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072:      RSS +2.8–3.0×, arrayBuffers +1.2×
// (before the fixes in this change: RSS +23×, arrayBuffers +3–4×, heap +3–6×).

const ALLOCATOR_ENV = { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" };

test("a task with eight 25 MB inputs completes within a few times one input of memory", async (t) => {
  const set = await makeNoiseSet(8, 25e6);
  t.after(() => set.cleanup());
  const fake = await startFakeGemini({ imageMode: "tiny" });
  t.after(() => fake.close());
  const one = Math.max(...set.files.map((f) => f.size)) / (1 << 20);
  const x = (mib: number) => mib / one;

  // glibc defaults (the host's allocator variables removed), then the documented settings
  const plain = await measureTaskMemory({
    fakeUrl: fake.url,
    urls: set.urls,
    env: { MALLOC_ARENA_MAX: undefined, MALLOC_MMAP_THRESHOLD_: undefined },
  });
  const tuned = await measureTaskMemory({ fakeUrl: fake.url, urls: set.urls, env: ALLOCATOR_ENV });
  for (const [name, m] of [
    ["glibc defaults", plain],
    ["allocator env", tuned],
  ] as const) {
    assert.equal(m.state, "success", `${name}: ${m.failCode} ${m.failMsg}`);
    t.diagnostic(
      `${name}: rss +${x(m.peak.rss - m.base.rss).toFixed(2)}×, arrayBuffers +${x(m.peak.arrayBuffers - m.base.arrayBuffers).toFixed(2)}×, ` +
        `heap +${x(m.peak.heapUsed - m.base.heapUsed).toFixed(2)}× one ${one.toFixed(1)} MiB input; ${m.took} ms`,
    );
    // peel's own buffers: the eight prepared references (~1 ×) and one download in flight
    assert.ok(
      x(m.peak.arrayBuffers - m.base.arrayBuffers) < 2.5,
      `${name}: arrayBuffers +${x(m.peak.arrayBuffers - m.base.arrayBuffers).toFixed(2)}×`,
    );
    // no base64 or JSON copy of the request body on the JS heap
    assert.ok(
      x(m.peak.heapUsed - m.base.heapUsed) < 1.5,
      `${name}: heapUsed +${x(m.peak.heapUsed - m.base.heapUsed).toFixed(2)}×`,
    );
  }
  // RSS includes ~0.5–1.5 × of first-task warm-up (JIT, SQLite, sockets) that does not scale with the inputs.
  assert.ok(x(plain.peak.rss - plain.base.rss) < 7, `glibc defaults: rss +${x(plain.peak.rss - plain.base.rss).toFixed(2)}×`);
  assert.ok(x(tuned.peak.rss - tuned.base.rss) < 4.5, `allocator env: rss +${x(tuned.peak.rss - tuned.base.rss).toFixed(2)}×`);

  // Google got all eight references, each re-encoded under the 7 MB inline limit, in order
  assert.equal(fake.requests.length, 2);
  for (const r of fake.requests) {
    const images = r.body.contents[0].parts.slice(1);
    assert.equal(images.length, 8);
    for (const p of images) {
      assert.equal(p.inlineData.mimeType, "image/jpeg");
      assert.ok((p.inlineData.data.length * 3) / 4 <= 7_000_000);
    }
  }
});
