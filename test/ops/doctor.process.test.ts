import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { loadConfig } from "../../src/config.js";
import { FAKE_VERTEX_TOKEN, startFakeGemini } from "../fakes/fake-gemini.js";
import { freePort } from "../helpers/ports.js";
import { PeelProcesses } from "./peel-process.js";

/**
 * `peel doctor` as an operator runs it: a child process with the deployment's environment, next
 * to a running server, against a fake Google API. Exit 0 when everything passes (warnings
 * allowed), 1 when a check fails, each failure followed by its fix.
 */

/** Every Google model id the default configuration maps a kie model to. */
const GOOGLE_IDS = [...new Set(Object.values(loadConfig({ GEMINI_API_KEY: "x" }).gemini.models))];

const line = (out: string, name: string) => out.split("\n").find((l) => l.trimStart().slice(2).startsWith(name)) ?? "";

test("peel doctor: a healthy Gemini deployment passes every check; bad keys, retired models and Vertex tokens are named", async (t) => {
  const google = await startFakeGemini({ models: GOOGLE_IDS });
  t.after(() => google.close());
  const peel = await PeelProcesses.create(t);
  await peel.serve();
  const gemini = { PEEL_ENGINE: "gemini", GEMINI_API_KEY: "test-key", PEEL_GEMINI_BASE_URL: google.url };

  const [healthy, badKey, retired, vertex, badToken] = await Promise.all([
    peel.cli(["doctor"], gemini),
    peel.cli(["doctor"], { ...gemini, GEMINI_API_KEY: "wrong-key-not-to-be-printed" }),
    peel.cli(["doctor"], { ...gemini, PEEL_GEMINI_MODEL: "gemini-3-pro-image-preview" }), // shut down: Google answers 404
    peel.cli(["doctor"], {
      PEEL_ENGINE: "vertex",
      PEEL_VERTEX_PROJECT: "my-project",
      PEEL_VERTEX_ACCESS_TOKEN: FAKE_VERTEX_TOKEN,
      PEEL_GEMINI_BASE_URL: google.url,
    }),
    peel.cli(["doctor"], {
      PEEL_ENGINE: "vertex",
      PEEL_VERTEX_PROJECT: "my-project",
      PEEL_VERTEX_ACCESS_TOKEN: "expired-token",
      PEEL_GEMINI_BASE_URL: google.url,
    }),
  ]);

  assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
  for (const name of ["configuration", "database", "file store", "public URL", "engine gemini · gemini-3-pro-image"]) {
    assert.match(line(healthy.stdout, name), /^ {2}✓ /, `${name}:\n${healthy.stdout}`);
  }
  assert.match(line(healthy.stdout, "database"), /migrations (\d+)\/\1/);
  assert.match(line(healthy.stdout, "public URL"), /reaches this deployment \(instance [0-9a-f]{16}\)/);
  assert.match(healthy.stdout, /all checks passed\.$/m);
  assert.ok(
    google.requests.some((r) => r.method === "GET" && r.path === "/v1beta/models/gemini-3-pro-image"),
    "asked Google for the model's metadata",
  );
  assert.ok(!google.requests.some((r) => r.method === "POST"), "never generated anything");

  assert.equal(badKey.code, 1);
  assert.match(line(badKey.stdout, "engine gemini · gemini-3-pro-image"), /✗ .*HTTP 400: INVALID_ARGUMENT API key not valid/);
  assert.match(badKey.stdout, /fix: GEMINI_API_KEY was rejected: check the key/);
  assert.ok(!badKey.stdout.includes("wrong-key-not-to-be-printed"));
  assert.match(badKey.stdout, /^\d+ checks? failed\.$/m);

  assert.equal(retired.code, 1);
  assert.match(line(retired.stdout, "engine gemini · gemini-3-pro-image-preview"), /✗ .*HTTP 404/);
  assert.match(retired.stdout, /fix: the model id does not exist \(retired\?\).*PEEL_GOOGLE_MODELS/);
  assert.match(retired.stdout, /^ {2}! configuration +nano-banana-pro is set to call gemini-3-pro-image-preview.*retired/m);
  assert.ok(GOOGLE_IDS.includes("gemini-3.1-flash-image"));
  assert.match(line(retired.stdout, "engine gemini · gemini-3.1-flash-image"), /✓ /);

  assert.equal(vertex.code, 0, vertex.stdout);
  assert.match(line(vertex.stdout, "engine vertex · gemini-3-pro-image"), /✓ .* credentials accepted, model available/);
  assert.ok(google.requests.some((r) => r.method === "GET" && r.path === "/v1beta1/publishers/google/models/gemini-3-pro-image"));
  assert.equal(badToken.code, 1);
  assert.match(line(badToken.stdout, "engine vertex · gemini-3-pro-image"), /✗ .*HTTP 401/);
});

test("peel doctor: a public URL that reaches another peel, or nothing, fails with the fix", async (t) => {
  const peel = await PeelProcesses.create(t);
  const other = await PeelProcesses.create(t);
  await peel.serve();
  await other.serve();
  const [elsewhere, nowhere] = await Promise.all([
    peel.cli(["doctor"], { PEEL_PUBLIC_URL: other.url }),
    peel.cli(["doctor"], { PEEL_PUBLIC_URL: `http://127.0.0.1:${await freePort()}` }),
  ]);
  assert.equal(elsewhere.code, 1);
  assert.match(
    line(elsewhere.stdout, "public URL"),
    /✗ .* is a different peel \(instance [0-9a-f]{16}, this configuration is [0-9a-f]{16}\)/,
  );
  assert.match(elsewhere.stdout, /fix: point PEEL_PUBLIC_URL at this deployment/);
  assert.equal(nowhere.code, 1);
  assert.match(line(nowhere.stdout, "public URL"), /✗ .*GET http:\/\/127\.0\.0\.1:\d+\/healthz: .*ECONNREFUSED/);
  assert.match(nowhere.stdout, /fix: start peel, and set PEEL_PUBLIC_URL/);
  // The sandbox engine: a warning about placeholders, nothing to check, not a failure by itself.
  assert.match(line(nowhere.stdout, "configuration"), /^ {2}! .*sandbox engine draws placeholders/);
  assert.match(line(nowhere.stdout, "engine"), /✓ .*sandbox: no credentials to check/);
});

test("peel doctor: an unwritable file store and a missing migration fail together; a bad variable fails alone", async (t) => {
  const peel = await PeelProcesses.create(t);
  await peel.cli(["migrate"]);
  const db = new Database(path.join(peel.dataDir, "peel.db"));
  db.prepare("DELETE FROM schema_migrations WHERE id = (SELECT MAX(id) FROM schema_migrations)").run();
  db.close();
  const files = path.join(peel.dataDir, "files");
  rmSync(files, { recursive: true, force: true });
  writeFileSync(files, "not a directory");

  const [broken, badConfig] = await Promise.all([
    peel.cli(["doctor"]),
    peel.cli(["doctor"], { PEEL_ENGINE: "bogus", PEEL_METRICS_PORT: "8080", PORT: "8080" }),
  ]);
  assert.equal(broken.code, 1);
  assert.match(line(broken.stdout, "database"), /✗ .*migrations (\d+)\/(\d+) — not current/);
  assert.match(broken.stdout, /fix: run `peel migrate`/);
  assert.match(line(broken.stdout, "file store"), /✗ .*local .*files · write: ENOTDIR: not a directory/);
  assert.match(broken.stdout, /fix: make .*files writable by the user peel runs as/);

  assert.equal(badConfig.code, 1);
  assert.match(
    line(badConfig.stdout, "configuration"),
    /✗ configuration +PEEL_ENGINE="bogus" must be one of .*PEEL_METRICS_PORT=8080 must differ from PORT/,
  );
  assert.equal(badConfig.stdout.match(/^ {2}[✓!✗] /gm)?.length, 1, "nothing else is checked");
});
