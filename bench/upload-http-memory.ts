/**
 * Peak memory of a real peel process while it takes 30 MiB multipart uploads over HTTP
 * (POST /api/file-stream-upload), per file store backend.
 *
 *   node --import tsx bench/upload-http-memory.ts            # local and s3
 *   BENCH_BACKENDS=s3 BENCH_MIB=30 BENCH_CONCURRENCY=20 node --import tsx bench/upload-http-memory.ts
 *   BENCH_BASE64=1 node --import tsx bench/upload-http-memory.ts   # also POST /api/file-base64-upload
 *
 * peel runs in a child process (startPeel: the same createRuntime + buildApp as `peel serve`); for
 * s3 the S3 endpoint is s3rver in this (the parent) process, so its buffers are not counted. The
 * parent streams each multipart body from a generator (never holding it), and samples the child's
 * /proc/<pid>/status VmRSS every 20 ms. Two runs per backend: one upload alone, then
 * BENCH_CONCURRENCY uploads at once. Bounded means growth per upload stays at a few MiB (local:
 * stream buffers; s3: one streamed PutObject, since the staged file's size is known) whatever
 * the body size. Measured on Node 20 (2 CPUs): 20 concurrent 30 MiB uploads peak about 25 MiB
 * (local) and 30 MiB (s3) over the idle process. Base64 bodies cannot be streamed; they are
 * bounded by the route's byte budget instead (two largest bodies in flight, about 400 MiB peak).
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_MIB ?? 30) * MiB;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
/** also measure base64 JSON uploads (BENCH_BASE64=1). */
const BASE64 = process.env.BENCH_BASE64 === "1";
const BACKENDS = (process.env.BENCH_BACKENDS ?? "local,s3").split(",").map((s) => s.trim()) as ("local" | "s3")[];

interface Ready {
  url: string;
  key: string;
}

/** The measured process: a peel on a free port; tells the parent its URL and key. */
async function child(): Promise<void> {
  const { startPeel } = await import("../test/helpers/harness.js");
  const env = JSON.parse(process.env.BENCH_PEEL_ENV ?? "{}") as Record<string, string>;
  const peel = await startPeel({ env: { PEEL_UPLOAD_MAX_BYTES: String(SIZE), ...env } });
  process.send!({ url: peel.url, key: peel.key } satisfies Ready);
  process.on("message", async (m) => {
    if (m === "stop") {
      await peel.close();
      process.exit(0);
    }
  });
}

async function parent(): Promise<void> {
  console.log(
    `peel upload memory over HTTP: ${SIZE / MiB} MiB multipart bodies, 1 then ${CONCURRENCY} at once (node ${process.version})`,
  );
  for (const backend of BACKENDS) await runBackend(backend);
}

async function runBackend(backend: "local" | "s3"): Promise<void> {
  let s3: { endpoint: string; bucket: string; close(): Promise<void> } | null = null;
  let env: Record<string, string> = {};
  if (backend === "s3") {
    const { startFakeS3, S3RVER_CREDENTIALS } = await import("../test/fakes/s3-server.js");
    s3 = await startFakeS3();
    env = {
      PEEL_FILE_STORE: "s3",
      PEEL_S3_BUCKET: s3.bucket,
      PEEL_S3_ENDPOINT: s3.endpoint,
      PEEL_S3_REGION: "us-east-1",
      PEEL_S3_FORCE_PATH_STYLE: "true",
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
  }
  const proc = fork(fileURLToPath(import.meta.url), ["--child"], {
    execArgv: ["--import", "tsx"],
    // AWS_* for the SDK's credential chain in the child; BENCH_PEEL_ENV for loadConfig
    env: { ...process.env, ...pick(env, "AWS_"), BENCH_PEEL_ENV: JSON.stringify(env) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const ready = await new Promise<Ready>((resolve, reject) => {
      proc.once("message", (m) => resolve(m as Ready));
      proc.once("exit", (code) => reject(new Error(`peel child exited (${code})`)));
    });
    // warm-up: JIT, lazy imports, SDK client and sockets, so the baseline is a steady state
    for (let i = 0; i < 3; i++) await upload(ready, `warm${i}`, 2 * MiB);
    await sleep(500);
    await measure(backend, proc, `1 upload`, 1, (i) => upload(ready, `one${i}`, SIZE));
    await sleep(500);
    await measure(backend, proc, `${CONCURRENCY} concurrent`, CONCURRENCY, (i) => upload(ready, `many${i}`, SIZE));
    if (BASE64) {
      // For comparison: a JSON body cannot be streamed, so each base64 upload holds its body
      // (about 40 MiB of text) and the decoded bytes while it is handled.
      const b64 = Buffer.from(pngBody(SIZE).toString("base64"));
      await sleep(500);
      await measure(backend, proc, `b64 1`, 1, (i) => uploadBase64(ready, `b64one${i}`, b64));
      await sleep(500);
      await measure(backend, proc, `b64 ${CONCURRENCY}`, CONCURRENCY, (i) => uploadBase64(ready, `b64many${i}`, b64));
    }
  } finally {
    proc.send("stop");
    await new Promise((r) => proc.once("exit", r));
    await s3?.close();
  }
}

/** RSS of each child after warm-up, before any measured upload. */
const idle = new Map<number, number>();

async function measure(
  backend: string,
  proc: ChildProcess,
  label: string,
  n: number,
  run: (i: number) => Promise<void>,
): Promise<void> {
  const pid = proc.pid!;
  const baseline = rssOf(pid);
  if (!idle.has(pid)) idle.set(pid, baseline);
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(pid));
  }, 20);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => run(i)));
  const ms = performance.now() - t0;
  clearInterval(timer);
  peak = Math.max(peak, rssOf(pid));
  const growth = peak - baseline;
  console.log(
    `${backend.padEnd(5)} ${label.padEnd(13)} ${((n * SIZE) / MiB).toFixed(0).padStart(4)} MiB in ${(ms / 1000).toFixed(1).padStart(5)} s | ` +
      `RSS baseline ${mib(baseline)}, peak ${mib(peak)} (${mib(peak - idle.get(pid)!)} over idle), growth ${mib(growth)} (${mib(growth / n)} per upload)`,
  );
}

function pngBody(size: number): Buffer {
  const b = Buffer.alloc(size, 7);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b);
  return b;
}

/** One base64 JSON upload; every request shares the same encoded text (one copy in this process). */
function uploadBase64(target: Ready, name: string, b64: Buffer): Promise<void> {
  const head = Buffer.from(`{"uploadPath":"bench","fileName":"${name}.png","base64Data":"`);
  const tail = Buffer.from(`"}`);
  return send(
    target,
    "/api/file-base64-upload",
    "application/json",
    head.length + b64.length + tail.length,
    name,
    SIZE,
    (req) => {
      req.write(head);
      req.write(b64);
      req.end(tail);
    },
  );
}

function send(
  target: Ready,
  route: string,
  contentType: string,
  length: number,
  name: string,
  size: number,
  write: (req: http.ClientRequest) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${target.url}${route}`, {
      method: "POST",
      agent: false,
      headers: { authorization: `Bearer ${target.key}`, "content-type": contentType, "content-length": String(length) },
    });
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () => {
        const body = JSON.parse(Buffer.concat(parts).toString());
        if (body.success !== true || body.data.fileSize !== size)
          reject(new Error(`upload ${name} failed: ${JSON.stringify(body)}`));
        else resolve();
      });
    });
    req.on("error", reject);
    write(req);
  });
}

/** One multipart upload, the body generated on the fly (PNG magic, then filler). */
function upload(target: Ready, name: string, size: number): Promise<void> {
  const boundary = `----peelbench${Math.random().toString(16).slice(2)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="uploadPath"\r\n\r\nbench\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="fileName"\r\n\r\n${name}.png\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const filler = Buffer.alloc(64 * 1024, 7);
  const first = Buffer.from(filler);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(first);
  const length = head.length + size + tail.length;
  return send(target, "/api/file-stream-upload", `multipart/form-data; boundary=${boundary}`, length, name, size, (req) => {
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(filler.length, size - sent);
        const piece = (sent === 0 ? first : filler).subarray(0, n);
        sent += n;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      req.end(tail);
    };
    req.write(head);
    pump();
  });
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function pick(env: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith(prefix)));
}

const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (process.argv.includes("--child")) await child();
else await parent();
