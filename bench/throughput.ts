/**
 * createTask and recordInfo throughput of peel against a bare Fastify hello-world, measured in the
 * same run on the same machine, printed as ratios (goals: createTask ≥ 0.5, recordInfo ≥ 0.8 of
 * the baseline). Figures, not assertions: it always exits 0 unless something could not start.
 *
 *   npm run bench                                  # builds dist/ first, then measures
 *   BENCH_DURATION=10 BENCH_CONNECTIONS=32 BENCH_WARMUP=3 npm run bench
 *   npm run bench -- --no-build --profile          # reuse dist/; CPU-profile the peel process
 *   npm run bench -- --only=create --profile       # one peel endpoint alone, profiled
 *
 * Each server runs in its own child process so the load generator (autocannon, in this process)
 * never shares an event loop with it. Order: warm-up of everything, baseline, peel, baseline
 * again — on a small noisy machine the two baseline runs show how much the numbers drift, and the
 * ratios use their mean. peel runs built JS (`node dist/cli.js serve`) as in production, with
 * PEEL_ROLE=api (no worker in the process: this measures the API), rate limits off, log level
 * warn, a fresh SQLite data directory, and a metered account with enough credits that every
 * createTask takes the full path (credit hold, ledger row).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { freePort } from "../test/helpers/ports.js";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

// --- autocannon (CommonJS, no bundled types): the part of its API used here ------------------
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
  duration: number;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

// --- settings ---------------------------------------------------------------------------------
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argv = new Set(process.argv.slice(2));
const num = (name: string, def: number): number => {
  const v = process.env[name];
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${name}=${v} must be a positive number`);
  return n;
};
/** Seconds per measured run. @defaultValue 10 */
const DURATION = num("BENCH_DURATION", 10);
/** Concurrent connections, the same for every run. @defaultValue 32 */
const CONNECTIONS = num("BENCH_CONNECTIONS", 32);
/** Seconds of warm-up per endpoint (JIT, SQLite page cache), not reported. @defaultValue 3 */
const WARMUP = num("BENCH_WARMUP", 3);
const BUILD = !argv.has("--no-build");
/** --profile: run peel with --cpu-prof and print where its CPU time went (best with --only). */
const PROFILE = argv.has("--profile");
/** --only=create|read: load just that peel endpoint (no baseline), e.g. to profile it alone. */
const ONLY = [...argv].find((a) => a.startsWith("--only="))?.slice("--only=".length) ?? null;
if (ONLY !== null && ONLY !== "create" && ONLY !== "read") throw new Error(`--only=${ONLY}: expected create or read`);
const GOALS = { createTask: 0.5, recordInfo: 0.8 } as const;

const CREATE_BODY = JSON.stringify({
  model: "nano-banana-pro",
  callBackUrl: "https://app.example.org/hooks/kie",
  input: {
    prompt: "A paper-cut diorama of a lighthouse at dusk, warm window light",
    aspect_ratio: "16:9",
    resolution: "2K",
    output_format: "png",
  },
});
/** Baseline POST body: about as large as CREATE_BODY, echoed back. */
const ECHO_BODY = JSON.stringify({ hello: "world", text: "x".repeat(CREATE_BODY.length - 30) });

/** The bare baseline: Fastify 5 defaults, no logger, one GET and one JSON-echo POST. */
const BASELINE_SOURCE = `
import Fastify from "fastify";
const app = Fastify();
app.get("/", async () => ({ hello: "world" }));
app.post("/", async (req) => req.body);
await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
`;

// --- child processes --------------------------------------------------------------------------
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

function start(name: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let out = "";
  const keep = (c: Buffer) => (out = (out + c.toString("utf8")).slice(-8000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  child.once("exit", (code, signal) => {
    if (!stopping.has(child)) console.error(`${name} exited unexpectedly (${code ?? signal}):\n${out}`);
  });
  return { child, output: () => out };
}

async function waitUntilUp(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited before answering ${url}:\n${output()}`);
    try {
      await fetch(url);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`no answer from ${url} after 20 s:\n${output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const stopping = new Set<ChildProcess>();
/** SIGTERM (peel then closes gracefully, which is also when --cpu-prof writes its file). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  stopping.add(child);
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// --- measurement ------------------------------------------------------------------------------
interface Figures {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  bad: number;
  /** server CPU time (user + system) per answered request, µs; NaN where /proc is missing. */
  cpuUs: number;
}

/** CPU time a process has used so far, µs (Linux /proc; NaN elsewhere). */
function cpuTimeUs(pid: number): number {
  try {
    // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) / CLOCK_TICKS) * 1e6;
  } catch {
    return NaN;
  }
}
/** USER_HZ; 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;

/** Requests answered by each server over the whole run (warm-ups included), to scale profiles. */
const served = new Map<string, number>();

async function load(
  server: ChildProcess,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string },
  seconds: number,
): Promise<Figures> {
  const cpu0 = cpuTimeUs(server.pid!);
  const r = await autocannon({ url, connections: CONNECTIONS, duration: seconds, ...opts });
  const cpu = cpuTimeUs(server.pid!) - cpu0;
  const origin = new URL(url).origin;
  served.set(origin, (served.get(origin) ?? 0) + r.requests.total);
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    ok: r["2xx"],
    bad: r.non2xx + r.errors + r.timeouts,
    cpuUs: cpu / r.requests.total,
  };
}

async function main(): Promise<void> {
  if (BUILD) {
    console.log("building dist/ (npm run build) …");
    run(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"]);
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-bench-"));
  // Kept after the run: open it in Chrome DevTools (Performance → Load profile) for the call tree.
  const profDir = mkdtempSync(path.join(os.tmpdir(), "peel-bench-prof-"));
  try {
    // Baseline.
    const basePort = await freePort();
    const base = start("baseline", ["--input-type=module", "-e", BASELINE_SOURCE], { ...process.env, PORT: String(basePort) });
    const baseUrl = `http://127.0.0.1:${basePort}/`;
    await waitUntilUp(baseUrl, base.child, base.output);

    // peel: a metered key with credits for every createTask the run can make.
    const peelPort = await freePort();
    const peelEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(peelPort),
      HOST: "127.0.0.1",
      PEEL_PUBLIC_URL: `http://127.0.0.1:${peelPort}`,
      PEEL_DATA_DIR: dataDir,
      PEEL_ENGINE: "sandbox",
      PEEL_ROLE: "api",
      PEEL_CREATE_LIMIT: "0",
      PEEL_READ_LIMIT: "0",
      PEEL_LOG_LEVEL: "warn",
      PEEL_METRICS_PORT: String(await freePort()), // metrics on, as in production, on a port of its own
      PEEL_INITIAL_CREDITS: "1000000000",
    };
    const keyOut = run(process.execPath, ["dist/cli.js", "keys", "create", "--name", "bench"], peelEnv).trim().split("\n");
    const key = keyOut[keyOut.length - 1].trim();
    const peelArgs = [...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : []), "dist/cli.js", "serve"];
    const peel = start("peel", peelArgs, peelEnv);
    const peelUrl = `http://127.0.0.1:${peelPort}`;
    await waitUntilUp(`${peelUrl}/healthz`, peel.child, peel.output);

    const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    // Business errors answer HTTP 200 with another body code, so check the requests really work.
    const created = (await (
      await fetch(`${peelUrl}/api/v1/jobs/createTask`, { method: "POST", headers: auth, body: CREATE_BODY })
    ).json()) as {
      code: number;
      data: { taskId: string } | null;
    };
    if (created.code !== 200 || !created.data) throw new Error(`createTask does not succeed: ${JSON.stringify(created)}`);
    const taskId = created.data.taskId;
    const readPath = `/api/v1/jobs/recordInfo?taskId=${taskId}`;
    const read = (await (await fetch(peelUrl + readPath, { headers: auth })).json()) as { code: number };
    if (read.code !== 200) throw new Error(`recordInfo does not succeed: ${JSON.stringify(read)}`);
    // A second task, settled (canceled) before the run: recordInfo answers settled tasks from
    // memory (they never change), unfinished ones from the database. Both are measured.
    const settled = (await (
      await fetch(`${peelUrl}/api/v1/jobs/createTask`, { method: "POST", headers: auth, body: CREATE_BODY })
    ).json()) as {
      data: { taskId: string };
    };
    await fetch(`${peelUrl}/api/v1/jobs/cancel`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ taskId: settled.data.taskId }),
    });
    const settledPath = `/api/v1/jobs/recordInfo?taskId=${settled.data.taskId}`;
    const settledRead = (await (await fetch(peelUrl + settledPath, { headers: auth })).json()) as { data: { state: string } };
    if (settledRead.data?.state !== "fail") throw new Error(`the settled task is not settled: ${JSON.stringify(settledRead)}`);
    const balance = async () =>
      ((await (await fetch(`${peelUrl}/api/v1/chat/credit`, { headers: auth })).json()) as { data: number }).data;

    const runs = {
      baseGet: (s = DURATION) => load(base.child, baseUrl, {}, s),
      basePost: (s = DURATION) =>
        load(base.child, baseUrl, { method: "POST", headers: { "content-type": "application/json" }, body: ECHO_BODY }, s),
      create: (s = DURATION) =>
        load(peel.child, `${peelUrl}/api/v1/jobs/createTask`, { method: "POST", headers: auth, body: CREATE_BODY }, s),
      read: (s = DURATION) => load(peel.child, peelUrl + readPath, { headers: auth }, s),
      readSettled: (s = DURATION) => load(peel.child, peelUrl + settledPath, { headers: auth }, s),
    };

    console.log(
      `warm-up: ${WARMUP} s per endpoint; then ${DURATION} s per run, ${CONNECTIONS} connections, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}`,
    );
    if (ONLY) {
      const f = ONLY === "create" ? await runs.create() : await runs.read();
      console.log(
        `peel ${ONLY}: ${f.rps.toFixed(0)} req/s, p50 ${f.p50} ms, p99 ${f.p99} ms, ${f.cpuUs.toFixed(1)} µs server CPU per request, ${f.bad} errors`,
      );
      await stop(peel.child);
      await stop(base.child);
      if (PROFILE) printProfile(profDir, served.get(peelUrl) ?? 0);
      return;
    }
    if (!ONLY) await runs.baseGet(WARMUP);
    if (!ONLY) await runs.basePost(WARMUP);
    if (ONLY !== "read") await runs.create(WARMUP);
    if (ONLY !== "create") await runs.read(WARMUP);
    if (!ONLY) await runs.readSettled(WARMUP);

    const base1 = { get: await runs.baseGet(), post: await runs.basePost() };
    const before = await balance();
    const peelCreate = await runs.create();
    const accepted = (before - (await balance())) / 18;
    const peelRead = await runs.read();
    const peelReadSettled = await runs.readSettled();
    const base2 = { get: await runs.baseGet(), post: await runs.basePost() };

    report({ base1, base2, peelCreate, peelRead, peelReadSettled, accepted });

    await stop(peel.child);
    await stop(base.child);
    if (PROFILE) printProfile(profDir, served.get(peelUrl) ?? 0);
  } finally {
    for (const c of children) c.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// --- output -----------------------------------------------------------------------------------
function report(r: {
  base1: { get: Figures; post: Figures };
  base2: { get: Figures; post: Figures };
  peelCreate: Figures;
  peelRead: Figures;
  peelReadSettled: Figures;
  accepted: number;
}): void {
  const rows: string[][] = [["endpoint", "req/s", "p50 ms", "p99 ms", "errors", "CPU µs/req", "vs baseline", "goal", "met"]];
  const fmt = (n: number) => n.toFixed(0);
  const line = (name: string, f: Figures, ratio = "", goal = "", met = "") =>
    rows.push([name, fmt(f.rps), String(f.p50), String(f.p99), String(f.bad), f.cpuUs.toFixed(1), ratio, goal, met]);
  const pair = (a: Figures, b: Figures) => {
    const mean = (a.rps + b.rps) / 2;
    return { mean, spread: Math.abs(a.rps - b.rps) / mean };
  };
  const get = pair(r.base1.get, r.base2.get);
  const post = pair(r.base1.post, r.base2.post);
  line("fastify GET / (1st)", r.base1.get);
  line("fastify GET / (2nd)", r.base2.get);
  line("fastify POST / echo (1st)", r.base1.post);
  line("fastify POST / echo (2nd)", r.base2.post);
  const cr = r.peelCreate.rps / post.mean;
  const rr = r.peelRead.rps / get.mean;
  line("peel POST createTask", r.peelCreate, cr.toFixed(2), `≥ ${GOALS.createTask}`, cr >= GOALS.createTask ? "yes" : "NO");
  line("peel GET recordInfo", r.peelRead, rr.toFixed(2), `≥ ${GOALS.recordInfo}`, rr >= GOALS.recordInfo ? "yes" : "NO");
  const rs = r.peelReadSettled.rps / get.mean;
  line(
    "peel GET recordInfo (settled)",
    r.peelReadSettled,
    rs.toFixed(2),
    `≥ ${GOALS.recordInfo}`,
    rs >= GOALS.recordInfo ? "yes" : "NO",
  );

  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  console.log();
  for (const [i, row] of rows.entries()) {
    console.log(row.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join("  "));
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
  console.log();
  console.log(
    `baseline mean: GET ${fmt(get.mean)} req/s (spread ${(get.spread * 100).toFixed(1)} %), POST ${fmt(post.mean)} req/s (spread ${(post.spread * 100).toFixed(1)} %)`,
  );
  const cpu = (a: Figures, b: Figures) => (a.cpuUs + b.cpuUs) / 2;
  console.log(
    `server CPU per request: createTask ${r.peelCreate.cpuUs.toFixed(1)} µs vs POST echo ${cpu(r.base1.post, r.base2.post).toFixed(1)} µs; ` +
      `recordInfo ${r.peelRead.cpuUs.toFixed(1)} µs vs GET ${cpu(r.base1.get, r.base2.get).toFixed(1)} µs ` +
      `(a view that load on other cores disturbs less than req/s does)`,
  );
  // autocannon does not count the requests still in flight when a run ends; peel finishes them.
  console.log(
    `createTask: ${r.peelCreate.ok} HTTP 2xx answers, ${r.accepted} tasks accepted and charged (equal up to the ${CONNECTIONS} in flight at the end)`,
  );
}

/** Self time per function and per module from the .cpuprofile written by --cpu-prof. */
function printProfile(dir: string, requests: number): void {
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length === 0) {
    console.log(`no profile in ${dir}`);
    return;
  }
  const prof = JSON.parse(readFileSync(path.join(dir, files[0]), "utf8")) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (f: { functionName: string; url: string; lineNumber: number }) =>
    `${f.functionName || "(anonymous)"} ${moduleOf(f.url, f.functionName)}${f.url ? `:${f.lineNumber + 1}` : ""}`;
  const fnSelf = new Map<string, number>();
  const fnTotal = new Map<string, number>();
  const modSelf = new Map<string, number>();
  let total = 0;
  let idle = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    const f = byId.get(id)!.callFrame;
    if (f.functionName === "(idle)") {
      idle += dt;
      return;
    }
    total += dt;
    const mod = moduleOf(f.url, f.functionName);
    const fn = label(f);
    fnSelf.set(fn, (fnSelf.get(fn) ?? 0) + dt);
    modSelf.set(mod, (modSelf.get(mod) ?? 0) + dt);
    // Inclusive: every distinct frame on this sample's stack.
    const onStack = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) onStack.add(label(byId.get(n)!.callFrame));
    for (const k of onStack) fnTotal.set(k, (fnTotal.get(k) ?? 0) + dt);
  });
  console.log(`\nprofile written to ${path.join(dir, files[0])}`);
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${((v / total) * 100).toFixed(1).padStart(5)} %  ${(v / requests).toFixed(2).padStart(6)} µs/req  ${k}`)
      .join("\n");
  console.log(
    `\npeel CPU profile: ${(total / 1e6).toFixed(1)} s busy (${(idle / 1e6).toFixed(1)} s idle, not counted), ${requests} requests, ${(total / requests).toFixed(1)} µs busy per request (profiler overhead included)`,
  );
  console.log(`\nself time by module\n${top(modSelf, 20)}`);
  console.log(`\nself time by function\n${top(fnSelf, 30)}`);
  console.log(`\ntotal (inclusive) time by function\n${top(fnTotal, 45)}`);
}

function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith("node:")) return url;
  const d = url.indexOf("/dist/");
  return d >= 0 ? `peel ${url.slice(d + 1)}` : url;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
