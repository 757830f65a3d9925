import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { until } from "../helpers/polling.js";
import { freePort } from "../helpers/ports.js";

/**
 * `peel` as real child processes for the ops tests: `serve` to SIGTERM and restart, one-shot
 * commands (`doctor`, `backup`, `keys create`) with their exit code and output. Runs from source
 * through tsx in the child itself, so the pid signalled is the server's.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ADMIN_TOKEN = "ops-test-admin-token";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class PeelProcesses {
  readonly dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-ops-"));
  readonly url: string;
  private readonly children = new Set<ChildProcess>();
  private readonly output: string[] = [];

  private constructor(
    readonly port: number,
    private readonly baseEnv: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async create(t: TestContext, env: Record<string, string> = {}): Promise<PeelProcesses> {
    const p = new PeelProcesses(await freePort(), env);
    t.after(async () => {
      await Promise.all([...p.children].map((c) => p.kill(c)));
      if (!(t as TestContext & { passed?: boolean }).passed) for (const line of p.output.slice(-200)) t.diagnostic(line);
      rmSync(p.dataDir, { recursive: true, force: true });
    });
    return p;
  }

  env(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    // Minimal: the caller's GEMINI_API_KEY or PEEL_DATABASE_URL must not leak into the child.
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      PORT: String(this.port),
      HOST: "127.0.0.1",
      PEEL_PUBLIC_URL: this.url,
      PEEL_DATA_DIR: this.dataDir,
      PEEL_ENGINE: "sandbox",
      PEEL_ADMIN_TOKEN: ADMIN_TOKEN,
      PEEL_OUTBOUND_ALLOW: "127.0.0.1",
      PEEL_POLL_MS: "100",
      PEEL_CALLBACK_POLL_MS: "100",
      PEEL_READ_LIMIT: "0",
      PEEL_CREATE_LIMIT: "0",
      PEEL_METRICS_PORT: "0",
      PEEL_LOG_LEVEL: "info",
      ...this.baseEnv,
      ...overrides,
    };
  }

  spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
      cwd: ROOT,
      env: this.env(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line) this.output.push(`[${args[0]} ${child.pid}] ${line}`);
      if (this.output.length > 500) this.output.splice(0, this.output.length - 500);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    return child;
  }

  /** Runs a one-shot command to its end. */
  async cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    const child = this.spawnCli(args, env);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    return { code, stdout, stderr };
  }

  /** `peel keys create`: a fresh account's key (printed alone on the last line). */
  async createKey(): Promise<string> {
    const r = await this.cli(["keys", "create", "--name", "ops"]);
    if (r.code !== 0) throw new Error(`keys create failed: ${r.stderr}`);
    const lines = r.stdout.trim().split("\n");
    return lines[lines.length - 1].trim();
  }

  /** `peel serve`, resolved once /healthz answers. */
  async serve(env: Record<string, string> = {}): Promise<ChildProcess> {
    const child = this.spawnCli(["serve"], env);
    let exited = false;
    child.once("exit", () => (exited = true));
    await until("peel serve to answer /healthz", 30_000, async () => {
      if (exited) throw new Error(`peel serve exited early:\n${this.logs()}`);
      try {
        return (await fetch(`${this.url}/healthz`)).ok;
      } catch {
        return false;
      }
    });
    return child;
  }

  /** Sends `signal` and resolves with the exit code and how long the exit took. */
  async signal(child: ChildProcess, signal: NodeJS.Signals): Promise<{ code: number | null; ms: number }> {
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    process.kill(child.pid!, signal);
    const code = await exited;
    return { code, ms: Date.now() - started };
  }

  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(child.pid!, "SIGKILL");
    await exited;
  }

  async api(key: string, method: string, p: string, body?: unknown): Promise<any> {
    const res = await fetch(this.url + p, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`${method} ${p} → HTTP ${res.status}`);
    return res.json();
  }

  logs(): string {
    return this.output.join("\n");
  }
}
