import path from "node:path";
import { fileURLToPath } from "node:url";
import { modelSpec } from "./domain/models.js";
import { DEFAULT_PRICES, mergePrices, priceTableProblems, type PriceTable } from "./domain/prices.js";
import { parseAllowEntry } from "./net/address-guard.js";
import { hostPatternProblems } from "./webhooks/callback-policy.js";
import { loadUpstreams, type UpstreamsConfig } from "./upstreams/config.js";

/**
 * peel's configuration: the only reader of process.env. `loadConfig(env)` checks every variable,
 * lists every bad one at once (ConfigError) and returns a frozen Config. Defaults and units live
 * here and in .env.example only.
 */

export type EngineKind = "sandbox" | "gemini" | "vertex";
export type Role = "all" | "api" | "worker";

export type { PriceTable };

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** base of every URL peel hands out, without a trailing slash. */
  publicUrl: string;
  /** which parts run in this process. */
  role: Role;
  databaseUrl: string;
  /** Redis for limits shared by several API processes; null → in-process limits. */
  redisUrl: string | null;
  logLevel: string;
  /** json lines, readable lines (pino-pretty), or auto: readable when stdout is a terminal. */
  logFormat: "auto" | "json" | "pretty";
  /** Prometheus metrics listener of this process (never the API port); port 0 = off. */
  metrics: { port: number; host: string };
  /** on SIGTERM/SIGINT: how long running tasks, callbacks and requests get to finish, ms. */
  shutdownGraceMs: number;
  /** HMAC secret for signed download links; null → generated once and kept in the data dir. */
  secret: string | null;
  /** bearer token for /admin/v1; null → admin API off. */
  adminToken: string | null;
  /** the `peel` operator commands go through this server's admin API; null → straight to the database. */
  adminUrl: string | null;

  engine: EngineKind;
  sandboxDelayMs: number;
  gemini: {
    apiKey: string | null;
    baseUrl: string | null;
    /** kie model → Google model id */
    models: Record<string, string>;
    vertexProject: string | null;
    vertexLocation: string;
    /** a static OAuth access token for Vertex (otherwise Application Default Credentials). */
    vertexAccessToken: string | null;
    /** engine attempts per task. */
    attempts: number;
    /** per-attempt timeout, ms, for 1K/2K and for 4K. */
    attemptTimeoutMs: number;
    attemptTimeout4kMs: number;
  };

  /** image operations (render, convert, shrink) at once per process; null → one per CPU, at most 3. */
  imageConcurrency: number | null;

  worker: {
    concurrency: number;
    leaseMs: number;
    pollMs: number;
    maxRunningPerAccount: number;
  };
  taskDeadlineMs: number;
  taskRetentionMs: number;

  limits: {
    createMax: number;
    createWindowMs: number;
    readMax: number;
    readWindowMs: number;
  };
  billing: {
    prices: PriceTable;
    /** balance reported by unmetered accounts. */
    unmeteredBalance: number;
    /** credits granted to an account created by `peel keys create`. */
    initialCredits: number;
  };

  outbound: {
    /** hosts, IPs or CIDRs that the address guard lets through (tests, private deployments). */
    allow: string[];
  };
  inputs: {
    maxBytes: number;
    timeoutMs: number;
    connectTimeoutMs: number;
  };

  files: {
    store: "local" | "s3";
    s3: {
      bucket: string | null;
      endpoint: string | null;
      region: string;
      forcePathStyle: boolean;
      prefix: string;
    };
    uploadRetentionMs: number;
    resultRetentionMs: number;
    uploadMaxBytes: number;
    urlUploadTimeoutMs: number;
    sweepIntervalMs: number;
  };

  callbacks: {
    timeoutMs: number;
    concurrency: number;
    pollMs: number;
    /** where callbacks are sent: PEEL_CALLBACK_ALLOW / PEEL_CALLBACK_DENY (webhooks/callback-policy.ts). */
    allow: string[];
    deny: string[];
  };

  /** task events (SSE) and the web console. */
  events: {
    /** heartbeat comment interval of an events stream, ms. */
    heartbeatMs: number;
  };
  /** folder of the built console (`npm run build` writes dist/console). */
  consoleDir: string;

  /** upstream routes (PEEL_UPSTREAMS, or the engine settings above as one route): docs/engines.md#upstream-routes */
  upstreams: UpstreamsConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

export { DEFAULT_PRICES };

/** kie model → Google model id (docs/engines.md; retired ids in engines/gemini-models.ts). */
export const DEFAULT_GOOGLE_MODELS: Record<string, string> = {
  "nano-banana-pro": "gemini-3-pro-image",
  // gemini-2.5-flash-image was shut down on 2026-10-02; its named replacement, at 1K.
  "google/nano-banana": "gemini-3.1-flash-image",
  "google/nano-banana-edit": "gemini-3.1-flash-image",
  "nano-banana-2": "gemini-3.1-flash-image",
  "nano-banana-2-lite": "gemini-3.1-flash-lite-image",
};

/** Callbacks to kie's own hosts can never be expected by anyone (docs/webhooks.md). */
export const DEFAULT_CALLBACK_DENY = ["*.kie.ai"];

/** the package folder (src/ or dist/ is one level below it). */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

type Env = Record<string, string | undefined>;

class Reader {
  problems: string[] = [];
  constructor(private env: Env) {}

  str(name: string, def: string): string;
  str(name: string, def: string | null): string | null;
  str(name: string, def: string | null): string | null {
    const v = this.env[name];
    return v === undefined || v === "" ? def : v;
  }

  int(name: string, def: number, opts: { min?: number; max?: number } = {}): number {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return def;
    if (!/^-?\d+$/.test(raw.trim())) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not a whole number`);
      return def;
    }
    const n = Number(raw);
    if (opts.min !== undefined && n < opts.min) this.problems.push(`${name}=${raw} is below the minimum ${opts.min}`);
    if (opts.max !== undefined && n > opts.max) this.problems.push(`${name}=${raw} is above the maximum ${opts.max}`);
    return n;
  }

  bool(name: string, def: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return def;
    const v = raw.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(v)) return true;
    if (["0", "false", "no", "off"].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(raw)} is not a boolean (true/false)`);
    return def;
  }

  oneOf<T extends string>(name: string, def: T, allowed: readonly T[]): T {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return def;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be one of ${allowed.join(", ")}`);
      return def;
    }
    return raw as T;
  }

  url(name: string, def: string | null): string | null {
    const v = this.str(name, def);
    if (v === null) return null;
    try {
      const u = new URL(v);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("scheme");
      return v.replace(/\/+$/, "");
    } catch {
      this.problems.push(`${name}=${JSON.stringify(v)} is not an absolute http(s) URL`);
      return def;
    }
  }

  list(name: string): string[] {
    const v = this.str(name, "");
    return v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  }

  json<T>(name: string, def: T, check: (v: unknown) => string | null): T {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return def;
    try {
      const v = JSON.parse(raw);
      const why = check(v);
      if (why) {
        this.problems.push(`${name}: ${why}`);
        return def;
      }
      return v as T;
    } catch {
      this.problems.push(`${name} is not valid JSON`);
      return def;
    }
  }
}

function checkPrices(v: unknown): string | null {
  if (!v || typeof v !== "object" || Array.isArray(v)) return "must be an object {model: {resolution: credits}}";
  for (const [model, table] of Object.entries(v as Record<string, unknown>)) {
    if (!table || typeof table !== "object") return `prices for ${model} must be an object`;
    for (const [res, n] of Object.entries(table as Record<string, unknown>)) {
      if (typeof n !== "number" || !(n >= 0)) return `price ${model}/${res} must be a number ≥ 0`;
    }
  }
  return null;
}

function checkModelMap(v: unknown): string | null {
  if (!v || typeof v !== "object" || Array.isArray(v)) return "must be an object {kieModel: googleModelId}";
  for (const [k, id] of Object.entries(v as Record<string, unknown>)) {
    if (!modelSpec(k)) return `${k} is not a kie model peel serves`;
    if (typeof id !== "string" || !id) return `model id for ${k} must be a non-empty string`;
  }
  return null;
}

/** A host pattern list; `none` is the empty list (to drop a default). */
function hostList(r: Reader, name: string, def: string[]): string[] {
  const raw = r.str(name, null);
  if (raw === null) return def;
  if (raw.trim().toLowerCase() === "none") return [];
  const list = r.list(name);
  r.problems.push(...hostPatternProblems(list, name));
  return list;
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const r = new Reader(env);
  const port = r.int("PORT", 8080, { min: 0, max: 65535 });
  const host = r.str("HOST", "0.0.0.0");
  const dataDir = path.resolve(r.str("PEEL_DATA_DIR", "./data"));
  const publicUrl = r.url("PEEL_PUBLIC_URL", `http://localhost:${port}`)!;
  const geminiKey = r.str("GEMINI_API_KEY", null) ?? r.str("GOOGLE_API_KEY", null);
  const engine = r.oneOf<EngineKind>("PEEL_ENGINE", geminiKey ? "gemini" : "sandbox", ["sandbox", "gemini", "vertex"]);
  const vertexProject = r.str("PEEL_VERTEX_PROJECT", null) ?? r.str("GOOGLE_CLOUD_PROJECT", null);
  if (engine === "gemini" && !geminiKey) r.problems.push("PEEL_ENGINE=gemini needs GEMINI_API_KEY");
  // Without a project, Vertex runs in express mode on an API key (docs/gemini.md#endpoints-and-keys).
  if (engine === "vertex" && !vertexProject && !geminiKey) {
    r.problems.push(
      "PEEL_ENGINE=vertex needs PEEL_VERTEX_PROJECT (or GOOGLE_CLOUD_PROJECT), or GEMINI_API_KEY for Vertex express mode",
    );
  }

  const modelMap = r.json<Record<string, string>>("PEEL_GOOGLE_MODELS", {}, checkModelMap);
  const proModel = r.str("PEEL_GEMINI_MODEL", DEFAULT_GOOGLE_MODELS["nano-banana-pro"]);
  const prices = mergePrices(DEFAULT_PRICES, r.json<PriceTable>("PEEL_PRICES", {}, checkPrices));
  for (const p of priceTableProblems(prices)) r.problems.push(`PEEL_PRICES: ${p}`);

  const fileStore = r.oneOf<"local" | "s3">("PEEL_FILE_STORE", "local", ["local", "s3"]);
  const bucket = r.str("PEEL_S3_BUCKET", null);
  if (fileStore === "s3" && !bucket) r.problems.push("PEEL_FILE_STORE=s3 needs PEEL_S3_BUCKET");

  const databaseUrl = r.str("PEEL_DATABASE_URL", `sqlite:${path.join(dataDir, "peel.db")}`);
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    r.problems.push(`PEEL_DATABASE_URL=${JSON.stringify(databaseUrl)} must start with sqlite: or postgres://`);
  }

  const metricsPort = r.int("PEEL_METRICS_PORT", 9464, { min: 0, max: 65535 });
  // The API port is public; metrics describe the whole deployment and stay on their own listener.
  if (metricsPort !== 0 && metricsPort === port) r.problems.push(`PEEL_METRICS_PORT=${metricsPort} must differ from PORT`);

  const base: Omit<Config, "upstreams"> = {
    port,
    host,
    dataDir,
    publicUrl,
    role: r.oneOf<Role>("PEEL_ROLE", "all", ["all", "api", "worker"]),
    databaseUrl,
    redisUrl: redisUrlOf(r),
    logLevel: r.oneOf("PEEL_LOG_LEVEL", "info", ["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
    logFormat: r.oneOf<Config["logFormat"]>("PEEL_LOG_FORMAT", "auto", ["auto", "json", "pretty"]),
    metrics: { port: metricsPort, host: r.str("PEEL_METRICS_HOST", "127.0.0.1") },
    shutdownGraceMs: r.int("PEEL_SHUTDOWN_GRACE_MS", 25_000, { min: 0 }),
    secret: r.str("PEEL_SECRET", null),
    adminToken: r.str("PEEL_ADMIN_TOKEN", null),
    adminUrl: r.url("PEEL_ADMIN_URL", null),
    engine,
    sandboxDelayMs: r.int("PEEL_SANDBOX_DELAY_MS", 0, { min: 0 }),
    gemini: {
      apiKey: geminiKey,
      baseUrl: r.url("PEEL_GEMINI_BASE_URL", null),
      models: { ...DEFAULT_GOOGLE_MODELS, "nano-banana-pro": proModel, ...modelMap },
      vertexProject,
      vertexLocation: r.str("PEEL_VERTEX_LOCATION", null) ?? r.str("GOOGLE_CLOUD_LOCATION", "global"),
      vertexAccessToken: r.str("PEEL_VERTEX_ACCESS_TOKEN", null),
      attempts: r.int("PEEL_GEMINI_ATTEMPTS", 3, { min: 1, max: 10 }),
      attemptTimeoutMs: r.int("PEEL_GEMINI_TIMEOUT_MS", 300_000, { min: 1000 }),
      attemptTimeout4kMs: r.int("PEEL_GEMINI_TIMEOUT_4K_MS", 600_000, { min: 1000 }),
    },
    imageConcurrency:
      r.str("PEEL_IMAGE_CONCURRENCY", null) === null ? null : r.int("PEEL_IMAGE_CONCURRENCY", 1, { min: 1, max: 64 }),
    worker: {
      concurrency: r.int("PEEL_WORKER_CONCURRENCY", 4, { min: 1, max: 256 }),
      leaseMs: r.int("PEEL_LEASE_MS", 30_000, { min: 500 }),
      pollMs: r.int("PEEL_POLL_MS", 200, { min: 10 }),
      maxRunningPerAccount: r.int("PEEL_MAX_RUNNING_PER_ACCOUNT", 4, { min: 1 }),
    },
    taskDeadlineMs: r.int("PEEL_TASK_DEADLINE_MS", 15 * MIN, { min: 1000 }),
    taskRetentionMs: r.int("PEEL_TASK_RETENTION_DAYS", 60, { min: 1 }) * DAY,
    limits: {
      createMax: r.int("PEEL_CREATE_LIMIT", 20, { min: 0 }),
      createWindowMs: r.int("PEEL_CREATE_WINDOW_MS", 10_000, { min: 1 }),
      readMax: r.int("PEEL_READ_LIMIT", 10, { min: 0 }),
      readWindowMs: r.int("PEEL_READ_WINDOW_MS", 1_000, { min: 1 }),
    },
    billing: {
      prices,
      unmeteredBalance: r.int("PEEL_UNMETERED_BALANCE", 1_000_000, { min: 0 }),
      initialCredits: r.int("PEEL_INITIAL_CREDITS", 1000, { min: 0 }),
    },
    outbound: { allow: outboundAllowOf(r) },
    inputs: {
      maxBytes: r.int("PEEL_INPUT_MAX_BYTES", 30 * 1024 * 1024, { min: 1 }),
      timeoutMs: r.int("PEEL_INPUT_TIMEOUT_MS", 30_000, { min: 100 }),
      connectTimeoutMs: r.int("PEEL_INPUT_CONNECT_TIMEOUT_MS", 10_000, { min: 100 }),
    },
    files: {
      store: fileStore,
      s3: {
        bucket,
        endpoint: r.url("PEEL_S3_ENDPOINT", null),
        region: r.str("PEEL_S3_REGION", null) ?? r.str("AWS_REGION", "us-east-1"),
        forcePathStyle: r.bool("PEEL_S3_FORCE_PATH_STYLE", false),
        prefix: r.str("PEEL_S3_PREFIX", "").replace(/^\/+|\/+$/g, ""),
      },
      uploadRetentionMs: r.int("PEEL_UPLOAD_RETENTION_HOURS", 72, { min: 1 }) * HOUR,
      resultRetentionMs: r.int("PEEL_RESULT_RETENTION_DAYS", 14, { min: 1 }) * DAY,
      uploadMaxBytes: r.int("PEEL_UPLOAD_MAX_BYTES", 30 * 1024 * 1024, { min: 1 }),
      urlUploadTimeoutMs: r.int("PEEL_URL_UPLOAD_TIMEOUT_MS", 30_000, { min: 100 }),
      sweepIntervalMs: r.int("PEEL_SWEEP_INTERVAL_MS", 60_000, { min: 100 }),
    },
    callbacks: {
      timeoutMs: r.int("PEEL_CALLBACK_TIMEOUT_MS", 15_000, { min: 100 }),
      concurrency: r.int("PEEL_CALLBACK_CONCURRENCY", 16, { min: 1, max: 1024 }),
      pollMs: r.int("PEEL_CALLBACK_POLL_MS", 500, { min: 10 }),
      allow: hostList(r, "PEEL_CALLBACK_ALLOW", []),
      deny: hostList(r, "PEEL_CALLBACK_DENY", DEFAULT_CALLBACK_DENY),
    },
    events: { heartbeatMs: r.int("PEEL_EVENTS_HEARTBEAT_MS", 15_000, { min: 100 }) },
    consoleDir: path.resolve(r.str("PEEL_CONSOLE_DIR", path.join(PACKAGE_ROOT, "dist", "console"))),
  };
  const upstreams = loadUpstreams(env, base);
  r.problems.push(...upstreams.problems);
  const config: Config = { ...base, upstreams: upstreams.upstreams };
  if (config.adminUrl && !config.adminToken) r.problems.push("PEEL_ADMIN_URL needs PEEL_ADMIN_TOKEN");
  if (r.problems.length) throw new ConfigError(r.problems);
  return deepFreeze(config);
}

/**
 * What `peel generate` needs, a client of a running server (or of kie.ai): PEEL_URL (default
 * http://localhost:8080) and PEEL_API_KEY. Command-line flags win over these.
 */
export function clientEnv(env: Env = process.env): { url: string; apiKey: string | null } {
  return { url: env.PEEL_URL || "http://localhost:8080", apiKey: env.PEEL_API_KEY || null };
}

function outboundAllowOf(r: Reader): string[] {
  const entries = r.list("PEEL_OUTBOUND_ALLOW");
  for (const e of entries) {
    try {
      parseAllowEntry(e);
    } catch (err) {
      r.problems.push((err as Error).message);
    }
  }
  return entries;
}

function redisUrlOf(r: Reader): string | null {
  const v = r.str("PEEL_REDIS_URL", null);
  if (v !== null && !/^rediss?:\/\//.test(v)) {
    r.problems.push(`PEEL_REDIS_URL=${JSON.stringify(v)} must start with redis:// or rediss://`);
    return null;
  }
  return v;
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export { priceOf } from "./domain/prices.js";
