/**
 * The error registry. Every error peel answers with is listed here once, with the HTTP status, the
 * kie body `code` and the exact `msg` (kie-contract §3). docs/errors.md documents each entry and a
 * test checks the two against each other.
 */
export interface ErrorDef {
  /** HTTP status of the response (kie answers business errors with 200). */
  http: number;
  /** kie body `code`. */
  code: number;
  msg: string;
}

export const KIE_ERRORS = {
  bad_request_task_id: { http: 200, code: 400, msg: "taskId parameter is required" },
  unauthorized: { http: 200, code: 401, msg: "You do not have access permissions" },
  insufficient_credits: { http: 200, code: 402, msg: "The current credits are insufficient. Please top up." },
  file_not_found: { http: 200, code: 404, msg: "File not found" },
  route_not_found: { http: 404, code: 404, msg: "Not Found" },
  body_not_object: { http: 200, code: 422, msg: "Request body must be a JSON object" },
  body_too_large: { http: 200, code: 422, msg: "Request body is too large" },
  record_not_found: { http: 200, code: 422, msg: "recordInfo is null" },
  url_required: { http: 200, code: 422, msg: "url is required" },
  external_url: { http: 200, code: 422, msg: "External file URLs are not supported" },
  callback_forbidden: {
    http: 200,
    code: 422,
    msg: "callBackUrl is not allowed: it points at a loopback, private, link-local or metadata address",
  },
  idempotency_conflict: {
    http: 200,
    code: 422,
    msg: "Idempotency-Key has already been used with a different request body",
  },
  idempotency_key_invalid: { http: 200, code: 422, msg: "Idempotency-Key must be 1-255 printable ASCII characters" },
  task_id_required: { http: 200, code: 422, msg: "taskId is required" },
  task_ids_too_many: { http: 200, code: 422, msg: "taskIds cannot contain more than 100 items" },
  page_num_invalid: { http: 200, code: 422, msg: "pageNum must be a whole number from 1" },
  page_size_invalid: { http: 200, code: 422, msg: "pageSize must be a whole number from 1 to 100" },
  state_filter_invalid: { http: 200, code: 422, msg: "state must be one of waiting, queuing, generating, success, fail" },
  model_filter_invalid: { http: 200, code: 422, msg: "model must be a model id of at most 100 characters" },
  limit_invalid: { http: 200, code: 422, msg: "limit must be a whole number from 1 to 200" },
  rate_limited: { http: 429, code: 429, msg: "Rate limit exceeded" },
  cap_hourly: { http: 200, code: 433, msg: "The current number of points used by apiKey has exceeded the hourly limit" },
  cap_daily: { http: 200, code: 433, msg: "The current number of points used by apiKey has exceeded the daily limit" },
  cap_total: { http: 200, code: 433, msg: "The current number of points used by apiKey has exceeded the total limit" },
  maintenance: { http: 200, code: 455, msg: "Service is under maintenance, please try again later" },
  internal: { http: 500, code: 500, msg: "Internal server error" },
  feature_disabled: { http: 200, code: 505, msg: "This feature is currently disabled" },
} as const satisfies Record<string, ErrorDef>;

export type KieErrorName = keyof typeof KIE_ERRORS;

/** The upload API's own texts (kie-contract §10.4); its envelope adds `success: false`. */
export const UPLOAD_ERRORS = {
  missing_base64: { http: 200, code: 400, msg: "Missing required parameter: base64Data" },
  missing_file: { http: 200, code: 400, msg: "Missing required parameter: file" },
  missing_file_url: { http: 200, code: 400, msg: "Missing required parameter: fileUrl" },
  bad_base64: { http: 200, code: 400, msg: "Base64 decoding failed: Invalid Base64 format" },
  unsupported_type: { http: 200, code: 400, msg: "Unsupported file type" },
  too_large: { http: 200, code: 400, msg: "File size exceeds the limit" },
  bad_upload_path: { http: 200, code: 400, msg: "Invalid uploadPath" },
  bad_file_name: { http: 200, code: 400, msg: "Invalid fileName" },
  download_failed: { http: 200, code: 400, msg: "Failed to download file from URL" },
  unauthorized: { http: 200, code: 401, msg: "Authentication failed: Invalid API Key" },
  rate_limited: { http: 429, code: 429, msg: "Rate limit exceeded" },
  disabled: { http: 200, code: 505, msg: "This feature is currently disabled" },
  internal: { http: 500, code: 500, msg: "Internal server error" },
} as const satisfies Record<string, ErrorDef>;

export type UploadErrorName = keyof typeof UPLOAD_ERRORS;

/** A kie-envelope error raised anywhere in a request; the error handler renders it. */
export class KieError extends Error {
  readonly def: ErrorDef;
  /** seconds, for 429 / 433 `Retry-After`. */
  readonly retryAfter?: number;
  constructor(def: ErrorDef | KieErrorName, opts: { msg?: string; retryAfter?: number } = {}) {
    const d = typeof def === "string" ? KIE_ERRORS[def] : def;
    super(opts.msg ?? d.msg);
    this.def = opts.msg ? { ...d, msg: opts.msg } : d;
    this.retryAfter = opts.retryAfter;
  }
}

/** An upload-envelope error (adds `success: false`). */
export class UploadError extends Error {
  readonly def: ErrorDef;
  constructor(name: UploadErrorName) {
    const d = UPLOAD_ERRORS[name];
    super(d.msg);
    this.def = d;
  }
}

/** Validation errors carry their own msg (kie-contract §4.3) with body code 422. */
export function validationError(msg: string): KieError {
  return new KieError({ http: 200, code: 422, msg });
}

// ---------------------------------------------------------------------------------------------
// task failures (kie-contract §6.3)

export const FAIL_REASONS = {
  prompt_blocked: { failCode: "422", failMsg: "The prompt was blocked by the content policy" },
  output_blocked: { failCode: "422", failMsg: "The generated image was blocked by the content policy" },
  invalid_input: { failCode: "422", failMsg: "Invalid image_input" },
  no_image: { failCode: "501", failMsg: "Generation failed: the model returned no image" },
  upstream_busy: { failCode: "500", failMsg: "Upstream service is busy, please try again later" },
  timed_out: { failCode: "500", failMsg: "Generation timed out, please try again later" },
  internal: { failCode: "500", failMsg: "Internal server error" },
  canceled: { failCode: "canceled", failMsg: "Task canceled by the client" },
} as const;

export type FailReason = keyof typeof FAIL_REASONS;

/**
 * What a failed upstream call says about the route that served it (docs/engines.md#upstream-routes):
 * throttled, out of daily quota, overloaded or failing, misconfigured (auth, billing, model), or a
 * verdict on the task itself (content policy, bad input, no image). Route health and failover read
 * it (src/upstreams/outcome.ts); the adapter that understands the failure sets it.
 */
export type UpstreamOutcome =
  | "rate_limited"
  | "quota_exhausted"
  | "overloaded"
  | "server_error"
  | "timeout"
  | "network"
  | "auth"
  | "billing"
  | "unknown_model"
  | "content_policy"
  | "bad_input"
  | "no_image";

/**
 * What an engine (or input fetch) throws. The adapter that understands the failure sets
 * `retryable`, `retryAfterMs` and `outcome`; the worker only reads them.
 */
export class ProviderError extends Error {
  readonly reason: FailReason;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  /** overrides the reason's failMsg, e.g. `Invalid image_input: <url>`. */
  readonly failMsg?: string;
  /** HTTP status from upstream, when there was one. */
  readonly status?: number;
  /** a per-day quota was hit: waiting on this key does not help. */
  readonly dailyQuota?: boolean;
  /** "no image" gets exactly one extra attempt whatever the budget. */
  readonly retryOnce?: boolean;
  /** the failure's class for route health and failover; derived from the fields above when unset. */
  readonly outcome?: UpstreamOutcome;
  constructor(
    reason: FailReason,
    message: string,
    opts: {
      retryable?: boolean;
      retryAfterMs?: number;
      failMsg?: string;
      status?: number;
      dailyQuota?: boolean;
      retryOnce?: boolean;
      outcome?: UpstreamOutcome;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "ProviderError";
    this.reason = reason;
    this.retryable = opts.retryable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
    this.failMsg = opts.failMsg;
    this.status = opts.status;
    this.dailyQuota = opts.dailyQuota;
    this.retryOnce = opts.retryOnce;
    this.outcome = opts.outcome;
  }
}

/** The failCode / failMsg pair a ProviderError (or any error) settles a task with. */
export function failureOf(err: unknown): { failCode: string; failMsg: string } {
  if (err instanceof ProviderError) {
    const r = FAIL_REASONS[err.reason];
    return { failCode: r.failCode, failMsg: err.failMsg ?? r.failMsg };
  }
  return { ...FAIL_REASONS.internal };
}
