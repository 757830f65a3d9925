import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { FakeReceiver, type Plan } from "../fakes/receiver.js";
import { until } from "../helpers/polling.js";
import { PeelProcesses } from "./peel-process.js";

/**
 * Graceful drain with real processes (docs/operations.md): SIGTERM → not ready, stop claiming,
 * running tasks get PEEL_SHUTDOWN_GRACE_MS and are then handed back (lease released), callbacks in
 * flight are recorded and due again at once, exit 0. The lease is set far longer than the test
 * (2 min), so a restart that finishes the work quickly proves nothing waited for lease expiry.
 */

const LONG_LEASE = "120000";

function readDb<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(dataDir, "peel.db"), { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

test("SIGTERM during a generation exits 0 at once after the grace period; a restart finishes the task without waiting for the lease", async (t) => {
  const peel = await PeelProcesses.create(t, {
    PEEL_SANDBOX_DELAY_MS: "5000",
    PEEL_SHUTDOWN_GRACE_MS: "1000",
    PEEL_LEASE_MS: LONG_LEASE,
  });
  const key = await peel.createKey();
  const first = await peel.serve();
  const created = await peel.api(key, "POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    input: { prompt: "a lighthouse at dusk", resolution: "1K" },
  });
  const taskId: string = created.data.taskId;
  const record = async () => (await peel.api(key, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`)).data;
  await until("the task to be generating", 15_000, async () => (await record()).state === "generating");

  const stop = await peel.signal(first, "SIGTERM");
  assert.equal(stop.code, 0, peel.logs());
  assert.ok(stop.ms < 5000, `exit took ${stop.ms} ms; the generation alone takes 5000 ms`);
  assert.match(peel.logs(), /"event":"server:drain"/);

  // Handed back: still generating (no rewind), no lease, runnable now.
  const onDisk = readDb(peel.dataDir, (db) =>
    db.prepare("SELECT state, lease_owner, run_after, attempts FROM tasks WHERE id = ?").get(taskId),
  ) as { state: string; lease_owner: string | null; run_after: number; attempts: number };
  assert.equal(onDisk.state, "generating");
  assert.equal(onDisk.lease_owner, null);
  assert.ok(onDisk.run_after <= Date.now());

  await peel.serve();
  const restarted = Date.now();
  const done = await until("the task to finish after the restart", 30_000, async () => {
    const r = await record();
    return r.state === "success" || r.state === "fail" ? r : null;
  });
  const tookMs = Date.now() - restarted;
  assert.equal(done.state, "success");
  assert.ok(tookMs < 15_000, `finished ${tookMs} ms after the restart (lease ${LONG_LEASE} ms)`);
  const credit = await peel.api(key, "GET", "/api/v1/chat/credit");
  assert.equal(credit.data, 1000 - 18, "charged exactly once");
});

test("a callback cut short by SIGTERM is recorded and sent again right after the restart, not after its lease or retry delay", async (t) => {
  let hold = true;
  // The first POST hangs (until the sender gives up); later ones are answered at once.
  const plan: Plan = (_req, n) => (n === 0 && hold ? { status: 200, delayMs: 60_000 } : { status: 200 });
  const receiver = await FakeReceiver.start(plan);
  t.after(() => receiver.close());
  const peel = await PeelProcesses.create(t, {
    PEEL_SHUTDOWN_GRACE_MS: "1000",
    PEEL_CALLBACK_TIMEOUT_MS: "60000",
    PEEL_LEASE_MS: LONG_LEASE,
  });
  const key = await peel.createKey();
  const first = await peel.serve();
  const created = await peel.api(key, "POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-pro",
    callBackUrl: receiver.url("/hook"),
    input: { prompt: "a lighthouse at dusk" },
  });
  const taskId: string = created.data.taskId;
  await until("the callback to be in flight", 15_000, async () => receiver.inFlight === 1);

  const stop = await peel.signal(first, "SIGTERM");
  assert.equal(stop.code, 0, peel.logs());
  assert.ok(stop.ms < 10_000, `exit took ${stop.ms} ms with a 1000 ms grace (callback timeout 60 s)`);
  const stoppedAt = Date.now();
  const delivery = readDb(peel.dataDir, (db) =>
    db.prepare("SELECT state, attempt_count, next_attempt_at, last_error FROM deliveries WHERE task_id = ?").get(taskId),
  ) as { state: string; attempt_count: number; next_attempt_at: number; last_error: string };
  assert.equal(delivery.state, "pending");
  assert.equal(delivery.attempt_count, 1);
  assert.match(delivery.last_error, /dispatcher stopping/);
  assert.ok(delivery.next_attempt_at <= stoppedAt, "due again at once");

  hold = false;
  await peel.serve();
  const restarted = Date.now();
  await until("the callback to be sent again", 30_000, async () => receiver.requests.length >= 2);
  assert.ok(Date.now() - restarted < 15_000);
  const again = JSON.parse(receiver.requests[1].body) as { data: { taskId: string; state: string } };
  assert.equal(again.data.taskId, taskId);
  assert.equal(again.data.state, "success");
});
