import type { Config } from "../config.js";
import { modelSpec } from "../domain/models.js";
import { toRecordInfo } from "../domain/record.js";
import type {
  Account,
  ApiKey,
  CallbackPolicy,
  Delivery,
  DeliveryAttempt,
  DeliveryState,
  KeyLimits,
  LedgerEntry,
  Switches,
} from "../domain/types.js";
import { PeelError } from "../errors.js";
import { generateApiKey } from "../services/api-keys.js";
import { FEATURES } from "../services/switches.js";
import type { AccountPatch, Store } from "../store/store.js";
import { hostPatternProblems } from "../webhooks/callback-policy.js";
import type { DeliveryAttemptResult } from "../webhooks/dispatcher.js";
import { generateHmacKey, generateSigningSecret } from "../webhooks/sign.js";

/**
 * The operator's actions, as typed functions: the one implementation behind the admin API
 * (src/admin/route-table.ts declares each route; src/http/routes/admin.ts serves them) and the
 * `peel` CLI (in-process, or over the admin API with PEEL_ADMIN_URL). Operator mistakes throw
 * PeelError (registry: src/errors.ts, `PEEL_ERRORS`).
 */

export type PublicKey = Omit<ApiKey, "hash">;

export const publicKey = ({ hash: _hash, ...k }: ApiKey): PublicKey => k;

export interface AdminDeps {
  store: Store;
  config: Readonly<Config>;
  /** @defaultValue Date.now */
  now?: () => number;
  /** A key or account changed: drop cached authentications (the HTTP server's Authenticator). */
  onKeysChanged?: () => void;
  /** Maintenance or a model switch changed: drop the cached switches. */
  onSwitchesChanged?: () => void;
  /** Deliveries were queued for sending again: wake the dispatcher. */
  onDeliveriesQueued?: () => void;
  /** Sends a signed one-off `peel.test` event; absent → no_dispatcher (409). */
  sendTestEvent?: (input: { url: string; accountId: string }) => Promise<DeliveryAttemptResult>;
}

export interface NewAccountInput {
  name: string;
  /** initial credits. @defaultValue 0 */
  credits?: number;
  unmetered?: boolean;
  maxRunning?: number | null;
}

export interface DeliveryFilter {
  accountId?: string;
  taskId?: string;
  state?: DeliveryState;
  /** ms since the epoch, or an ISO 8601 date. */
  since?: number | string;
  /** @defaultValue 100 */
  limit?: number;
}

export class AdminOps {
  private readonly now: () => number;

  constructor(private readonly d: AdminDeps) {
    this.now = d.now ?? Date.now;
  }

  // accounts

  listAccounts(): Promise<Account[]> {
    return this.d.store.listAccounts();
  }

  createAccount(input: NewAccountInput): Promise<Account> {
    return this.d.store.createAccount(
      {
        name: input.name,
        unmetered: input.unmetered ?? false,
        maxRunning: input.maxRunning ?? null,
        initialCredits: input.credits ?? 0,
      },
      this.now(),
    );
  }

  /** The account, or account_not_found. */
  async account(id: string): Promise<Account> {
    const a = await this.d.store.getAccount(id);
    if (!a) throw new PeelError("account_not_found", `no account ${id}`);
    return a;
  }

  async updateAccount(id: string, patch: AccountPatch): Promise<Account> {
    const a = await this.d.store.updateAccount(id, patch);
    if (!a) throw new PeelError("account_not_found", `no account ${id}`);
    // disabling an account locks out its keys at once
    this.d.onKeysChanged?.();
    return a;
  }

  async balance(accountId: string): Promise<{ balance: number; unmetered: boolean }> {
    const a = await this.account(accountId);
    return { balance: await this.d.store.getBalance(accountId), unmetered: a.unmetered };
  }

  /** Adds credits (a negative amount is a manual debit). */
  async grant(accountId: string, amount: number, note: string | null): Promise<{ entry: LedgerEntry; balance: number }> {
    if (!Number.isFinite(amount) || amount === 0) throw new PeelError("invalid_amount");
    await this.account(accountId);
    const entry = await this.d.store.grantCredits(accountId, amount, note, this.now());
    return { entry, balance: await this.d.store.getBalance(accountId) };
  }

  /** Ledger entries, newest first. */
  async ledger(accountId: string, opts: { limit?: number; taskId?: string } = {}): Promise<LedgerEntry[]> {
    await this.account(accountId);
    return this.d.store.listLedger(accountId, { limit: opts.limit ?? 100, taskId: opts.taskId });
  }

  /** Rotates the Standard Webhooks secret; the old ones keep signing for `overlapMs`. */
  async rotateSigningSecret(accountId: string, overlapMs: number): Promise<string> {
    await this.account(accountId);
    const secret = generateSigningSecret();
    const now = this.now();
    await this.d.store.rotateSigningSecret(accountId, secret, now + Math.max(0, overlapMs), now);
    return secret;
  }

  /** Sets the kie-scheme webhook HMAC key: the one given, a generated one (undefined), or none (null). */
  async setHmacKey(accountId: string, hmacKey?: string | null): Promise<string | null> {
    await this.account(accountId);
    const key = hmacKey === undefined ? generateHmacKey() : hmacKey;
    await this.d.store.setWebhookHmacKey(accountId, key);
    return key;
  }

  /**
   * Sets the account's own callback destination rules (docs/webhooks.md): its allow list, then its
   * deny list, are checked before PEEL_CALLBACK_ALLOW / PEEL_CALLBACK_DENY. A missing list is
   * empty; two empty lists clear the policy.
   */
  async setCallbackPolicy(accountId: string, input: { allow?: string[] | null; deny?: string[] | null }): Promise<Account> {
    const list = (v: string[] | null | undefined, name: string): string[] => {
      const problems = hostPatternProblems(v ?? [], name);
      if (problems.length) throw new PeelError("invalid_callback_policy", problems.join("; "));
      return [...new Set((v ?? []).map((p) => p.trim()))];
    };
    const allow = list(input.allow, "allow");
    const deny = list(input.deny, "deny");
    const policy: CallbackPolicy | null = allow.length || deny.length ? { allow, deny } : null;
    const a = await this.d.store.updateAccount(accountId, { callbackPolicy: policy });
    if (!a) throw new PeelError("account_not_found", `no account ${accountId}`);
    return a;
  }

  // keys

  /**
   * Creates a key; without an account id, a new account named after the key is created with the
   * configured initial credits (the quick-start path of `peel keys create --name NAME`).
   */
  async createKey(input: {
    name: string;
    accountId?: string;
    limits?: KeyLimits;
  }): Promise<{ key: string; apiKey: PublicKey; account: Account }> {
    const account = input.accountId
      ? await this.account(input.accountId)
      : await this.createAccount({ name: input.name, credits: this.d.config.billing.initialCredits });
    const g = generateApiKey();
    const apiKey = await this.d.store.createApiKey(
      { accountId: account.id, name: input.name, hash: g.hash, prefix: g.prefix, limits: input.limits ?? {} },
      this.now(),
    );
    return { key: g.key, apiKey: publicKey(apiKey), account };
  }

  async listKeys(accountId?: string): Promise<PublicKey[]> {
    return (await this.d.store.listApiKeys(accountId)).map(publicKey);
  }

  async revokeKey(id: string): Promise<void> {
    if (!(await this.d.store.revokeApiKey(id, this.now()))) throw new PeelError("key_not_found", `no active key ${id}`);
    this.d.onKeysChanged?.();
  }

  async setKeyLimits(id: string, limits: KeyLimits): Promise<PublicKey> {
    const k = await this.d.store.updateApiKeyLimits(id, limits);
    if (!k) throw new PeelError("key_not_found", `no key ${id}`);
    this.d.onKeysChanged?.();
    return publicKey(k);
  }

  // switches

  switches(): Promise<Switches> {
    return this.d.store.getSwitches();
  }

  async setMaintenance(on: boolean): Promise<Switches> {
    await this.d.store.setMaintenance(on);
    this.d.onSwitchesChanged?.();
    return this.switches();
  }

  /** Enables or disables a kie model id or a feature (`feature:4K`, ...). */
  async setModelEnabled(model: string, enabled: boolean): Promise<Switches> {
    if (!modelSpec(model) && !(FEATURES as readonly string[]).includes(model)) {
      throw new PeelError("unknown_model", `unknown model or feature ${model}; features: ${FEATURES.join(", ")}`);
    }
    await this.d.store.setModelEnabled(model, enabled);
    this.d.onSwitchesChanged?.();
    return this.switches();
  }

  // tasks

  /** A task of any account: its recordInfo view plus who owns it, its attempts and price. */
  async task(id: string) {
    const t = await this.d.store.getTask(id);
    if (!t) throw new PeelError("task_not_found", `no task ${id}`);
    return { ...toRecordInfo(t), accountId: t.accountId, keyId: t.keyId, attempts: t.attempts, price: t.price };
  }

  // callback deliveries

  listDeliveries(filter: DeliveryFilter = {}): Promise<Delivery[]> {
    return this.d.store.listDeliveries({
      accountId: filter.accountId,
      taskId: filter.taskId,
      state: filter.state,
      since: filter.since === undefined ? undefined : parseTime(filter.since),
      limit: filter.limit ?? 100,
    });
  }

  async delivery(id: string): Promise<Delivery & { attempts: DeliveryAttempt[] }> {
    const d = await this.d.store.getDelivery(id);
    if (!d) throw new PeelError("delivery_not_found", `no delivery ${id}`);
    return { ...d, attempts: await this.d.store.listDeliveryAttempts(d.id) };
  }

  /** Sends a delivery again (same body, same webhook-id), whatever its state. */
  async replayDelivery(id: string): Promise<{ replayed: number }> {
    if (!(await this.d.store.replayDelivery(id, this.now()))) throw new PeelError("delivery_not_found", `no delivery ${id}`);
    this.d.onDeliveriesQueued?.();
    return { replayed: 1 };
  }

  /** Sends again every failed or stopped delivery created since `since` (of one account, if given). */
  async replayFailedDeliveries(input: { since: number | string; accountId?: string }): Promise<{ replayed: number }> {
    const n = await this.d.store.replayFailedDeliveries({
      accountId: input.accountId,
      since: parseTime(input.since),
      now: this.now(),
    });
    this.d.onDeliveriesQueued?.();
    return { replayed: n };
  }

  /** A signed `peel.test` POST to `url` with the account's secrets; not stored, not retried. */
  async sendTestEvent(input: { url: string; accountId: string }): Promise<DeliveryAttemptResult> {
    if (!this.d.sendTestEvent) throw new PeelError("no_dispatcher");
    await this.account(input.accountId);
    return this.d.sendTestEvent(input);
  }
}

/** ms since the epoch (a number or a string of digits) or an ISO 8601 date. */
export function parseTime(v: number | string): number {
  const n = typeof v === "number" ? v : /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n))
    throw new PeelError("invalid_time", `bad time ${JSON.stringify(v)}: ms since the epoch or an ISO 8601 date`);
  return n;
}
