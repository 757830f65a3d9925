import { ProviderError } from "../errors.js";

/**
 * Google error bodies → ProviderError (docs/gemini.md#errors). Every decision about retrying an HTTP or
 * network failure is made here, so the worker only reads `retryable` / `retryAfterMs` /
 * `dailyQuota`.
 */

/** `google.rpc.Status` as found under `error` in a non-2xx body. */
export interface GoogleStatus {
  code?: number;
  message?: string;
  status?: string;
  details?: Array<Record<string, unknown>>;
}

/** What the engine needs to know beyond the ProviderError itself. */
export interface ClassifiedHttpError {
  error: ProviderError;
  /** the failure is about configuration (key, model, billing): flag the engine unhealthy. */
  unhealthy: boolean;
  /** a per-day quota was hit: stop calling Google until the next Pacific midnight. */
  dailyQuota: boolean;
}

/** Without RetryInfo, a per-minute 429 waits this long (docs/gemini.md#retries). */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 20_000;

/** Parses a non-2xx body; non-JSON bodies (proxies, HTML error pages) become `{ message }`. */
export function parseGoogleError(status: number, text: string): GoogleStatus {
  try {
    const json = JSON.parse(text) as unknown;
    // Streaming endpoints answer errors as a one-element array; unary ones as an object.
    const obj = Array.isArray(json) ? json[0] : json;
    if (obj && typeof obj === "object" && "error" in obj) {
      const e = (obj as { error: unknown }).error;
      if (e && typeof e === "object") {
        const g = e as GoogleStatus;
        return {
          code: typeof g.code === "number" ? g.code : status,
          message: typeof g.message === "string" ? g.message : undefined,
          status: typeof g.status === "string" ? g.status : undefined,
          details: Array.isArray(g.details) ? g.details : [],
        };
      }
    }
  } catch {
    // fall through: not JSON
  }
  return { code: status, message: text.slice(0, 200), details: [] };
}

/**
 * A protobuf Duration in JSON form: `"46s"`, `"46.153412518s"`, `"0.5s"` → milliseconds.
 * Returns null for anything else.
 */
export function parseDurationMs(value: unknown): number | null {
  if (typeof value !== "string") return null;
  const m = /^\s*(\d+(?:\.\d+)?)s\s*$/.exec(value);
  if (!m) return null;
  return Math.round(Number(m[1]) * 1000);
}

const typeIs = (d: Record<string, unknown>, suffix: string): boolean =>
  typeof d["@type"] === "string" && (d["@type"] as string).endsWith(suffix);

/** `RetryInfo.retryDelay` in ms, or null when absent or unreadable. */
export function retryDelayMs(err: GoogleStatus): number | null {
  for (const d of err.details ?? []) {
    if (typeIs(d, "google.rpc.RetryInfo")) {
      const ms = parseDurationMs(d.retryDelay ?? d.retry_delay);
      if (ms !== null) return ms;
    }
  }
  return null;
}

/** True when any QuotaFailure violation names a per-day quota (`...PerDay...`). */
export function isDailyQuota(err: GoogleStatus): boolean {
  for (const d of err.details ?? []) {
    if (!typeIs(d, "google.rpc.QuotaFailure")) continue;
    const violations = Array.isArray(d.violations) ? (d.violations as Array<Record<string, unknown>>) : [];
    for (const v of violations) {
      const id = v.quotaId ?? v.quota_id;
      if (typeof id === "string" && /PerDay/i.test(id)) return true;
    }
  }
  return false;
}

function errorInfoReason(err: GoogleStatus): string | undefined {
  for (const d of err.details ?? []) {
    if (typeIs(d, "google.rpc.ErrorInfo") && typeof d.reason === "string") return d.reason;
  }
  return undefined;
}

/** Adds 0–20 % jitter so that workers throttled together do not come back together. */
export function withJitter(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * (1 + 0.2 * random()));
}

/**
 * Maps one non-2xx reply. `model` only enters messages so an operator sees which id failed.
 * Messages never contain request data or the key.
 */
export function classifyHttpError(status: number, text: string, model: string): ClassifiedHttpError {
  const g = parseGoogleError(status, text);
  const what = `${g.status ?? "HTTP"} ${status}: ${g.message ?? "(no message)"}`;
  const plain = (error: ProviderError, unhealthy = false): ClassifiedHttpError => ({ error, unhealthy, dailyQuota: false });

  if (status === 429) {
    if (isDailyQuota(g)) {
      // The RetryInfo delay on daily violations is misleading (docs/gemini.md#retries): waiting does not help.
      return {
        error: new ProviderError("upstream_busy", `Gemini daily quota exhausted for ${model} (${what})`, {
          retryable: false,
          dailyQuota: true,
          status,
          outcome: "quota_exhausted",
        }),
        unhealthy: false,
        dailyQuota: true,
      };
    }
    const wait = withJitter(retryDelayMs(g) ?? DEFAULT_RATE_LIMIT_WAIT_MS);
    return plain(
      new ProviderError("upstream_busy", `Gemini rate limit for ${model} (${what})`, {
        retryable: true,
        retryAfterMs: wait,
        status,
        outcome: "rate_limited",
      }),
    );
  }
  if (status >= 500 || status === 408) {
    // 500 INTERNAL / 503 UNAVAILABLE / 504 DEADLINE_EXCEEDED: the worker backs off exponentially.
    // 503 UNAVAILABLE is Google saying the model is overloaded; other 5xx and 408 are failures.
    const outcome = status === 503 ? "overloaded" : status === 504 || status === 408 ? "timeout" : "server_error";
    return plain(new ProviderError("upstream_busy", `Gemini ${what}`, { retryable: true, status, outcome }));
  }
  if (status === 400 && /Provided image is not valid/i.test(g.message ?? "")) {
    // Google does not say which reference it rejected, so the failMsg names none (docs/kie-contract.md §6.3).
    return plain(
      new ProviderError("invalid_input", `Gemini rejected an input image (${what})`, {
        status,
        failMsg: "Invalid image_input",
        outcome: "bad_input",
      }),
    );
  }
  if (status === 404) {
    return plain(
      new ProviderError("internal", `Gemini model ${model} is unavailable (${what}); check the configured model id`, {
        status,
        outcome: "unknown_model",
      }),
      true,
    );
  }
  const keyProblem = status === 401 || status === 403 || errorInfoReason(g) === "API_KEY_INVALID";
  if (keyProblem) {
    return plain(
      new ProviderError("internal", `Gemini credentials rejected (${what}); check the API key / Vertex credentials`, {
        status,
        outcome: "auth",
      }),
      true,
    );
  }
  if (status === 402 || g.status === "FAILED_PRECONDITION") {
    return plain(
      new ProviderError("internal", `Gemini billing problem (${what}); check the Google project's billing`, {
        status,
        outcome: "billing",
      }),
      true,
    );
  }
  // Any other 4xx is a request peel built wrongly: retrying the same bytes cannot help.
  return plain(
    new ProviderError("internal", `Gemini refused the request for ${model} (${what})`, { status, outcome: "bad_input" }),
  );
}

/** Network failures (`fetch failed`, ECONNRESET, socket closed, ...) count as 503 (docs/gemini.md#errors). */
export function networkError(err: unknown, model: string): ProviderError {
  const code = (err as { code?: unknown })?.code;
  const msg = err instanceof Error ? err.message : String(err);
  return new ProviderError(
    "upstream_busy",
    `Gemini network error for ${model}: ${typeof code === "string" ? `${code} ` : ""}${msg}`,
    {
      retryable: true,
      outcome: "network",
      cause: err,
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Pacific midnight: daily quotas reset at midnight America/Los_Angeles
// (docs/gemini.md#endpoints-and-keys).

const PACIFIC = "America/Los_Angeles";
const partsFmt = new Intl.DateTimeFormat("en-US", {
  timeZone: PACIFIC,
  hourCycle: "h23",
  year: "numeric",
  month: "numeric",
  day: "numeric",
  hour: "numeric",
  minute: "numeric",
  second: "numeric",
});

function pacificWall(t: number): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const get = (type: string) => Number(partsFmt.formatToParts(t).find((p) => p.type === type)?.value);
  return { y: get("year"), mo: get("month"), d: get("day"), h: get("hour"), mi: get("minute"), s: get("second") };
}

/** Offset of Pacific wall time from UTC at instant t, ms (e.g. -7 h in summer, -8 h in winter). */
function pacificOffsetMs(t: number): number {
  const w = pacificWall(t);
  const wallAsUtc = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  return wallAsUtc - Math.floor(t / 1000) * 1000;
}

/** The first instant after `now` at which the Pacific calendar date changes. */
export function nextPacificMidnight(now: number): number {
  const w = pacificWall(now);
  // Midnight of the next Pacific day, written as if it were UTC; Date.UTC rolls months/years over.
  const wall = Date.UTC(w.y, w.mo - 1, w.d + 1, 0, 0, 0);
  // Solve utc = wall - offset(utc). Two passes settle it: midnight is never inside a DST gap
  // (US transitions happen at 02:00), so the offset at the answer is unambiguous.
  let t = wall - pacificOffsetMs(wall);
  t = wall - pacificOffsetMs(t);
  return t;
}
