import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { until } from "../helpers/polling.js";
import { freePort } from "../helpers/ports.js";

/**
 * `peel serve` processes with PEEL_ROLE=api / worker sharing a database and a data directory, for
 * the tests that need events to cross processes. Logs are kept for a failing test's diagnostics.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ADMIN_TOKEN = "events-test-admin-token";

export class Cluster {
  readonly dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-events-"));
  private children = new Set<ChildProcess>();
  private output: string[] = [];
  apiPort = 0;

  constructor(readonly env: Record<string, string>) {}

  get url(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  async start(role: "api" | "worker", extra: Record<string, string> = {}): Promise<ChildProcess> {
    const port = await freePort();
    if (role === "api") this.apiPort = port;
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TMPDIR: process.env.TMPDIR,
        PORT: String(port),
        HOST: "127.0.0.1",
        PEEL_ROLE: role,
        PEEL_DATA_DIR: this.dataDir,
        PEEL_PUBLIC_URL: this.url,
        PEEL_SECRET: "events-test-secret-0123456789abcdef",
        PEEL_ENGINE: "sandbox",
        PEEL_ADMIN_TOKEN: ADMIN_TOKEN,
        PEEL_READ_LIMIT: "0",
        PEEL_LOG_LEVEL: "warn",
        PEEL_METRICS_PORT: "0", // several processes on one host: no shared default metrics port
        ...this.env,
        ...extra,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line) this.output.push(`[${role}] ${line}`);
      if (this.output.length > 300) this.output.splice(0, this.output.length - 300);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    let exited = false;
    child.once("exit", () => (exited = true));
    await until(`peel serve (${role}) to answer /healthz`, 30_000, async () => {
      if (exited) throw new Error(`peel serve (${role}) exited early:\n${this.logs()}`);
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
      } catch {
        return false;
      }
    });
    return child;
  }

  /** a new account's API key, through the admin API of the API process. */
  async newKey(): Promise<string> {
    const res = await fetch(`${this.url}/admin/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "events" }),
    });
    if (res.status !== 201) throw new Error(`keys: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { data: { key: string } }).data.key;
  }

  logs(): string {
    return this.output.join("\n");
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.children].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once("exit", () => resolve());
            c.kill("SIGKILL");
          }),
      ),
    );
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
