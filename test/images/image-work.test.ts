import { test } from "node:test";
import os from "node:os";
import assert from "node:assert/strict";
import { ImageWorkQueue, defaultImageConcurrency, imageWork } from "../../src/images/image-work.js";
import { SandboxEngine } from "../../src/engines/sandbox.js";

// The process-wide bound on image work (issue 10 §6): at most `concurrency` operations run, the
// rest wait in arrival order, and an aborted waiter leaves the queue without running.

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

test("never more than the bound at once, served in arrival order", async () => {
  const q = new ImageWorkQueue(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates = Array.from({ length: 6 }, gate);
  const all = gates.map((g, i) =>
    q.run(async () => {
      order.push(i);
      running++;
      peak = Math.max(peak, running);
      await g.p;
      running--;
      return i;
    }),
  );
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [0, 1]);
  assert.equal(q.queued, 4);
  for (const g of gates) g.open();
  assert.deepEqual(await Promise.all(all), [0, 1, 2, 3, 4, 5]);
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
});

test("a waiter aborted in the queue never runs and frees its place; a failure frees its slot", async () => {
  const q = new ImageWorkQueue(1);
  const hold = gate();
  const first = q.run(() => hold.p);
  const ctl = new AbortController();
  let ran = false;
  const aborted = q.run(async () => {
    ran = true;
  }, ctl.signal);
  const third = q.run(async () => "third");
  ctl.abort(new Error("canceled"));
  await assert.rejects(aborted, /canceled/);
  assert.equal(q.queued, 1);
  hold.open();
  await first;
  assert.equal(await third, "third");
  assert.equal(ran, false);
  await assert.rejects(
    q.run(async () => Promise.reject(new Error("decode failed"))),
    /decode failed/,
  );
  assert.equal(await q.run(async () => "after a failure"), "after a failure");
});

test("the default is one pipeline per CPU (at most 3); sandbox renders go through the shared queue", async () => {
  assert.equal(defaultImageConcurrency(), Math.max(1, Math.min(os.availableParallelism(), 3)));
  const engine = new SandboxEngine();
  const before = imageWork.concurrency;
  imageWork.setConcurrency(1);
  try {
    const hold = gate();
    const blocker = imageWork.run(() => hold.p);
    let done = false;
    const render = engine
      .generate(
        {
          taskId: "t",
          model: "nano-banana-pro",
          upstreamModel: "x",
          prompt: "queued",
          images: [],
          aspectRatio: "1:1",
          resolution: "1K",
          outputFormat: "png",
        },
        new AbortController().signal,
      )
      .then((r) => {
        done = true;
        return r;
      });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, "the render waits for the slot");
    hold.open();
    await blocker;
    const img = await render;
    assert.deepEqual([img.width, img.height], [1024, 1024]);
  } finally {
    imageWork.setConcurrency(before);
  }
});
