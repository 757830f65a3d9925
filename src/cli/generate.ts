import { openAsBlob } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { PeelClient, PeelError, resultUrlsOf, type TaskRecord } from "../client/index.js";
import { MODEL_INFO } from "../client/model-info.js";
import { clientEnv } from "../config.js";

/**
 * `peel generate PROMPT`: one image from the command line, through the typed client — against a
 * peel server (live progress from its events) or kie.ai itself (polling). Exit codes: 0 success
 * (prints the file path or the URL), 1 the task failed or the server could not be used (prints
 * why), 2 usage or configuration errors (also a key the server refuses or a request it rejects).
 */
export const GENERATE_USAGE = `usage: peel generate PROMPT [options]

  --model M                 default nano-banana-pro
  --aspect-ratio R          e.g. 1:1, 16:9, 9:16, auto (per model)
  --resolution 1K|2K|4K
  --format png|jpg
  --image PATH_OR_URL       a reference image; repeat for several. Local files are uploaded first
  --out FILE                save the image there (prints the path); otherwise prints the URL
  --url BASE                server base URL (env PEEL_URL, default http://localhost:8080;
                            https://api.kie.ai works too)
  --key KEY                 API key (env PEEL_API_KEY)

Progress goes to stderr. Exit 0 on success, 1 when the task fails, 2 on usage or config errors.`;

class UsageError extends Error {}

export interface GenerateIo {
  stdout: (s: string) => void;
  stderr: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
}

const defaultIo = (): GenerateIo => ({
  stdout: (s) => process.stdout.write(`${s}\n`),
  stderr: process.stderr,
  env: process.env,
});

/** The `peel generate` entry point: sets the exit code. */
export async function runGenerate(argv: string[]): Promise<void> {
  process.exitCode = await generateCommand(argv);
}

export async function generateCommand(argv: string[], io: GenerateIo = defaultIo()): Promise<number> {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  let req: Awaited<ReturnType<typeof parse>>;
  try {
    req = await parse(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`peel generate: ${e.message}\n\n${GENERATE_USAGE}`);
      return 2;
    }
    throw e;
  }
  if (req === "help") {
    io.stdout(GENERATE_USAGE);
    return 0;
  }
  const client = new PeelClient({ baseUrl: req.url, apiKey: req.key });
  const progress = new Progress(io.stderr);
  try {
    const images: string[] = [];
    for (const img of req.images) {
      if (/^https?:\/\//i.test(img)) {
        images.push(img);
        continue;
      }
      progress.note(`uploading ${img}`);
      const up = await client.uploadFile(await openAsBlob(img), { fileName: path.basename(img), uploadPath: "peel-cli" });
      images.push(up.fileUrl);
    }
    const input: Record<string, unknown> = { prompt: req.prompt, ...req.input };
    if (images.length) input[req.imageField!] = images;
    const taskId = await client.createTask({ model: req.model, input });
    progress.start(taskId);
    const record = await client.waitForTask(taskId, { onUpdate: (r) => progress.update(r) });
    progress.stop();
    if (record.state !== "success") {
      err(`peel generate: task ${taskId} failed: ${record.failMsg || "no reason given"} (failCode ${record.failCode || "?"})`);
      return 1;
    }
    const url = resultUrlsOf(record)[0];
    if (!url) {
      err(`peel generate: task ${taskId} succeeded without a result URL`);
      return 1;
    }
    if (!req.out) {
      io.stdout(url);
      return 0;
    }
    const res = await fetch(url);
    if (!res.ok) {
      err(`peel generate: could not download ${url}: HTTP ${res.status}`);
      return 1;
    }
    let file = req.out;
    if ((await stat(file).catch(() => null))?.isDirectory()) file = path.join(file, path.basename(new URL(url).pathname));
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    io.stdout(path.resolve(file));
    return 0;
  } catch (e) {
    progress.stop();
    if (e instanceof PeelError) {
      err(`peel generate: ${e.message}${e.code ? ` (code ${e.code})` : ""}`);
      return e.code === 401 || e.code === 422 ? 2 : 1;
    }
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      err(`peel generate: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}

async function parse(argv: string[], io: GenerateIo) {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values: o, positionals } = parsed;
  if (o.help) return "help" as const;
  const prompt = positionals.join(" ").trim();
  if (!prompt) throw new UsageError("a PROMPT is required");
  const env = clientEnv(io.env);
  const key = o.key ?? env.apiKey;
  if (!key) throw new UsageError("an API key is required: --key KEY or PEEL_API_KEY");
  const url = o.url ?? env.url;
  if (!/^https?:\/\/[^/]/i.test(url)) throw new UsageError(`--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  const model = o.model ?? "nano-banana-pro";
  const info = (MODEL_INFO as Record<string, (typeof MODEL_INFO)[keyof typeof MODEL_INFO]>)[model];
  const input: Record<string, unknown> = {};
  if (o.resolution !== undefined) {
    if (!["1K", "2K", "4K"].includes(o.resolution)) throw new UsageError("--resolution must be 1K, 2K or 4K");
    if (info && !info.resolutions) throw new UsageError(`${model} has one size per ratio: drop --resolution`);
    if (info?.resolutions && !(info.resolutions as readonly string[]).includes(o.resolution)) {
      throw new UsageError(`--resolution for ${model} must be ${info.resolutions.join(" or ")}`);
    }
    input.resolution = o.resolution;
  }
  if (o.format !== undefined) {
    if (!["png", "jpg"].includes(o.format)) throw new UsageError("--format must be png or jpg");
    if (info && info.formats.length === 0) throw new UsageError(`${model} always delivers ${info.formatDefault}: drop --format`);
    // the older models spell JPEG `jpeg`
    input.output_format = o.format === "jpg" && info && !(info.formats as readonly string[]).includes("jpg") ? "jpeg" : o.format;
  }
  if (o["aspect-ratio"] !== undefined) {
    const r = o["aspect-ratio"];
    if (info && !(info.ratios as readonly string[]).includes(r)) {
      throw new UsageError(`--aspect-ratio for ${model} must be one of ${info.ratios.join(", ")}`);
    }
    input[info?.ratioField ?? "aspect_ratio"] = r;
  }
  const images = o.image ?? [];
  const imageField = info ? info.imageField : "image_input";
  if (images.length && !imageField) throw new UsageError(`${model} takes no reference images`);
  if (info && images.length > info.imageMax) throw new UsageError(`${model} takes at most ${info.imageMax} images`);
  for (const img of images) {
    if (/^https?:\/\//i.test(img)) continue;
    const st = await stat(img).catch(() => null);
    if (!st?.isFile()) throw new UsageError(`--image ${img}: no such file (give a path or an http(s) URL)`);
  }
  return { prompt, key, url, model, input, images, imageField, out: o.out };
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      "aspect-ratio": { type: "string" },
      resolution: { type: "string" },
      format: { type: "string" },
      image: { type: "string", multiple: true },
      out: { type: "string", short: "o" },
      url: { type: "string" },
      key: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/** Progress on stderr: a live line on a terminal, one plain line per change otherwise. */
class Progress {
  private started = Date.now();
  private last: TaskRecord | null = null;
  private timer: NodeJS.Timeout | null = null;
  private frame = 0;
  private lastLine = "";

  constructor(private out: GenerateIo["stderr"]) {}

  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  note(s: string): void {
    this.out.write(`${s}\n`);
  }

  start(taskId: string): void {
    this.started = Date.now();
    this.note(`task ${taskId}`);
    if (this.tty) {
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
    }
  }

  update(r: TaskRecord): void {
    this.last = r;
    if (this.tty) {
      this.draw();
      return;
    }
    const line = this.describe(r);
    if (line !== this.lastLine) this.note(`${line} (${this.elapsed()})`);
    this.lastLine = line;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.tty && this.last) this.out.write(`\r\x1b[2K${this.describe(this.last)} in ${this.elapsed()}\n`);
  }

  private draw(): void {
    const status = this.last ? this.describe(this.last) : "submitted";
    this.frame = (this.frame + 1) % SPINNER.length;
    this.out.write(`\r\x1b[2K${SPINNER[this.frame]} ${status} · ${this.elapsed()}`);
  }

  private describe(r: TaskRecord): string {
    let s = r.state;
    if (r.queuePosition !== undefined) s += r.queuePosition === 0 ? " · next in line" : ` · ${r.queuePosition} ahead`;
    if (r.etaMs !== undefined && (r.state === "waiting" || r.state === "queuing")) s += ` · ~${Math.ceil(r.etaMs / 1000)} s`;
    return s;
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)} s`;
  }
}
