import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { FakeReceiver, plans } from "../fakes/receiver.js";
import { until, sleep } from "../helpers/polling.js";
import { freePort } from "../helpers/ports.js";
import { PG_SKIP, PG_URL, createSchema, dropSchema, endAdmin, urlWith } from "../store/postgres-fixture.js";

/**
 * Scale-out on PostgreSQL with real processes (docs/scale-out.md): one `PEEL_ROLE=api` process
 * and two `PEEL_ROLE=worker` processes share a database schema and a file directory. A worker is
 * SIGKILLed mid-generation; the other takes its tasks over once their leases expire, and every
 * task still succeeds, is charged once and calls back. The SQLite counterpart, with restarts of a
 * single process, is test/process/restart.test.ts.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ADMIN_TOKEN = "scale-out-test-admin-token";
const PRICE = 18;
const INITIAL_CREDITS = 1000;

/** Processes sharing one database schema and data directory; the API process's URL is public. */
class Cluster {
  readonly dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-scale-"));
  private readonly children = new Set<ChildProcess>();
  private readonly output: string[] = [];

  constructor(
    readonly databaseUrl: string,
    readonly apiPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  env(port: number, role: string): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      PORT: String(port),
      HOST: "127.0.0.1",
      PEEL_ROLE: role,
      PEEL_DATABASE_URL: this.databaseUrl,
      PEEL_PUBLIC_URL: this.url,
      PEEL_DATA_DIR: this.dataDir,
      // one secret for all processes: links signed by a worker are checked by the API process
      PEEL_SECRET: "scale-out-test-secret-0123456789abcdef",
      PEEL_ENGINE: "sandbox",
      PEEL_SANDBOX_DELAY_MS: "2500",
      PEEL_ADMIN_TOKEN: ADMIN_TOKEN,
      PEEL_OUTBOUND_ALLOW: "127.0.0.1",
      PEEL_LEASE_MS: "1500",
      PEEL_POLL_MS: "100",
      PEEL_CALLBACK_POLL_MS: "100",
      PEEL_READ_LIMIT: "0",
      PEEL_INITIAL_CREDITS: String(INITIAL_CREDITS),
      PEEL_LOG_LEVEL: "info",
      PEEL_METRICS_PORT: "0", // three processes on one host: no shared default port
    };
  }

  private spawnCli(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line) this.output.push(`[${env.PEEL_ROLE} ${child.pid}] ${line}`);
      if (this.output.length > 300) this.output.splice(0, this.output.length - 300);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    return child;
  }

  async createKey(): Promise<{ key: string; accountId: string }> {
    const child = this.spawnCli(["keys", "create", "--name", "t"], this.env(this.apiPort, "api"));
    let stdout = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    assert.equal(code, 0, `keys create failed:\n${this.logs()}`);
    const lines = stdout.trim().split("\n");
    const accountId = /^account:\s+(\S+)/m.exec(stdout)?.[1];
    assert.ok(accountId, `no account id in:\n${stdout}`);
    return { key: lines[lines.length - 1].trim(), accountId };
  }

  /** `peel serve` with a role, resolved once it answers /healthz on its own port. */
  async serve(role: "api" | "worker", port: number): Promise<ChildProcess> {
    const child = this.spawnCli(["serve"], this.env(port, role));
    let exited = false;
    child.once("exit", () => (exited = true));
    await until(`peel serve (${role}) to answer /healthz`, 20_000, async () => {
      if (exited) throw new Error(`peel serve exited early:\n${this.logs()}`);
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
      } catch {
        return false;
      }
    });
    return child;
  }

  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(child.pid!, "SIGKILL");
    await exited;
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.kill(c)));
  }

  logs(): string {
    return this.output.join("\n");
  }

  async api(key: string, method: string, p: string, body?: unknown): Promise<any> {
    const res = await fetch(this.url + p, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.equal(res.status, 200, `${method} ${p} → HTTP ${res.status}`);
    return res.json();
  }

  async admin(p: string): Promise<any> {
    const res = await fetch(this.url + p, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200, `GET ${p} → HTTP ${res.status}`);
    return ((await res.json()) as { data: any }).data;
  }
}

if (!PG_URL) {
  test("scale-out on PostgreSQL", { skip: PG_SKIP }, () => {});
} else {
  after(endAdmin);

  test("api + two workers on PostgreSQL: a worker SIGKILLed mid-generation loses nothing", async (t: TestContext) => {
    const schema = await createSchema();
    const receiver = await FakeReceiver.start(plans.ok());
    const cluster = new Cluster(urlWith({ schema, pool_size: "4" }), await freePort());
    t.after(async () => {
      await cluster.killAll();
      if ((t as TestContext & { passed?: boolean }).passed === false)
        for (const line of cluster.logs().split("\n")) if (line) t.diagnostic(line);
      await receiver.close();
      rmSync(cluster.dataDir, { recursive: true, force: true });
      await dropSchema(schema);
    });

    await cluster.serve("api", cluster.apiPort);
    const { key, accountId } = await cluster.createKey();
    const doomed = await cluster.serve("worker", await freePort());
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await cluster.api(key, "POST", "/api/v1/jobs/createTask", {
        model: "nano-banana-pro",
        callBackUrl: receiver.url(`/hook/${i}`),
        input: { prompt: `task ${i}`, aspect_ratio: "1:1", resolution: "1K", output_format: "png" },
      });
      assert.equal(res.code, 200, JSON.stringify(res));
      ids.push(res.data.taskId);
    }
    const state = async (id: string) => (await cluster.api(key, "GET", `/api/v1/jobs/recordInfo?taskId=${id}`)).data;
    // The only worker so far claims up to the account's running cap, then dies holding those leases.
    await until("the first worker to be generating", 10_000, async () => (await state(ids[0])).state === "generating");
    await cluster.kill(doomed);
    assert.equal(receiver.requests.length, 0, "nothing settled before the kill");

    await cluster.serve("worker", await freePort());
    const recs = await until("every task to succeed", 40_000, async () => {
      const all = await Promise.all(ids.map(state));
      const failed = all.find((r) => r.state === "fail");
      if (failed) throw new Error(`task ${failed.taskId} failed: ${failed.failCode} ${failed.failMsg}`);
      return all.every((r) => r.state === "success") ? all : null;
    });
    // Result files written by a worker are served by the API process (shared file store, one secret).
    const url = JSON.parse(recs[0].resultJson).resultUrls[0] as string;
    assert.ok(url.startsWith(cluster.url), url);
    assert.equal((await fetch(url)).status, 200);

    const credit = await cluster.api(key, "GET", "/api/v1/chat/credit");
    assert.equal(credit.data, INITIAL_CREDITS - PRICE * ids.length, "each task charged once");
    const ledger: { taskId: string | null; kind: string }[] = await cluster.admin(
      `/admin/v1/accounts/${accountId}/ledger?limit=1000`,
    );
    for (const id of ids) {
      assert.deepEqual(
        ledger
          .filter((e) => e.taskId === id)
          .map((e) => e.kind)
          .sort(),
        ["capture", "hold"],
        `ledger of ${id}`,
      );
    }
    await until("six callbacks", 10_000, async () => receiver.requests.length >= 6);
    await sleep(300); // room for a duplicate to show up, if there were one
    for (let i = 0; i < ids.length; i++) {
      const got = receiver.at(`/hook/${i}`);
      assert.equal(got.length, 1, `callbacks for task ${i}`);
      assert.equal(JSON.parse(got[0].body).taskId, ids[i]);
    }
  });
}
