/**
 * The error registry. Every error body peel writes is built from an entry here (by `sendError` in
 * src/http/envelope.ts), with the HTTP status, the body `code` and the exact `msg` (docs/kie-contract.md
 * §3 for the kie envelopes). docs/errors.md documents each entry and test/errors-registry.test.ts
 * checks the two against each other both ways.
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
  body_too_deep: { http: 200, code: 422, msg: "Request body is nested too deeply (more than 32 levels)" },
  body_too_many_values: { http: 200, code: 422, msg: "Request body has too many values (more than 10000)" },
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
  storage_full: { http: 500, code: 500, msg: "storage is full, try again later" },
  feature_disabled: { http: 200, code: 505, msg: "This feature is currently disabled" },
} as const satisfies Record<string, ErrorDef>;

export type KieErrorName = keyof typeof KIE_ERRORS;

/** The upload API's own texts (docs/kie-contract.md §10.4); its envelope adds `success: false`. */
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
  storage_full: { http: 500, code: 500, msg: "storage is full, try again later" },
} as const satisfies Record<string, ErrorDef>;

export type UploadErrorName = keyof typeof UPLOAD_ERRORS;

/**
 * File URLs (`GET /files/...`, docs/kie-contract.md §11): the kie envelope, but with the real HTTP
 * status, since browsers and download tools read the status line of a file URL.
 */
export const FILE_ERRORS = {
  bad_width: { http: 400, code: 400, msg: "w must be one of 128, 256, 512" },
  not_found: { http: 404, code: 404, msg: "File not found" },
  expired: { http: 404, code: 404, msg: "File has expired" },
  bad_signature: { http: 403, code: 403, msg: "Download link signature is invalid" },
  link_expired: { http: 403, code: 403, msg: "Download link has expired" },
  not_an_image: { http: 422, code: 422, msg: "The file is not an image peel can decode" },
} as const satisfies Record<string, ErrorDef>;

/**
 * An error of peel's own API (the admin API under /admin/v1): a real HTTP status and
 * `{ error: { code, message, requestId } }`, where `code` is the entry's name. `msg` is the
 * default message; a raised error may say more (which account, which field).
 */
export interface PeelErrorDef {
  http: number;
  /** the entry's own name, sent as `error.code`. */
  code: string;
  msg: string;
}

export const PEEL_ERRORS = {
  invalid_request: { http: 400, code: "invalid_request", msg: "The request does not match the route's schema" },
  invalid_amount: { http: 400, code: "invalid_amount", msg: "amount must be a non-zero number of credits" },
  invalid_time: { http: 400, code: "invalid_time", msg: "time must be ms since the epoch or an ISO 8601 date" },
  unknown_model: { http: 400, code: "unknown_model", msg: "unknown model or feature" },
  invalid_callback_policy: {
    http: 400,
    code: "invalid_callback_policy",
    msg: "callback policy entries must be host names, *.suffix patterns, IP addresses or CIDRs",
  },
  unauthorized: { http: 401, code: "unauthorized", msg: "admin token required" },
  route_not_found: { http: 404, code: "route_not_found", msg: "Not Found" },
  account_not_found: { http: 404, code: "account_not_found", msg: "no such account" },
  key_not_found: { http: 404, code: "key_not_found", msg: "no such key" },
  task_not_found: { http: 404, code: "task_not_found", msg: "no such task" },
  delivery_not_found: { http: 404, code: "delivery_not_found", msg: "no such delivery" },
  no_dispatcher: { http: 409, code: "no_dispatcher", msg: "this process does not run the callback dispatcher" },
  body_too_large: { http: 413, code: "body_too_large", msg: "Request body is too large" },
  body_too_deep: { http: 400, code: "body_too_deep", msg: "Request body is nested too deeply (more than 32 levels)" },
  body_too_many_values: { http: 400, code: "body_too_many_values", msg: "Request body has too many values (more than 10000)" },
  internal: { http: 500, code: "internal", msg: "Internal server error" },
  storage_full: { http: 500, code: "storage_full", msg: "storage is full, try again later" },
} as const satisfies Record<string, PeelErrorDef>;

export type PeelErrorName = keyof typeof PEEL_ERRORS;

/** A peel-API error raised anywhere in an admin request or operation; the error handler renders it. */
export class PeelError extends Error {
  readonly def: PeelErrorDef;
  constructor(name: PeelErrorName, message?: string) {
    const d = PEEL_ERRORS[name];
    super(message ?? d.msg);
    this.name = "PeelError";
    this.def = message ? { ...d, msg: message } : d;
  }
}

/**
 * Answers given before any route runs, when the HTTP request itself is broken (Node's parser, the
 * router). They carry the kie envelope `{code, msg, data: null}` with `code` equal to the HTTP
 * status: the request never reached kie's API, so kie's "business errors are HTTP 200" rule
 * (docs/kie-contract.md §3) has nothing to apply to.
 */
export const PROTOCOL_ERRORS = {
  bad_request: { http: 400, code: 400, msg: "Malformed HTTP request" },
  request_timeout: { http: 408, code: 408, msg: "Request timeout: the request was not received in time" },
  expectation_failed: { http: 417, code: 417, msg: "Expectation failed: only Expect: 100-continue is supported" },
  headers_too_large: { http: 431, code: 431, msg: "Request header fields too large" },
} as const satisfies Record<string, ErrorDef>;

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

/** Validation errors carry their own msg (docs/kie-contract.md §4.3) with body code 422. */
export function validationError(msg: string): KieError {
  return new KieError({ http: 200, code: 422, msg });
}

// ---------------------------------------------------------------------------------------------
// task failures (docs/kie-contract.md §6.3)

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
