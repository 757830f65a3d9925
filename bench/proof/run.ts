/**
 * `npm run proof`: the hostile-input and fault proof suite at full size (issue 10). Prints
 * figures and exits 0; it asserts nothing (the short versions in `npm test` do, test/proof/).
 *
 *   npm run proof                      # fuzz, ssrf, chaos on SQLite and (if configured) PostgreSQL
 *   npm run proof -- fuzz ssrf         # some of them
 *   PROOF_FUZZ=2000 PROOF_TASKS=200 PROOF_KILLS=4 npm run proof
 *
 * - fuzz: PROOF_FUZZ (10,000) generated hostile requests over every endpoint, plus the requests
 *   issue 10 reported; status histogram, 5xx, unanswered, answers outside the envelope.
 * - ssrf: the whole SSRF corpus; hits on a listener on every local address.
 * - chaos: PROOF_TASKS (1,000) tasks with callbacks under PROOF_KILLS (10) SIGKILLs, on SQLite
 *   and, with PEEL_TEST_DATABASE_URL set, on PostgreSQL (1 API + 2 workers, a fresh schema).
 * PROOF_SEED fixes the fuzz sample and the kill schedule (printed either way).
 */
import os from "node:os";
import { createSchema, dropSchema, endAdmin, PG_SKIP, PG_URL, urlWith } from "../../test/store/postgres-fixture.js";
import { formatChaos, runChaos } from "../../test/proof/chaos.js";
import { describeRequest, runFuzz } from "../../test/proof/fuzz.js";
import { startFuzzRig } from "../../test/proof/fuzz-rig.js";
import { runSsrfCorpus } from "../../test/proof/ssrf.js";

const num = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!(v > 0)) throw new Error(`${name} must be a positive number`);
  return v;
};
const FUZZ = num("PROOF_FUZZ", 10_000);
const TASKS = num("PROOF_TASKS", 1_000);
const KILLS = num("PROOF_KILLS", 10);
const SEED = num("PROOF_SEED", Math.floor(Math.random() * 2 ** 31) + 1);
const parts = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const want = (p: string) => parts.length === 0 || parts.includes(p);

const summary: string[] = [];

async function fuzz(): Promise<void> {
  console.log(`\n== fuzz: ${FUZZ} generated hostile requests + the issue's own (seed ${SEED}) ==`);
  const { peel, port, ctx } = await startFuzzRig();
  try {
    const t0 = Date.now();
    const s = await runFuzz({ port, ctx, count: FUZZ, seed: SEED, parallel: 8 });
    console.log(`${s.total} requests in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    console.log(
      `status histogram: ${[...s.byStatus]
        .sort((a, b) => a[0] - b[0])
        .map(([st, n]) => `${st || "none"}×${n}`)
        .join("  ")}`,
    );
    console.log("by endpoint (requests / problems):");
    for (const [t, v] of [...s.byTarget].sort()) console.log(`  ${t.padEnd(14)} ${String(v.total).padStart(6)} / ${v.bad}`);
    const withBody = s.withBody;
    const adminFiveXX = s.fiveXXByTarget.get("admin") ?? 0;
    console.log(
      `5xx: ${s.fiveXX}${adminFiveXX ? ` (${adminFiveXX} in the admin API)` : ""}   unanswered: ${s.noAnswer}   outside the envelope: ${s.badEnvelope}   envelope where a body is possible: ${((100 * (withBody - s.badEnvelope)) / Math.max(1, withBody)).toFixed(2)} % of ${withBody}`,
    );
    for (const f of s.failures)
      console.log(`  ✗ ${f.problem}: ${describeRequest(f.request)}\n      → ${f.answer.replace(/\r\n/g, " ⏎ ").slice(0, 160)}`);
    summary.push(
      `fuzz     ${s.total} requests: ${s.fiveXX} × 5xx${adminFiveXX ? ` (${adminFiveXX} in the admin API)` : ""}, ${s.noAnswer} unanswered, ${s.badEnvelope} outside the envelope (goal 0 / 0 / 0)`,
    );
  } finally {
    await peel.close();
  }
}

async function ssrf(): Promise<void> {
  console.log("\n== SSRF corpus ==");
  const t0 = Date.now();
  const r = await runSsrfCorpus({ log: (l) => console.log(`  ${l}`) });
  console.log(`${r.targets} URLs, ${r.attempts} attempts in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log(`tunnel-form addresses made local for the run: ${r.tunnelAddresses}`);
  for (const [entry, e] of Object.entries(r.byEntry))
    console.log(`  ${entry.padEnd(16)} ${e.attempts} attempts, ${e.refused} refused, ${e.leaked.length} leaked`);
  console.log(`hits: ${r.hits}${r.hitAddresses.length ? ` (on ${r.hitAddresses.join(", ")})` : ""}   (goal 0)`);
  summary.push(`ssrf     ${r.attempts} attempts: ${r.hits} hits (goal 0)`);
}

async function chaos(backend: "sqlite" | "postgres"): Promise<void> {
  console.log(`\n== chaos on ${backend}: ${TASKS} tasks, ${KILLS} SIGKILLs (seed ${SEED}) ==`);
  let schema: string | null = null;
  try {
    if (backend === "postgres") schema = await createSchema();
    const r = await runChaos({
      backend,
      tasks: TASKS,
      kills: KILLS,
      seed: SEED,
      databaseUrl: schema ? urlWith({ schema, pool_size: "4" }) : undefined,
      settleMs: 300_000,
      log: (l) => console.log(`  ${l}`),
    });
    console.log(formatChaos(r));
    summary.push(
      `chaos    ${backend}: lost ${r.lost}, unfinished ${r.unfinished}, missing callbacks ${r.missingCallbacks}, duplicate callbacks ${r.duplicateCallbacks}, credit drift ${r.creditDrift}, creates with no answer ${r.noAnswer}`,
    );
  } finally {
    if (schema) await dropSchema(schema);
  }
}

console.log(
  `peel proof suite — ${os.cpus().length} CPUs, Node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
if (want("fuzz")) await fuzz();
if (want("ssrf")) await ssrf();
if (want("chaos")) {
  await chaos("sqlite");
  if (PG_URL) await chaos("postgres");
  else {
    console.log(`\n== chaos on postgres: skipped — ${PG_SKIP} ==`);
    summary.push("chaos    postgres: skipped (PEEL_TEST_DATABASE_URL not set)");
  }
  await endAdmin();
}
console.log(`\n== summary ==\n${summary.join("\n")}`);
process.exit(0);
