import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { startFakeGemini, type FakeGemini } from "../fakes/fake-gemini.js";
import { FakeReceiver } from "../fakes/receiver.js";
import { until } from "../helpers/polling.js";
import { freePort } from "../helpers/ports.js";

/**
 * Issue 9, "how it will be checked", black box: `peel serve` as a child process (from source
 * through tsx, the same code `npm run build` compiles) on the Gemini engine against the fake Google
 * server, real webhook receivers, and only HTTP (kie API, admin API) and the `peel` CLI to drive
 * it — what a kie client and an operator see.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ADMIN_TOKEN = "kie-clients-admin-token";

class Server {
  readonly output: string[] = [];
  child: ChildProcess | null = null;
  constructor(
    readonly url: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async start(env: Record<string, string>, opts: { publicUrl?: string } = {}): Promise<Server> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-kie-clients-"));
    const s = new Server(url, {
      // a minimal environment: a GEMINI_API_KEY or database URL in the caller's shell must not leak in
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      PORT: String(port),
      HOST: "127.0.0.1",
      PEEL_PUBLIC_URL: opts.publicUrl ?? url,
      PEEL_DATA_DIR: dataDir,
      PEEL_ADMIN_TOKEN: ADMIN_TOKEN,
      PEEL_POLL_MS: "50",
      PEEL_CALLBACK_POLL_MS: "50",
      PEEL_READ_LIMIT: "0",
      PEEL_CREATE_LIMIT: "0",
      PEEL_LOG_LEVEL: "info",
      PEEL_METRICS_PORT: "0", // servers run side by side: no shared default metrics port
      ...env,
    });
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], {
      cwd: ROOT,
      env: s.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    s.child = child;
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line) s.output.push(line);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    child.once("exit", () => rmSync(dataDir, { recursive: true, force: true }));
    await until("peel serve to answer /healthz", 30_000, async () => {
      if (child.exitCode !== null) throw new Error(`peel serve exited early:\n${s.output.join("\n")}`);
      return fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    });
    return s;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }

  /** Log lines (pino JSON) with this event. */
  events(event: string): Array<Record<string, unknown>> {
    return this.output.flatMap((l) => {
      try {
        const j = JSON.parse(l) as Record<string, unknown>;
        return j.event === event ? [j] : [];
      } catch {
        return [];
      }
    });
  }

  async call(method: string, p: string, body: unknown, auth: string): Promise<{ status: number; json: any }> {
    const res = await fetch(this.url + p, {
      method,
      headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  async admin(method: string, p: string, body?: unknown): Promise<any> {
    const r = await this.call(method, p, body, ADMIN_TOKEN);
    assert.ok(r.status < 300, `${method} ${p} → ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.data;
  }
}

let fake: FakeGemini;
let receiver: FakeReceiver;
let peel: Server;
/** an API key whose account starts with 1000 credits. */
let key: string;

before(async () => {
  fake = await startFakeGemini();
  receiver = await FakeReceiver.start();
  peel = await Server.start({
    PEEL_ENGINE: "gemini",
    GEMINI_API_KEY: "test-key",
    PEEL_GEMINI_BASE_URL: fake.url,
    PEEL_OUTBOUND_ALLOW: "127.0.0.1,localhost",
    PEEL_CALLBACK_DENY: "localhost",
    PEEL_INITIAL_CREDITS: "1000",
  });
  key = await newKey();
});

after(async () => {
  await peel?.stop();
  await receiver?.close();
  await fake?.close();
});

async function newKey(): Promise<string> {
  return (await peel.admin("POST", "/admin/v1/keys", { name: "kie-client" })).key;
}

const kie = (method: string, p: string, body?: unknown, k = key) => peel.call(method, p, body, k).then((r) => r.json);

async function credits(k = key): Promise<number> {
  return (await kie("GET", "/api/v1/chat/credit", undefined, k)).data;
}

async function create(body: unknown, k = key): Promise<string> {
  const r = await kie("POST", "/api/v1/jobs/createTask", body, k);
  assert.equal(r.code, 200, JSON.stringify(r));
  return r.data.taskId;
}

async function settled(taskId: string, k = key): Promise<any> {
  return until(`task ${taskId} to settle`, 60_000, async () => {
    const d = (await kie("GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, undefined, k)).data;
    return d && (d.state === "success" || d.state === "fail") ? d : null;
  });
}

async function result(rec: any): Promise<{ bytes: Buffer; type: string | null }> {
  assert.equal(rec.state, "success", `${rec.failCode} ${rec.failMsg}`);
  const res = await fetch(JSON.parse(rec.resultJson).resultUrls[0]);
  assert.equal(res.status, 200);
  return { bytes: Buffer.from(await res.arrayBuffer()), type: res.headers.get("content-type") };
}

/** The fake Google request whose prompt contains `marker`. */
function upstream(marker: string) {
  const r = fake.requests.find((q) => JSON.stringify(q.body?.contents ?? "").includes(marker));
  assert.ok(r, `no Google request for ${marker}`);
  return r;
}

test("nano-banana-2-lite, the default of a widely used client, succeeds at 1024×1024 and is charged 4", async () => {
  const k = await newKey();
  const before = await credits(k);
  const taskId = await create(
    { model: "nano-banana-2-lite", input: { prompt: "a red fox, lite-1", aspect_ratio: "1:1", image_urls: [] } },
    k,
  );
  const rec = await settled(taskId, k);
  const { bytes, type } = await result(rec);
  const meta = await sharp(bytes).metadata();
  assert.deepEqual([meta.width, meta.height], [1024, 1024]);
  assert.equal(type, "image/jpeg");
  assert.equal(rec.consumeCredits, 4);
  assert.equal(before - (await credits(k)), 4);
  const g = upstream("lite-1");
  assert.equal(g.model, "gemini-3.1-flash-lite-image");
  assert.deepEqual(g.body.generationConfig.imageConfig, { aspectRatio: "1:1", imageSize: "1K" });
});

test("nano-banana-2-lite with resolution 2K → 422 with the contract's enum message, nothing charged", async () => {
  const before = await credits();
  const r = await kie("POST", "/api/v1/jobs/createTask", {
    model: "nano-banana-2-lite",
    input: { prompt: "x", resolution: "2K" },
  });
  assert.deepEqual(r, { code: 422, msg: "resolution is not within the range of allowed options", data: null });
  assert.equal(await credits(), before);
});

test("nano-banana-2 is charged 8 at 1K and 12 at 2K", async () => {
  const k = await newKey();
  const start = await credits(k);
  const one = await settled(await create({ model: "nano-banana-2", input: { prompt: "p", resolution: "1K" } }, k), k);
  assert.equal(one.consumeCredits, 8);
  assert.equal(start - (await credits(k)), 8);
  const two = await settled(await create({ model: "nano-banana-2", input: { prompt: "p", resolution: "2K" } }, k), k);
  assert.equal(two.consumeCredits, 12);
  assert.equal(start - (await credits(k)), 20);
});

test('output_format "jpeg" on nano-banana-pro succeeds with JPEG bytes; param keeps "jpeg"', async () => {
  const rec = await settled(
    await create({
      model: "nano-banana-pro",
      input: { prompt: "p [[fake:ok_png]]", output_format: "jpeg", aspect_ratio: "16:9" },
    }),
  );
  const { bytes, type } = await result(rec);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  assert.equal(type, "image/jpeg");
  assert.match(JSON.parse(rec.resultJson).resultUrls[0], /\.jpg$/);
  assert.equal(JSON.parse(rec.param).input.output_format, "jpeg");
});

test("google_search: true on nano-banana-2 reaches Google as the search tool", async () => {
  await result(await settled(await create({ model: "nano-banana-2", input: { prompt: "search-1", google_search: true } })));
  await result(await settled(await create({ model: "nano-banana-2", input: { prompt: "search-0" } })));
  assert.deepEqual(upstream("search-1").tools, ["googleSearch"]);
  assert.deepEqual(upstream("search-1").body.tools, [{ googleSearch: {} }]);
  assert.deepEqual(upstream("search-0").tools, []);
});

test("google/nano-banana runs on gemini-3.1-flash-image at its 1K size, with its kie input schema", async () => {
  const rec = await settled(
    await create({ model: "google/nano-banana", input: { prompt: "flash-1", image_size: "16:9", output_format: "jpeg" } }),
  );
  const meta = await sharp((await result(rec)).bytes).metadata();
  assert.deepEqual([meta.width, meta.height], [1376, 768]);
  assert.equal(rec.consumeCredits, 4);
  const g = upstream("flash-1");
  assert.equal(g.model, "gemini-3.1-flash-image");
  assert.deepEqual(g.body.generationConfig.imageConfig, { aspectRatio: "16:9", imageSize: "1K" });
});

test("PEEL_CALLBACK_DENY=localhost: a callback to localhost is never sent, one to 127.0.0.1 arrives", async () => {
  const port = new URL(receiver.origin).port;
  const denied = await create({
    model: "nano-banana-pro",
    callBackUrl: `http://localhost:${port}/denied`,
    input: { prompt: "cb-0" },
  });
  const allowed = await create({
    model: "nano-banana-pro",
    callBackUrl: `http://127.0.0.1:${port}/allowed`,
    input: { prompt: "cb-1" },
  });
  // the client keeps working: both tasks are accepted and succeed
  assert.equal((await settled(denied)).state, "success");
  assert.equal((await settled(allowed)).state, "success");
  await until("the allowed callback", 30_000, async () => receiver.at("/allowed").length > 0);
  assert.equal(JSON.parse(receiver.at("/allowed")[0].body).data.taskId, allowed);

  const [skipped] = await peel.admin("GET", `/admin/v1/deliveries?taskId=${denied}`);
  assert.equal(skipped.state, "skipped");
  assert.equal(skipped.lastError, "callback host localhost is denied by PEEL_CALLBACK_DENY (localhost)");
  assert.equal(skipped.attemptCount, 0);
  assert.equal(skipped.nextAttemptAt, null);
  assert.deepEqual((await peel.admin("GET", `/admin/v1/deliveries/${skipped.id}`)).attempts, []);
  assert.equal(receiver.at("/denied").length, 0);
  // one info line, naming the host but not the URL
  const lines = await until("the skip's log line", 10_000, async () => {
    const l = peel.events("callback:skipped").filter((e) => e.taskId === denied);
    return l.length ? l : null;
  });
  assert.equal(lines.length, 1);
  assert.equal(lines[0].level, 30);
  assert.equal(lines[0].host, "localhost");
  assert.ok(!JSON.stringify(lines[0]).includes("/denied"));
});

test("an account's own callback policy, set through the admin API and the `peel accounts` CLI, overrides the operator's", async () => {
  const created = await peel.admin("POST", "/admin/v1/keys", { name: "partner" });
  const partnerKey: string = created.key;
  const accountId: string = created.account.id;
  const port = new URL(receiver.origin).port;

  // bad patterns are refused with the reason
  const bad = await peel.call("PUT", `/admin/v1/accounts/${accountId}/callback-policy`, { allow: ["https://x/"] }, ADMIN_TOKEN);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, "invalid_callback_policy");

  // the CLI over the admin API (PEEL_ADMIN_URL), as an operator would
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli.ts", "accounts", "callback-policy", accountId, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, PEEL_ADMIN_URL: peel.url, PEEL_ADMIN_TOKEN: ADMIN_TOKEN },
    });
  const set = await cli("--allow", "localhost", "--deny", "*.partner.example");
  assert.deepEqual(JSON.parse(set.stdout), { allow: ["localhost"], deny: ["*.partner.example"] });
  assert.deepEqual((await peel.admin("GET", `/admin/v1/accounts/${accountId}`)).callbackPolicy, {
    allow: ["localhost"],
    deny: ["*.partner.example"],
  });

  const sent = await create(
    { model: "nano-banana-pro", callBackUrl: `http://localhost:${port}/partner`, input: { prompt: "cb-2" } },
    partnerKey,
  );
  await settled(sent, partnerKey);
  await until("the partner's callback to localhost", 30_000, async () => receiver.at("/partner").length > 0);

  const blocked = await create(
    { model: "nano-banana-pro", callBackUrl: "https://hooks.partner.example/cb", input: { prompt: "cb-3" } },
    partnerKey,
  );
  await settled(blocked, partnerKey);
  const [d] = await until("the blocked delivery", 10_000, async () => {
    const list = await peel.admin("GET", `/admin/v1/deliveries?taskId=${blocked}`);
    return list.length ? list : null;
  });
  assert.equal(d.state, "skipped");
  assert.match(d.lastError, /denied by the account's callback policy \(\*\.partner\.example\)/);

  // --clear: back to the operator's policy
  const cleared = await cli("--clear");
  assert.equal(JSON.parse(cleared.stdout), null);
  assert.equal((await peel.admin("GET", `/admin/v1/accounts/${accountId}`)).callbackPolicy, null);
});

test("a multipart upload of image_1700000000_abc.png without fileName answers with that name", async () => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#123456" } })
    .png()
    .toBuffer();
  const form = new FormData();
  form.append("file", new Blob([png], { type: "image/png" }), "image_1700000000_abc.png");
  const res = await fetch(`${peel.url}/api/file-stream-upload`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  const r = (await res.json()) as any;
  assert.equal(r.code, 200, JSON.stringify(r));
  assert.equal(r.data.fileName, "image_1700000000_abc.png");
  assert.equal(r.data.filePath, "uploads/image_1700000000_abc.png");
  assert.match(r.data.downloadUrl, /\/uploads\/image_1700000000_abc\.png$/);
  assert.ok(Buffer.from(await (await fetch(r.data.downloadUrl)).arrayBuffer()).equals(png));
});

test("OpenAPI documents nano-banana-2-lite", async () => {
  const doc = (await (await fetch(`${peel.url}/openapi.json`)).json()) as any;
  const text = JSON.stringify(doc);
  assert.ok(text.includes('"nano-banana-2-lite"'));
});

test("start-up warnings: a retired Google model id names its replacement; a public http URL points at docs/deploy.md", async () => {
  const s = await Server.start(
    {
      PEEL_ENGINE: "gemini",
      GEMINI_API_KEY: "test-key",
      PEEL_GEMINI_BASE_URL: fake.url,
      PEEL_GEMINI_MODEL: "gemini-3-pro-image-preview",
      PEEL_GOOGLE_MODELS: JSON.stringify({ "google/nano-banana-edit": "gemini-2.5-flash-image" }),
    },
    { publicUrl: "http://peel.example.test:8080" },
  );
  try {
    const warnings = await until("three start-up warnings", 10_000, async () => {
      const w = s.events("config:warning").map((l) => String(l.msg));
      return w.length >= 3 ? w : null;
    });
    assert.equal(warnings.length, 3, warnings.join("\n"));
    assert.ok(warnings.some((w) => /gemini-3-pro-image-preview.*retired on 2026-06-25.*use gemini-3-pro-image\b/.test(w)));
    assert.ok(warnings.some((w) => /gemini-2\.5-flash-image.*retired on 2026-10-02.*use gemini-3\.1-flash-image/.test(w)));
    assert.ok(warnings.some((w) => /PEEL_PUBLIC_URL=http:\/\/peel\.example\.test:8080 is plain http.*docs\/deploy\.md/.test(w)));
  } finally {
    await s.stop();
  }
  // the main server (loopback URL, current model ids) said nothing
  assert.deepEqual(peel.events("config:warning"), []);
});
