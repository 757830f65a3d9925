import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import type { FastifyInstance } from "fastify";
import { freePort } from "./ports.js";
import { AdminOps } from "../../src/admin/operations.js";
import type { Clock } from "../../src/clock.js";
import { loadConfig, type Config } from "../../src/config.js";
import type { Account, KeyLimits } from "../../src/domain/types.js";
import type { ImageEngine } from "../../src/engines/engine.js";
import { buildApp } from "../../src/http/app.js";
import { createRuntime, type Runtime } from "../../src/runtime.js";

/**
 * Starts a real peel (SQLite file, local files, real HTTP port) for a test. Background loops run
 * unless `background: false`. Close it in `t.after(() => peel.close())`.
 */
export interface TestPeel {
  url: string;
  app: FastifyInstance;
  runtime: Runtime;
  config: Readonly<Config>;
  admin: AdminOps;
  dataDir: string;
  /** an API key of `account` (1000 credits unless `credits` says otherwise). */
  key: string;
  account: Account;
  newKey(opts?: {
    credits?: number;
    unmetered?: boolean;
    limits?: KeyLimits;
    accountId?: string;
  }): Promise<{ key: string; account: Account; keyId: string }>;
  /** fetch against the server with the default key. */
  api(
    method: string,
    path: string,
    body?: unknown,
    opts?: { key?: string | null; headers?: Record<string, string>; raw?: string },
  ): Promise<{ status: number; headers: Headers; json: any; text: string }>;
  /** polls recordInfo until a terminal state (or timeout). */
  waitForTask(taskId: string, opts?: { key?: string; timeoutMs?: number }): Promise<any>;
  close(): Promise<void>;
}

export { freePort };

export async function startPeel(
  opts: {
    env?: Record<string, string>;
    engine?: ImageEngine;
    clock?: Clock;
    background?: boolean;
    credits?: number;
    retryBaseMs?: number;
    dataDir?: string;
  } = {},
): Promise<TestPeel> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), "peel-test-"));
  const port = await freePort();
  const config = loadConfig({
    PORT: String(port),
    HOST: "127.0.0.1",
    PEEL_DATA_DIR: dataDir,
    PEEL_PUBLIC_URL: `http://127.0.0.1:${port}`,
    PEEL_LOG_LEVEL: process.env.PEEL_TEST_LOG_LEVEL ?? "silent",
    PEEL_POLL_MS: "20",
    PEEL_SHUTDOWN_GRACE_MS: "5000", // close() waits at most this for tasks still generating
    PEEL_CALLBACK_POLL_MS: "20",
    PEEL_OUTBOUND_ALLOW: "127.0.0.1",
    ...opts.env,
  });
  const logger = pino({ level: config.logLevel });
  const runtime = await createRuntime(config, {
    engine: opts.engine,
    clock: opts.clock,
    logger,
    retryBaseMs: opts.retryBaseMs ?? 20,
    sweepIntervalMs: 50,
  });
  const app = await buildApp(runtime.ctx);
  await app.listen({ port, host: "127.0.0.1" });
  if (opts.background !== false) runtime.startBackground();
  const url = `http://127.0.0.1:${port}`;
  const admin = new AdminOps({ store: runtime.store, config, now: () => runtime.clock.now() });

  const newKey: TestPeel["newKey"] = async (o = {}) => {
    const account = o.accountId
      ? (await runtime.store.getAccount(o.accountId))!
      : await admin.createAccount({ name: "test", credits: o.credits ?? opts.credits ?? 1000, unmetered: o.unmetered });
    const res = await admin.createKey({ name: "test-key", accountId: account.id, limits: o.limits });
    return { key: res.key, account, keyId: res.apiKey.id };
  };
  const first = await newKey();

  const api: TestPeel["api"] = async (method, p, body, o = {}) => {
    const key = o.key === undefined ? first.key : o.key;
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (key) headers.authorization = `Bearer ${key}`;
    let payload: string | undefined = o.raw;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(url + p, { method, headers, body: payload });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, headers: res.headers, json, text };
  };

  const waitForTask: TestPeel["waitForTask"] = async (taskId, o = {}) => {
    const until = Date.now() + (o.timeoutMs ?? 20_000);
    for (;;) {
      const r = await api("GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, undefined, { key: o.key });
      const d = r.json?.data;
      if (d && (d.state === "success" || d.state === "fail")) return d;
      if (Date.now() > until) throw new Error(`task ${taskId} not terminal: ${JSON.stringify(r.json)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  let closed = false;
  return {
    url,
    app,
    runtime,
    config,
    admin,
    dataDir,
    key: first.key,
    account: first.account,
    newKey,
    api,
    waitForTask,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await runtime.stop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
