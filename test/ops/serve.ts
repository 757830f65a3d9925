import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { AdminOps } from "../../src/admin/operations.js";
import { loadConfig, type Config } from "../../src/config.js";
import { serve } from "../../src/server.js";
import { freePort } from "../helpers/ports.js";

/**
 * `serve()` in this process, as `peel serve` runs it (metrics listener, drain on close), for tests
 * that look inside: metrics text, readiness answers, drain order. Closed after the test.
 */
export interface ServedPeel {
  url: string;
  /** `http://127.0.0.1:P/metrics`, or null when metrics are off. */
  metricsUrl: string | null;
  config: Readonly<Config>;
  served: Awaited<ReturnType<typeof serve>>;
  dataDir: string;
  key: string;
  api(method: string, p: string, body?: unknown): Promise<{ status: number; json: any; headers: Headers }>;
  waitForTask(taskId: string, timeoutMs?: number): Promise<any>;
  scrape(): Promise<string>;
}

export async function servePeel(t: TestContext, env: Record<string, string> = {}, dataDir?: string): Promise<ServedPeel> {
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), "peel-ops-serve-"));
  const port = await freePort();
  const config = loadConfig({
    PORT: String(port),
    HOST: "127.0.0.1",
    PEEL_DATA_DIR: dir,
    PEEL_PUBLIC_URL: `http://127.0.0.1:${port}`,
    PEEL_LOG_LEVEL: "silent",
    PEEL_POLL_MS: "20",
    PEEL_CALLBACK_POLL_MS: "20",
    PEEL_OUTBOUND_ALLOW: "127.0.0.1",
    PEEL_READ_LIMIT: "0",
    PEEL_CREATE_LIMIT: "0",
    PEEL_METRICS_PORT: String(await freePort()),
    PEEL_SHUTDOWN_GRACE_MS: "2000",
    ...env,
  });
  let served: Awaited<ReturnType<typeof serve>> | null = null;
  t.after(async () => {
    await served?.close();
    if (!dataDir) rmSync(dir, { recursive: true, force: true });
  });
  served = await serve(config);
  const admin = new AdminOps({ store: served.runtime.store, config, now: () => Date.now() });
  const account = await admin.createAccount({ name: "ops", credits: 1000 });
  const { key } = await admin.createKey({ name: "ops-key", accountId: account.id });
  const url = `http://127.0.0.1:${port}`;
  const metricsUrl = served.metricsServer ? `http://${config.metrics.host}:${served.metricsServer.port}/metrics` : null;

  const api: ServedPeel["api"] = async (method, p, body) => {
    const res = await fetch(url + p, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, headers: res.headers };
  };
  const waitForTask: ServedPeel["waitForTask"] = async (taskId, timeoutMs = 20_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const d = (await api("GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`)).json?.data;
      if (d && (d.state === "success" || d.state === "fail")) return d;
      if (Date.now() > until) throw new Error(`task ${taskId} not terminal`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const scrape = async () => {
    if (!metricsUrl) throw new Error("metrics are off");
    const res = await fetch(metricsUrl);
    if (res.status !== 200) throw new Error(`GET ${metricsUrl} → ${res.status}`);
    return res.text();
  };
  return { url, metricsUrl, config, served, dataDir: dir, key, api, waitForTask, scrape };
}
