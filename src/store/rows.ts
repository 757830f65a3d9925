import type {
  Account,
  CallbackPolicy,
  ApiKey,
  Delivery,
  DeliveryAttempt,
  DeliveryState,
  FileKind,
  FileRecord,
  KeyLimits,
  LedgerEntry,
  LedgerKind,
  TaskRecord,
  TaskState,
} from "../domain/types.js";

// Row shapes as the backends return them (snake_case) and their mapping to domain records, shared
// by SQLite and PostgreSQL. The backends differ only in how booleans and JSON columns arrive
// (SQLite: 0/1 and JSON text; PostgreSQL: BOOLEAN and parsed JSONB), which a ColumnCodec decodes.
// Column lists are spelled out so a schema change shows up here.

export interface ColumnCodec {
  bool(v: unknown): boolean;
  json<T>(v: unknown): T;
}

/** A boolean column: 0/1 (SQLite) or true/false (PostgreSQL). */
type Bool = number | boolean;
/** A JSON column: text (SQLite) or already parsed (PostgreSQL JSONB). */
type Json = unknown;

export interface AccountRow {
  id: string;
  name: string;
  token: string;
  unmetered: Bool;
  max_running: number | null;
  disabled: Bool;
  balance: number;
  created_at: number;
  last_claim_at: number;
  webhook_hmac_key: string | null;
  callback_policy: Json | null;
}

/** An account's columns joined onto another row (the API-key lookup), prefixed `a_`. */
export interface AccountColumns {
  account_id: string;
  a_name: string;
  a_token: string;
  a_unmetered: Bool;
  a_max_running: number | null;
  a_disabled: Bool;
  a_created_at: number;
  a_callback_policy: Json | null;
}

/** The AccountRow inside a row that carries AccountColumns (columns toAccount does not read are zeroed). */
export function accountOf(r: AccountColumns): AccountRow {
  return {
    id: r.account_id,
    name: r.a_name,
    token: r.a_token,
    unmetered: r.a_unmetered,
    max_running: r.a_max_running,
    disabled: r.a_disabled,
    balance: 0,
    created_at: r.a_created_at,
    last_claim_at: 0,
    webhook_hmac_key: null,
    callback_policy: r.a_callback_policy,
  };
}

export interface ApiKeyRow {
  id: string;
  account_id: string;
  name: string;
  prefix: string;
  hash: string;
  limits: Json;
  created_at: number;
  revoked_at: number | null;
}

export interface LedgerRow {
  id: string;
  account_id: string;
  task_id: string | null;
  kind: string;
  amount: number;
  note: string | null;
  created_at: number;
}

export interface TaskRow {
  id: string;
  account_id: string;
  key_id: string;
  model: string;
  state: string;
  param: string;
  input: Json;
  callback_url: string | null;
  price: number;
  held_credits: number;
  result_urls: Json;
  fail_code: string | null;
  fail_msg: string | null;
  create_time: number;
  update_time: number;
  generating_since: number | null;
  complete_time: number | null;
  deadline: number;
  attempts: number;
  cancel_requested: Bool;
  consumed_credits: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  run_after: number;
}

export interface DeliveryRow {
  id: string;
  task_id: string | null;
  account_id: string;
  url: string;
  payload: string;
  webhook_id: string;
  state: string;
  attempt_count: number;
  next_attempt_at: number | null;
  created_at: number;
  updated_at: number;
  last_status: number | null;
  last_error: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
}

export interface DeliveryAttemptRow {
  id: string;
  delivery_id: string;
  attempted_at: number;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  next_attempt_at: number | null;
}

export interface FileRow {
  id: string;
  account_id: string;
  kind: string;
  task_id: string | null;
  url_path: string;
  storage_key: string;
  size: number;
  mime_type: string;
  created_at: number;
  expires_at: number;
  deleted_at: number | null;
}

/** The row → record mappers for one backend's column encoding. */
export function rowMappers(c: ColumnCodec) {
  const toAccount = (r: AccountRow): Account => ({
    id: r.id,
    name: r.name,
    token: r.token,
    unmetered: c.bool(r.unmetered),
    maxRunning: r.max_running,
    createdAt: r.created_at,
    disabled: c.bool(r.disabled),
    callbackPolicy: r.callback_policy === null ? null : c.json<CallbackPolicy>(r.callback_policy),
  });

  const toApiKey = (r: ApiKeyRow): ApiKey => ({
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    prefix: r.prefix,
    hash: r.hash,
    limits: c.json<KeyLimits>(r.limits),
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  });

  const toLedgerEntry = (r: LedgerRow): LedgerEntry => ({
    id: r.id,
    accountId: r.account_id,
    taskId: r.task_id,
    kind: r.kind as LedgerKind,
    amount: r.amount,
    note: r.note,
    createdAt: r.created_at,
  });

  const toTask = (r: TaskRow): TaskRecord => ({
    id: r.id,
    accountId: r.account_id,
    keyId: r.key_id,
    model: r.model,
    state: r.state as TaskState,
    param: r.param,
    input: c.json<TaskRecord["input"]>(r.input),
    callbackUrl: r.callback_url,
    price: r.price,
    resultUrls: r.result_urls === null ? null : c.json<string[]>(r.result_urls),
    failCode: r.fail_code,
    failMsg: r.fail_msg,
    createTime: r.create_time,
    updateTime: r.update_time,
    generatingSince: r.generating_since,
    completeTime: r.complete_time,
    deadline: r.deadline,
    attempts: r.attempts,
    cancelRequested: c.bool(r.cancel_requested),
    consumedCredits: r.consumed_credits,
  });

  const toDelivery = (r: DeliveryRow): Delivery => ({
    id: r.id,
    taskId: r.task_id,
    accountId: r.account_id,
    url: r.url,
    payload: r.payload,
    webhookId: r.webhook_id,
    state: r.state as DeliveryState,
    attemptCount: r.attempt_count,
    nextAttemptAt: r.next_attempt_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
  });

  const toDeliveryAttempt = (r: DeliveryAttemptRow): DeliveryAttempt => ({
    id: r.id,
    deliveryId: r.delivery_id,
    attemptedAt: r.attempted_at,
    statusCode: r.status_code,
    latencyMs: r.latency_ms,
    error: r.error,
    nextAttemptAt: r.next_attempt_at,
  });

  const toFile = (r: FileRow): FileRecord => ({
    id: r.id,
    accountId: r.account_id,
    kind: r.kind as FileKind,
    taskId: r.task_id,
    urlPath: r.url_path,
    storageKey: r.storage_key,
    size: r.size,
    mimeType: r.mime_type,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    deletedAt: r.deleted_at,
  });
  return { toAccount, toApiKey, toLedgerEntry, toTask, toDelivery, toDeliveryAttempt, toFile };
}
