import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { LocalFileStore } from "../../src/files/local.js";
import { FileStoreProbe } from "../../src/ops/file-probe.js";
import { Readiness } from "../../src/ops/readiness.js";
import { openStore } from "../../src/store/open-store.js";
import { until } from "../helpers/polling.js";
import { servePeel } from "./serve.js";

test("/readyz: 200 with each check when the database, migrations and file store are fine; /healthz stays liveness", async (t) => {
  const peel = await servePeel(t);
  const r = await peel.api("GET", "/readyz");
  assert.equal(r.status, 200);
  assert.equal(r.json.ready, true);
  assert.deepEqual(r.json.reasons, []);
  assert.equal(r.json.checks.database.ok, true);
  assert.equal(r.json.checks.database.migrationsApplied, r.json.checks.database.migrationsKnown);
  assert.ok(r.json.checks.database.migrationsKnown >= 1);
  assert.deepEqual(r.json.checks.files, { ok: true });
  assert.deepEqual(r.json.checks.draining, { ok: true });
  const h = await peel.api("GET", "/healthz");
  assert.equal(h.status, 200);
  assert.equal(h.json.ok, true);
  assert.match(h.json.instance, /^[0-9a-f]{16}$/);
});

test("/readyz: 503 naming the file store while it cannot write, and 200 again once it can", async (t) => {
  const peel = await servePeel(t);
  const filesDir = path.join(peel.dataDir, "files");
  rmSync(filesDir, { recursive: true, force: true });
  writeFileSync(filesDir, "not a directory");
  const r = await peel.api("GET", "/readyz");
  assert.equal(r.status, 503);
  assert.equal(r.json.ready, false);
  assert.equal(r.json.checks.files.ok, false);
  assert.match(r.json.reasons.join("\n"), /^files: write: /m);
  assert.equal(r.json.checks.database.ok, true, "only the broken part is named");
  // /healthz is liveness: a broken disk must not get the process restarted.
  assert.equal((await peel.api("GET", "/healthz")).status, 200);

  rmSync(filesDir);
  mkdirSync(filesDir);
  await until("readiness to recover", 10_000, async () => (await peel.api("GET", "/readyz")).status === 200);
});

test("/readyz: 503 when the database lacks a migration this peel knows", async (t) => {
  const peel = await servePeel(t);
  const db = new Database(path.join(peel.dataDir, "peel.db"));
  db.prepare("DELETE FROM schema_migrations WHERE id = (SELECT MAX(id) FROM schema_migrations)").run();
  db.close();
  const r = await peel.api("GET", "/readyz");
  assert.equal(r.status, 503);
  assert.equal(r.json.checks.database.ok, false);
  assert.equal(r.json.checks.database.migrationsApplied, r.json.checks.database.migrationsKnown - 1);
  assert.match(r.json.reasons.join("\n"), /database: 1 migration\(s\) not applied \(run peel migrate\)/);
});

test("/readyz: 503 at once when the process starts draining, whatever the cached checks say", async (t) => {
  const peel = await servePeel(t);
  assert.equal((await peel.api("GET", "/readyz")).status, 200);
  peel.served.runtime.lifecycle.beginDrain();
  const r = await peel.api("GET", "/readyz");
  assert.equal(r.status, 503);
  assert.deepEqual(r.json.checks.draining, { ok: false });
  assert.deepEqual(r.json.reasons, ["draining: the process is shutting down"]);
});

test("readiness: a probe storm costs one database query and one probe object per interval", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "peel-ready-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore(`sqlite:${path.join(dir, "peel.db")}`);
  t.after(() => store.close());
  let health = 0;
  let puts = 0;
  const files = new (class extends LocalFileStore {
    override put(...args: Parameters<LocalFileStore["put"]>) {
      puts++;
      return super.put(...args);
    }
  })(path.join(dir, "files"));
  const readiness = new Readiness({
    store: {
      checkHealth: () => {
        health++;
        return store.checkHealth();
      },
    },
    probe: new FileStoreProbe(files),
    draining: () => false,
    cacheMs: 60_000,
  });
  const reports = await Promise.all(Array.from({ length: 200 }, () => readiness.check()));
  for (let i = 0; i < 50; i++) reports.push(await readiness.check());
  assert.ok(reports.every((r) => r.ready));
  assert.equal(health, 1);
  assert.equal(puts, 1);
});

test("readiness: a check that hangs fails after the timeout instead of hanging the probe, and is not started twice", async () => {
  let calls = 0;
  const readiness = new Readiness({
    store: {
      checkHealth: () => {
        calls++;
        return new Promise(() => {}); // a database that never answers
      },
    },
    probe: { run: async () => {} } as unknown as FileStoreProbe,
    draining: () => false,
    timeoutMs: 100,
    failureCacheMs: 0,
  });
  const r1 = await readiness.check();
  assert.equal(r1.ready, false);
  assert.deepEqual(r1.reasons, ["database: no answer within 100 ms"]);
  const r2 = await readiness.check();
  assert.equal(r2.ready, false);
  assert.equal(calls, 1, "the hung query is waited on again, not repeated");
});
