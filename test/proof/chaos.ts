import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FakeReceiver, plans } from "../fakes/receiver.js";
import { sleep } from "../helpers/polling.js";
import { freePort } from "../helpers/ports.js";
import { PeelProcesses } from "./processes.js";

/**
 * Chaos (issue 10): N tasks with callbacks are created while peel's processes are SIGKILLed at
 * random moments and started again. On SQLite one `peel serve` process does everything; on
 * PostgreSQL one `PEEL_ROLE=api` and two `PEEL_ROLE=worker` processes share a fresh schema and any
 * of them may be the one killed. Clients behave as kie clients should: a create that gets no
 * answer is sent again with the same Idempotency-Key.
 *
 * Counted at the end: lost tasks (answered 200, then unknown), tasks unfinished after the settle
 * window, tasks without a callback, extra callbacks (allowed: delivery is at-least-once), credit
 * drift (balance against the sum of the successful tasks' prices) and creates that never got an
 * answer. Goal 0 / 0 / 0 / – / 0 / 0.
 */

export interface ChaosOptions {
  backend: "sqlite" | "postgres";
  tasks: number;
  kills: number;
  /** postgres: a URL naming a fresh schema (`?schema=`). */
  databaseUrl?: string;
  /** how long accepted tasks get to finish after the last kill. @defaultValue 120 s */
  settleMs?: number;
  /** how long callbacks get after that (a delivery in flight at a kill waits out its lease). @defaultValue 90 s */
  callbackMs?: number;
  /** parallel clients. @defaultValue 8 */
  clients?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface ChaosResult {
  backend: string;
  tasks: number;
  accepted: number;
  succeeded: number;
  failed: number;
  lost: number;
  unfinished: number;
  missingCallbacks: number;
  duplicateCallbacks: number;
  creditDrift: number;
  noAnswer: number;
  kills: string[];
  /** wall time from the first create to the last callback, ms. */
  durationMs: number;
  /** the processes' last log lines, for a failed run. */
  logs: string;
}

const PRICE = 18;
const CREDITS = 10_000_000;
const ADMIN_TOKEN = "chaos-admin-token-0123456789";

/** A small deterministic PRNG, so a run's kill schedule can be repeated (seed printed). */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

interface Proc {
  role: "all" | "api" | "worker";
  port: number;
  child: ChildProcess | null;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => {});
  const random = prng(o.seed ?? Date.now());
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-chaos-"));
  const receiver = await FakeReceiver.start(plans.ok());
  const apiPort = await freePort();
  const url = `http://127.0.0.1:${apiPort}`;
  const procs = new PeelProcesses({
    PEEL_DATA_DIR: dataDir,
    PEEL_PUBLIC_URL: url,
    PEEL_SECRET: "chaos-secret-0123456789abcdef0123456789",
    PEEL_ADMIN_TOKEN: ADMIN_TOKEN,
    PEEL_OUTBOUND_ALLOW: "127.0.0.1",
    PEEL_SANDBOX_DELAY_MS: "200",
    PEEL_LEASE_MS: "1500",
    PEEL_POLL_MS: "50",
    PEEL_CALLBACK_POLL_MS: "100",
    PEEL_CALLBACK_TIMEOUT_MS: "2000",
    PEEL_CREATE_LIMIT: "0",
    PEEL_READ_LIMIT: "0",
    PEEL_WORKER_CONCURRENCY: "8",
    PEEL_MAX_RUNNING_PER_ACCOUNT: "16",
    PEEL_INITIAL_CREDITS: String(CREDITS),
    ...(o.databaseUrl ? { PEEL_DATABASE_URL: o.databaseUrl } : {}),
  });
  const processes: Proc[] =
    o.backend === "sqlite"
      ? [{ role: "all", port: apiPort, child: null }]
      : [
          { role: "api", port: apiPort, child: null },
          { role: "worker", port: await freePort(), child: null },
          { role: "worker", port: await freePort(), child: null },
        ];
  const start = async (p: Proc) => {
    p.child = await procs.serve(p.port, { PEEL_ROLE: p.role }, `${p.role}:${p.port}`);
  };

  const kills: string[] = [];
  const started = Date.now();
  try {
    // the API first (it runs the migrations), then the workers
    for (const p of processes) await start(p);
    const { key } = await procs.createKey(o.databaseUrl ? { PEEL_DATABASE_URL: o.databaseUrl } : {});
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const taskIds: (string | null)[] = Array(o.tasks).fill(null);
    let answered = 0;
    let noAnswer = 0;

    // --- clients: create every task, retrying with its Idempotency-Key until answered ---------
    const createOne = async (i: number): Promise<void> => {
      const body = JSON.stringify({
        model: "nano-banana-pro",
        callBackUrl: receiver.url(`/cb/${i}`),
        input: { prompt: `chaos task ${i}: a paper boat in a storm`, resolution: "1K", output_format: "png" },
      });
      const until = Date.now() + 120_000;
      while (Date.now() < until) {
        try {
          const res = await fetch(`${url}/api/v1/jobs/createTask`, {
            method: "POST",
            headers: { ...headers, "idempotency-key": `chaos-${i}` },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          const json = (await res.json()) as { code: number; data: { taskId: string } | null; msg: string };
          if (json.code === 200 && json.data) {
            taskIds[i] = json.data.taskId;
            answered++;
            return;
          }
          if (res.status < 500) throw new Error(`createTask ${i} refused: ${json.code} ${json.msg}`);
        } catch (err) {
          if (err instanceof Error && err.message.startsWith("createTask")) throw err;
          // connection refused or reset: the API process is down or was killed mid-request
        }
        await sleep(200 + random() * 300);
      }
      noAnswer++;
    };
    let nextTask = 0;
    const clients = Promise.all(
      Array.from({ length: o.clients ?? 8 }, async () => {
        while (nextTask < o.tasks) await createOne(nextTask++);
      }),
    );

    // --- the killer: SIGKILLs at evenly spread points of progress, restarts after a pause -------
    const callbackIds = () => new Set(receiver.requests.map((r) => r.path));
    const progress = () => (answered + callbackIds().size) / (2 * o.tasks);
    const killer = (async () => {
      for (let k = 0; k < o.kills; k++) {
        const at = ((k + 0.3 + random() * 0.4) / o.kills) * 0.9;
        while (progress() < at) {
          if (Date.now() - started > 20 * 60_000) return; // a stuck run still ends
          await sleep(50);
        }
        const victim = processes[Math.floor(random() * processes.length)];
        if (!victim.child) continue;
        await procs.kill(victim.child);
        victim.child = null;
        kills.push(`${victim.role}:${victim.port} at ${(progress() * 100).toFixed(0)} % progress`);
        log(`chaos: killed ${victim.role}:${victim.port} (${kills.length}/${o.kills})`);
        await sleep(random() * 1000);
        await start(victim);
      }
    })();
    await Promise.all([clients, killer]);

    // --- every accepted task must finish --------------------------------------------------------
    const accepted = taskIds.filter((t): t is string => t !== null);
    const states = new Map<string, string>();
    const settleUntil = Date.now() + (o.settleMs ?? 120_000);
    let lost = 0;
    for (;;) {
      lost = 0;
      const open = accepted.filter((id) => !["success", "fail"].includes(states.get(id) ?? ""));
      await pool(open, 16, async (id) => {
        const res = await fetch(`${url}/api/v1/jobs/recordInfo?taskId=${id}`, { headers });
        const json = (await res.json()) as { code: number; data: { state: string } | null };
        if (json.code === 422) lost++;
        else if (json.data) states.set(id, json.data.state);
      });
      const unfinished = accepted.filter((id) => !["success", "fail"].includes(states.get(id) ?? "")).length;
      if (unfinished === 0 || Date.now() > settleUntil) break;
      await sleep(500);
    }
    const unfinished = accepted.filter((id) => !["success", "fail"].includes(states.get(id) ?? "")).length - lost;

    // --- every finished task must call back (a delivery cut by a kill waits out its lease) -------
    const finishedIdx = taskIds
      .map((id, i) => (id && ["success", "fail"].includes(states.get(id) ?? "") ? i : -1))
      .filter((i) => i >= 0);
    const callbackUntil = Date.now() + (o.callbackMs ?? 90_000);
    while (Date.now() < callbackUntil) {
      const got = callbackIds();
      if (finishedIdx.every((i) => got.has(`/cb/${i}`))) break;
      await sleep(500);
    }
    await sleep(500); // room for a late duplicate
    const perTask = new Map<string, number>();
    for (const r of receiver.requests) perTask.set(r.path, (perTask.get(r.path) ?? 0) + 1);
    const missingCallbacks = finishedIdx.filter((i) => !perTask.has(`/cb/${i}`)).length;
    let duplicateCallbacks = 0;
    for (const n of perTask.values()) duplicateCallbacks += n - 1;

    // --- credits: the balance is the grant minus exactly the successful tasks ------------------
    const succeeded = accepted.filter((id) => states.get(id) === "success").length;
    const failed = accepted.filter((id) => states.get(id) === "fail").length;
    const credit = (await (await fetch(`${url}/api/v1/chat/credit`, { headers })).json()) as { data: number };
    const creditDrift = credit.data - (CREDITS - PRICE * succeeded);

    return {
      backend: o.backend,
      tasks: o.tasks,
      accepted: accepted.length,
      succeeded,
      failed,
      lost,
      unfinished,
      missingCallbacks,
      duplicateCallbacks,
      creditDrift,
      noAnswer,
      kills,
      durationMs: Date.now() - started,
      logs: procs.logs(),
    };
  } finally {
    await procs.killAll();
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

export function formatChaos(r: ChaosResult): string {
  return [
    `chaos on ${r.backend}: ${r.tasks} tasks, ${r.kills.length} SIGKILLs, ${(r.durationMs / 1000).toFixed(0)} s`,
    `  accepted ${r.accepted} (success ${r.succeeded}, fail ${r.failed})`,
    "  lost | unfinished | missing callbacks | duplicate callbacks | credit drift | creates with no answer",
    `  ${r.lost} | ${r.unfinished} | ${r.missingCallbacks} | ${r.duplicateCallbacks} | ${r.creditDrift} | ${r.noAnswer}      (goal 0 | 0 | 0 | – | 0 | 0)`,
    `  kills: ${r.kills.join("; ")}`,
  ].join("\n");
}
