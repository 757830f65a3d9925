import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { TestPeel } from "../helpers/harness.js";
import { describeRequest, type FuzzStats, runFuzz } from "./fuzz.js";
import { startFuzzRig } from "./fuzz-rig.js";

// Issue 10, the proof suite in `npm test`: 1,000 generated hostile requests (plus the requests
// the issue reported) over every endpoint. No 5xx, no request left unanswered, and the envelope
// on every answer that can carry a body. `npm run proof` runs 10,000 and prints the histogram.

const SEED = 20_261_010;
let peel: TestPeel;
let stats: FuzzStats;

before(async () => {
  const rig = await startFuzzRig();
  peel = rig.peel;
  stats = await runFuzz({ port: rig.port, ctx: rig.ctx, count: 1000, seed: SEED });
});
after(() => peel?.close());

function failuresOf(pred: (target: string) => boolean): string[] {
  return stats.failures
    .filter((f) => pred(f.request.target))
    .map((f) => `${f.problem}: ${describeRequest(f.request)}\n  → ${f.answer.slice(0, 200)}`);
}

test("kie endpoints, uploads, files and raw HTTP: 0 × 5xx, every request answered, the kie envelope wherever a body can be", (t) => {
  t.diagnostic(
    `statuses: ${[...stats.byStatus]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}×${n}`)
      .join(" ")} (seed ${SEED})`,
  );
  assert.ok(stats.total > 1000);
  for (const target of [
    "createTask",
    "recordInfo",
    "cancel",
    "download-url",
    "base64-upload",
    "stream-upload",
    "url-upload",
    "files",
    "protocol",
    "task-list",
    "events",
    "ledger",
    "deliveries",
  ])
    assert.ok((stats.byTarget.get(target)?.total ?? 0) > 0, `${target} was exercised`);
  assert.deepEqual(
    failuresOf((target) => target !== "admin"),
    [],
  );
});

test("admin API: 0 × 5xx under the same fuzz (ledger?limit=abc and friends answer 4xx)", () => {
  assert.ok((stats.byTarget.get("admin")?.total ?? 0) > 0, "admin was exercised");
  assert.deepEqual(
    failuresOf((target) => target === "admin"),
    [],
  );
});
