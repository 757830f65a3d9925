import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, loadConfig } from "../src/config.js";

test("defaults: port 8080, ./data, sandbox engine without a key, URLs under PEEL_PUBLIC_URL", () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.dataDir, path.resolve("./data"));
  assert.equal(c.publicUrl, "http://localhost:8080");
  assert.equal(c.engine, "sandbox");
  assert.equal(c.databaseUrl, `sqlite:${path.join(path.resolve("./data"), "peel.db")}`);
  assert.equal(c.files.store, "local");
  assert.deepEqual(c.billing.prices["nano-banana-pro"], { "1K": 18, "2K": 18, "4K": 24 });
  assert.equal(c.limits.createMax, 20);
  assert.equal(c.limits.createWindowMs, 10_000);
  assert.equal(c.limits.readMax, 10);
  assert.equal(c.files.uploadRetentionMs, 3 * 24 * 3_600_000);
  assert.equal(c.files.resultRetentionMs, 14 * 24 * 3_600_000);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.gemini) && Object.isFrozen(c.billing.prices));
});

test("a Gemini key selects the gemini engine; PEEL_PUBLIC_URL loses its trailing slash", () => {
  const c = loadConfig({ GEMINI_API_KEY: "k", PEEL_PUBLIC_URL: "https://peel.example.com/", PORT: "9000" });
  assert.equal(c.engine, "gemini");
  assert.equal(c.publicUrl, "https://peel.example.com");
  assert.equal(c.port, 9000);
  assert.equal(c.gemini.models["nano-banana-pro"], "gemini-3-pro-image");
});

test("every bad variable is listed at once", () => {
  let err: unknown;
  try {
    loadConfig({
      PORT: "eighty",
      PEEL_ENGINE: "dall-e",
      PEEL_PUBLIC_URL: "ftp://x",
      PEEL_PRICES: "{not json",
      PEEL_S3_FORCE_PATH_STYLE: "maybe",
      PEEL_FILE_STORE: "s3",
      PEEL_WORKER_CONCURRENCY: "0",
      PEEL_REDIS_URL: "localhost:6379",
    });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  const text = err.problems.join("\n");
  for (const name of [
    "PORT",
    "PEEL_ENGINE",
    "PEEL_PUBLIC_URL",
    "PEEL_PRICES",
    "PEEL_S3_FORCE_PATH_STYLE",
    "PEEL_S3_BUCKET",
    "PEEL_WORKER_CONCURRENCY",
    "PEEL_REDIS_URL",
  ]) {
    assert.match(text, new RegExp(name), `${name} is reported`);
  }
  assert.equal(err.problems.length, 8);
});

test("an engine without its credentials is refused", () => {
  assert.throws(() => loadConfig({ PEEL_ENGINE: "gemini" }), /GEMINI_API_KEY/);
  assert.throws(() => loadConfig({ PEEL_DATABASE_URL: "mysql://x" }), /PEEL_DATABASE_URL/);
});

test("`peel serve` with a bad configuration refuses to start, names every problem and exits 2", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "peel-config-"));
  try {
    const res = await promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], {
      env: { PATH: process.env.PATH, PEEL_DATA_DIR: dir, PORT: "-1", PEEL_ENGINE: "nope" },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(res.code, 2);
    assert.match(res.stderr, /PORT=-1 is below the minimum 0/);
    assert.match(res.stderr, /PEEL_ENGINE="nope" must be one of sandbox, gemini, vertex/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
