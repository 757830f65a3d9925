import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createSchema, dropSchema, endAdmin, PG_SKIP, PG_URL, urlWith } from "../store/postgres-fixture.js";
import { type ChaosResult, formatChaos, runChaos } from "./chaos.js";

// Issue 10, the proof suite in `npm test`: the short chaos runs (100 tasks, 2 SIGKILLs) on SQLite
// and on PostgreSQL (1 API + 2 workers). Outcomes are asserted, never timings. `npm run proof`
// runs 1,000 tasks and 10 kills and prints the same table.

function assertClean(t: import("node:test").TestContext, r: ChaosResult): void {
  for (const line of formatChaos(r).split("\n")) t.diagnostic(line);
  const failed = () => `\n${formatChaos(r)}\n--- process logs (tail) ---\n${r.logs.split("\n").slice(-60).join("\n")}`;
  assert.equal(r.kills.length, 2, `kills happened${failed()}`);
  assert.equal(r.noAnswer, 0, `creates with no answer${failed()}`);
  assert.equal(r.accepted, r.tasks, `every create accepted${failed()}`);
  assert.equal(r.lost, 0, `lost tasks${failed()}`);
  assert.equal(r.unfinished, 0, `unfinished tasks${failed()}`);
  assert.equal(r.missingCallbacks, 0, `tasks without a callback${failed()}`);
  assert.equal(r.creditDrift, 0, `credit drift${failed()}`);
}

test("chaos on SQLite: 100 tasks with callbacks, peel SIGKILLed twice → nothing lost", async (t) => {
  assertClean(t, await runChaos({ backend: "sqlite", tasks: 100, kills: 2, seed: 1010 }));
});

if (!PG_URL) {
  test("chaos on PostgreSQL", { skip: PG_SKIP }, () => {});
} else {
  after(endAdmin);
  test("chaos on PostgreSQL: 100 tasks, 1 API + 2 workers, two of them SIGKILLed → nothing lost", async (t) => {
    const schema = await createSchema();
    t.after(() => dropSchema(schema));
    assertClean(
      t,
      await runChaos({ backend: "postgres", tasks: 100, kills: 2, seed: 2020, databaseUrl: urlWith({ schema, pool_size: "4" }) }),
    );
  });
}
