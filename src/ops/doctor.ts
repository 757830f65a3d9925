import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config.js";
import { configWarnings } from "../config-warnings.js";
import { bareModelId, GEMINI_DEFAULT_BASE_URL, vertexBaseUrl } from "../engines/gemini-request.js";
import { vertexTokenSource } from "../engines/vertex-auth.js";
import { createFileStore } from "../runtime.js";
import { openStore } from "../store/open-store.js";
import { FileStoreProbe } from "./file-probe.js";
import { deploymentId } from "./instance-id.js";

/**
 * The checks behind `peel doctor`: each says what it found and, when something is wrong, how to
 * fix it. They only read or probe (no migration is applied, no secret is created); the probes that
 * leave the machine are the ones that cost nothing: this server's /healthz and each Google model's
 * metadata. Those go to endpoints the operator configured (not client input), with a plain fetch
 * like the engine's own calls to Google, so loopback public URLs work.
 */

export type CheckStatus = "ok" | "warn" | "fail";

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

const HTTP_TIMEOUT_MS = 10_000;

export async function runChecks(config: Readonly<Config>): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [configSummary(config)];
  // Valid but probably wrong (a retired Google model, a plain-http public URL): what serve warns about at start.
  for (const warning of configWarnings(config)) checks.push({ name: "configuration", status: "warn", detail: warning });
  checks.push(await databaseCheck(config));
  checks.push(await fileStoreCheck(config));
  if (config.redisUrl) checks.push(await redisCheck(config.redisUrl));
  checks.push(await publicUrlCheck(config));
  checks.push(...(await engineChecks(config)));
  return checks;
}

function configSummary(config: Readonly<Config>): DoctorCheck {
  const db = config.databaseUrl.startsWith("sqlite:") ? "sqlite" : "postgres";
  const detail = `role ${config.role} · engine ${config.engine} · database ${db} · files ${config.files.store} · metrics ${
    config.metrics.port ? `${config.metrics.host}:${config.metrics.port}` : "off"
  }`;
  if (config.engine === "sandbox") {
    return {
      name: "configuration",
      status: "warn",
      detail: `${detail} — the sandbox engine draws placeholders, not real images`,
      fix: "set GEMINI_API_KEY (or PEEL_ENGINE=vertex with PEEL_VERTEX_PROJECT) for real generation (docs/engines.md)",
    };
  }
  return { name: "configuration", status: "ok", detail };
}

/** The database URL with any password masked. */
export function safeDatabaseUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@]*@/, "//$1:***@");
}

async function databaseCheck(config: Readonly<Config>): Promise<DoctorCheck> {
  const name = "database";
  const shown = safeDatabaseUrl(config.databaseUrl);
  const file = sqliteFileOf(config.databaseUrl);
  if (file !== null && file !== ":memory:" && !existsSync(file)) {
    return {
      name,
      status: "fail",
      detail: `${shown}: no database file yet`,
      fix: "start peel once, or run `peel migrate`; check PEEL_DATA_DIR / PEEL_DATABASE_URL if it should exist",
    };
  }
  let store: Awaited<ReturnType<typeof openStore>> | null = null;
  try {
    store = await openStore(config.databaseUrl, { migrate: false });
    const h = await store.checkHealth();
    const detail = `${shown} · migrations ${h.migrationsApplied}/${h.migrationsKnown}`;
    if (h.migrationsApplied < h.migrationsKnown)
      return { name, status: "fail", detail: `${detail} — not current`, fix: "run `peel migrate` (or start peel: it migrates)" };
    if (h.migrationsApplied > h.migrationsKnown)
      return {
        name,
        status: "fail",
        detail: `${detail} — migrated by a newer peel`,
        fix: "run the peel version that migrated this database",
      };
    return { name, status: "ok", detail };
  } catch (err) {
    return {
      name,
      status: "fail",
      detail: `${shown}: ${messageOf(err)}`,
      fix: "check PEEL_DATABASE_URL, that the server is up and reachable, and the credentials",
    };
  } finally {
    await store?.close().catch(() => undefined);
  }
}

function sqliteFileOf(url: string): string | null {
  if (!url.startsWith("sqlite:")) return null;
  let file = url.slice("sqlite:".length);
  if (file.startsWith("//")) file = file.slice(2);
  return file === ":memory:" ? file : path.resolve(file);
}

async function fileStoreCheck(config: Readonly<Config>): Promise<DoctorCheck> {
  const name = "file store";
  const where =
    config.files.store === "s3"
      ? `s3 bucket ${config.files.s3.bucket}${config.files.s3.prefix ? `/${config.files.s3.prefix}` : ""}`
      : `local ${path.join(config.dataDir, "files")}`;
  const store = createFileStore(config);
  try {
    await new FileStoreProbe(store).run();
    return { name, status: "ok", detail: `${where} · write, read, delete` };
  } catch (err) {
    return {
      name,
      status: "fail",
      detail: `${where} · ${messageOf(err)}`,
      fix:
        config.files.store === "s3"
          ? "check PEEL_S3_BUCKET / PEEL_S3_ENDPOINT / PEEL_S3_REGION and that the AWS credentials may put, get and delete objects"
          : `make ${path.join(config.dataDir, "files")} writable by the user peel runs as, with free space`,
    };
  } finally {
    (store as { destroy?: () => void }).destroy?.();
  }
}

async function redisCheck(url: string): Promise<DoctorCheck> {
  const { Redis } = await import("ioredis");
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined); // reported below
  try {
    await redis.connect();
    await redis.ping();
    return { name: "redis", status: "ok", detail: `${safeDatabaseUrl(url)} · PING` };
  } catch (err) {
    return {
      name: "redis",
      status: "fail",
      detail: `${safeDatabaseUrl(url)}: ${messageOf(err)}`,
      fix: "check PEEL_REDIS_URL and that Redis is up (rate limits of API processes need it)",
    };
  } finally {
    redis.disconnect();
  }
}

/** The link-signing secret as the server sees it, without creating one. */
function readSecret(config: Readonly<Config>): string | null {
  if (config.secret) return config.secret;
  const file = path.join(config.dataDir, "secret");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : null;
}

async function publicUrlCheck(config: Readonly<Config>): Promise<DoctorCheck> {
  const name = "public URL";
  const url = `${config.publicUrl}/healthz`;
  const fixReach =
    "start peel, and set PEEL_PUBLIC_URL to the address clients use (the proxy or load balancer in front of peel, docs/deploy.md)";
  let body: { instance?: unknown; version?: unknown };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS), redirect: "manual" });
    if (res.status !== 200) {
      return { name, status: "fail", detail: `GET ${url} → HTTP ${res.status}`, fix: fixReach };
    }
    body = (await res.json()) as typeof body;
  } catch (err) {
    return { name, status: "fail", detail: `GET ${url}: ${messageOf(err)}`, fix: fixReach };
  }
  const secret = readSecret(config);
  if (!secret) {
    return {
      name,
      status: "warn",
      detail: `${config.publicUrl} answers, but this configuration has no link-signing secret yet to compare instances`,
      fix: "set PEEL_SECRET (the same on every process), or run doctor with the server's PEEL_DATA_DIR",
    };
  }
  const expected = deploymentId(secret);
  if (body.instance !== expected) {
    return {
      name,
      status: "fail",
      detail: `${config.publicUrl} is a different peel (instance ${String(body.instance ?? "unknown")}, this configuration is ${expected})`,
      fix: "point PEEL_PUBLIC_URL at this deployment, and give every process the same PEEL_SECRET",
    };
  }
  return { name, status: "ok", detail: `${config.publicUrl} reaches this deployment (instance ${expected})` };
}

async function engineChecks(config: Readonly<Config>): Promise<DoctorCheck[]> {
  if (config.engine === "sandbox") return [{ name: "engine", status: "ok", detail: "sandbox: no credentials to check" }];
  const ids = [...new Set(Object.values(config.gemini.models).map(bareModelId))].sort();
  let auth: { headers: Record<string, string> } | DoctorCheck;
  try {
    auth = await engineAuth(config);
  } catch (err) {
    return [
      {
        name: `engine ${config.engine}`,
        status: "fail",
        detail: `no credentials: ${messageOf(err)}`,
        fix: "set PEEL_VERTEX_ACCESS_TOKEN, or make Application Default Credentials available (gcloud auth application-default login, GOOGLE_APPLICATION_CREDENTIALS, or a service account on the VM)",
      },
    ];
  }
  return Promise.all(ids.map((id) => modelCheck(config, id, (auth as { headers: Record<string, string> }).headers)));
}

async function engineAuth(config: Readonly<Config>): Promise<{ headers: Record<string, string> }> {
  const g = config.gemini;
  const headers: Record<string, string> = { "user-agent": "peel-doctor" };
  if (config.engine === "gemini" || !g.vertexProject) {
    headers["x-goog-api-key"] = g.apiKey ?? "";
    return { headers };
  }
  headers.authorization = `Bearer ${await vertexTokenSource(g.vertexAccessToken).token()}`;
  headers["x-goog-user-project"] = g.vertexProject;
  return { headers };
}

/** The model's metadata: a GET that proves key, project and model id without generating anything. */
export function modelMetadataUrl(config: Readonly<Config>, model: string): string {
  const g = config.gemini;
  const m = encodeURIComponent(bareModelId(model));
  if (config.engine === "gemini") return `${(g.baseUrl ?? GEMINI_DEFAULT_BASE_URL).replace(/\/+$/, "")}/v1beta/models/${m}`;
  return `${(g.baseUrl ?? vertexBaseUrl(g.vertexLocation)).replace(/\/+$/, "")}/v1beta1/publishers/google/models/${m}`;
}

async function modelCheck(config: Readonly<Config>, model: string, headers: Record<string, string>): Promise<DoctorCheck> {
  const name = `engine ${config.engine} · ${model}`;
  const url = modelMetadataUrl(config, model);
  let status: number;
  let text: string;
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    status = res.status;
    text = await res.text();
  } catch (err) {
    return {
      name,
      status: "fail",
      detail: `GET ${url}: ${messageOf(err)}`,
      fix: "check network access to Google (proxy, firewall) or PEEL_GEMINI_BASE_URL",
    };
  }
  if (status === 200) return { name, status: "ok", detail: "credentials accepted, model available" };
  const google = googleError(text);
  const detail = `HTTP ${status}${google ? `: ${google}` : ""}`;
  const byKey = config.engine === "gemini" || !config.gemini.vertexProject;
  if (status === 404)
    return {
      name,
      status: "fail",
      detail,
      fix: `the model id does not exist (retired?): map its kie model to a current id with PEEL_GOOGLE_MODELS or PEEL_GEMINI_MODEL (docs/engines.md)`,
    };
  if (status === 400 || status === 401 || status === 403)
    return {
      name,
      status: "fail",
      detail,
      fix:
        status === 403
          ? `${byKey ? "GEMINI_API_KEY" : `project ${config.gemini.vertexProject}`} may not use this model: is the API enabled, billing on, the role granted?`
          : byKey
            ? "GEMINI_API_KEY was rejected: check the key"
            : "the Vertex credentials were rejected: check PEEL_VERTEX_ACCESS_TOKEN or Application Default Credentials",
    };
  if (status === 429)
    return {
      name,
      status: "warn",
      detail,
      fix: "the credentials work but the quota is spent right now; generation will wait or fail until it resets",
    };
  return { name, status: "warn", detail, fix: "Google answered with an error; try again, and check status.cloud.google.com" };
}

function googleError(text: string): string | null {
  try {
    const e = (JSON.parse(text) as { error?: { status?: string; message?: string } }).error;
    return e ? `${e.status ?? ""} ${e.message ?? ""}`.trim().slice(0, 200) : null;
  } catch {
    return null;
  }
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err.cause as { code?: string; message?: string } | undefined) ?? undefined;
  const code = (err as NodeJS.ErrnoException).code ?? cause?.code;
  const msg = err.name === "TimeoutError" ? `no answer within ${HTTP_TIMEOUT_MS / 1000} s` : err.message;
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}
