import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { until } from "../helpers/polling.js";

/**
 * `peel` as real child processes, for the proof suite (test/proof, bench/proof) and the burst
 * bench: run from source through tsx (`node --import tsx src/cli.ts …`, no build step; the pid is
 * the server itself, so a SIGKILL hits it and nothing else). Output is kept (last 400 lines) to
 * explain a failure.
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export class PeelProcesses {
  private readonly children = new Set<ChildProcess>();
  private readonly output: string[] = [];

  /** @param root the checkout whose `src/cli.ts` runs (benches compare against another one). */
  constructor(
    private readonly baseEnv: Record<string, string>,
    private readonly root = ROOT,
  ) {}

  /** A minimal environment: nothing of the caller's shell changes the engine or the database. */
  env(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      PEEL_ENGINE: "sandbox",
      PEEL_LOG_LEVEL: "warn",
      // several processes on one machine: no fixed metrics port to fight over
      PEEL_METRICS_PORT: "0",
      ...this.baseEnv,
      ...overrides,
    };
  }

  spawn(args: string[], env: Record<string, string> = {}, label = args[0]): ChildProcess {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
      cwd: this.root,
      env: this.env(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line) this.output.push(`[${label} ${child.pid}] ${line}`);
      if (this.output.length > 400) this.output.splice(0, this.output.length - 400);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    return child;
  }

  /** `peel keys create`: the key is the last line of its output. */
  async createKey(env: Record<string, string> = {}): Promise<{ key: string; accountId: string }> {
    const child = this.spawn(["keys", "create", "--name", "proof"], env);
    let stdout = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    if (code !== 0) throw new Error(`peel keys create exited ${code}:\n${this.logs()}`);
    const lines = stdout.trim().split("\n");
    const accountId = /^account:\s+(\S+)/m.exec(stdout)?.[1];
    if (!accountId) throw new Error(`no account id in:\n${stdout}`);
    return { key: lines[lines.length - 1].trim(), accountId };
  }

  /** `peel serve`, resolved once /healthz answers on `port`. */
  async serve(port: number, env: Record<string, string> = {}, label = "serve"): Promise<ChildProcess> {
    const child = this.spawn(["serve"], { PORT: String(port), HOST: "127.0.0.1", ...env }, label);
    let exited = false;
    child.once("exit", () => (exited = true));
    await until(`peel serve (${label}) to answer /healthz on ${port}`, 30_000, async () => {
      if (exited) throw new Error(`peel serve (${label}) exited early:\n${this.logs()}`);
      try {
        await fetch(`http://127.0.0.1:${port}/healthz`);
        return true;
      } catch {
        return false;
      }
    });
    return child;
  }

  async kill(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.kill(c)));
  }

  logs(): string {
    return this.output.join("\n");
  }
}
