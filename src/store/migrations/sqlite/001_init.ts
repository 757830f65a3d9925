/**
 * The first schema. Written in SQL that ports to PostgreSQL: times are integer ms (BIGINT),
 * booleans 0/1 integers, JSON as TEXT, no triggers, business rules stay in TypeScript.
 * `seq INTEGER PRIMARY KEY` columns (BIGSERIAL in PostgreSQL) give a stable order to rows created
 * in the same millisecond.
 */
export const name = "init";

export const sql = `
CREATE TABLE accounts (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  token            TEXT NOT NULL UNIQUE,
  unmetered        INTEGER NOT NULL DEFAULT 0,
  max_running      INTEGER,
  disabled         INTEGER NOT NULL DEFAULT 0,
  -- cached SUM(ledger.amount), updated in the same transaction as every ledger insert
  balance          REAL NOT NULL DEFAULT 0,
  created_at       BIGINT NOT NULL,
  -- round-robin claim fairness: the least recently served account goes first
  last_claim_at    BIGINT NOT NULL DEFAULT 0,
  webhook_hmac_key TEXT
);

CREATE TABLE webhook_secrets (
  seq        INTEGER PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  secret     TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT
);
CREATE INDEX webhook_secrets_account ON webhook_secrets (account_id, created_at);

CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name       TEXT NOT NULL,
  prefix     TEXT NOT NULL,
  hash       TEXT NOT NULL UNIQUE,
  limits     TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

CREATE TABLE ledger (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  task_id    TEXT,
  kind       TEXT NOT NULL,
  amount     REAL NOT NULL,
  note       TEXT,
  created_at BIGINT NOT NULL
);
-- Every createTask appends a ledger row: indexes on random ids (a UNIQUE id, task_id) would cost
-- a random B-tree insert each (the larger part of createTask's SQL). Ids come from a CSPRNG and
-- are never looked up alone; per-task reads go through the account index.
CREATE INDEX ledger_account ON ledger (account_id, created_at);

CREATE TABLE tasks (
  id               TEXT PRIMARY KEY,
  account_id       TEXT NOT NULL REFERENCES accounts(id),
  key_id           TEXT NOT NULL,
  model            TEXT NOT NULL,
  state            TEXT NOT NULL,
  param            TEXT NOT NULL,
  input            TEXT NOT NULL,
  callback_url     TEXT,
  price            REAL NOT NULL,
  -- credits currently held for this task; zeroed by the capture or release (exactly once)
  held_credits     REAL NOT NULL DEFAULT 0,
  result_urls      TEXT,
  fail_code        TEXT,
  fail_msg         TEXT,
  create_time      BIGINT NOT NULL,
  update_time      BIGINT NOT NULL,
  generating_since BIGINT,
  complete_time    BIGINT,
  deadline         BIGINT NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  consumed_credits REAL NOT NULL DEFAULT 0,
  lease_owner      TEXT,
  lease_expires_at BIGINT,
  run_after        BIGINT NOT NULL DEFAULT 0
);
-- claim, promotion and per-account counts all go through the account first
CREATE INDEX tasks_account_state ON tasks (account_id, state, create_time);
CREATE INDEX tasks_key_usage ON tasks (key_id, create_time);
CREATE INDEX tasks_deadline ON tasks (state, deadline);

CREATE TABLE idempotency_keys (
  account_id TEXT NOT NULL,
  key        TEXT NOT NULL,
  body_hash  TEXT NOT NULL,
  task_id    TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE deliveries (
  id               TEXT PRIMARY KEY,
  task_id          TEXT,
  account_id       TEXT NOT NULL,
  url              TEXT NOT NULL,
  payload          TEXT NOT NULL,
  webhook_id       TEXT NOT NULL,
  state            TEXT NOT NULL,
  attempt_count    INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  BIGINT,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL,
  last_status      INTEGER,
  last_error       TEXT,
  lease_owner      TEXT,
  lease_expires_at BIGINT
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_account ON deliveries (account_id, created_at);
CREATE INDEX deliveries_task ON deliveries (task_id);

CREATE TABLE delivery_attempts (
  seq             INTEGER PRIMARY KEY,
  id              TEXT NOT NULL UNIQUE,
  delivery_id     TEXT NOT NULL REFERENCES deliveries(id),
  attempted_at    BIGINT NOT NULL,
  status_code     INTEGER,
  latency_ms      INTEGER NOT NULL,
  error           TEXT,
  next_attempt_at BIGINT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempted_at);

CREATE TABLE files (
  id          TEXT PRIMARY KEY,
  account_id  TEXT NOT NULL,
  kind        TEXT NOT NULL,
  task_id     TEXT,
  url_path    TEXT NOT NULL,
  storage_key TEXT NOT NULL,
  size        BIGINT NOT NULL,
  mime_type   TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  deleted_at  BIGINT
);
-- one live record per URL path; deleted records stay as history
CREATE UNIQUE INDEX files_live_url_path ON files (url_path) WHERE deleted_at IS NULL;
CREATE INDEX files_url_path ON files (url_path, created_at);
CREATE INDEX files_expiry ON files (expires_at) WHERE deleted_at IS NULL;
CREATE INDEX files_account ON files (account_id, created_at);

CREATE TABLE switches (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;
