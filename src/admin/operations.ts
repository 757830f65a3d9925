import type { Config } from "../config.js";
import type { Account, ApiKey, CallbackPolicy, KeyLimits, LedgerEntry } from "../domain/types.js";
import { generateApiKey } from "../services/api-keys.js";
import { FEATURES } from "../services/switches.js";
import { modelSpec } from "../domain/models.js";
import type { Store } from "../store/store.js";
import { hostPatternProblems } from "../webhooks/callback-policy.js";
import { randomBytes } from "node:crypto";

/**
 * Operator actions, shared by the admin API (http/routes/admin.ts) and the `peel` CLI when it
 * works on the database directly. Throws AdminError for the operator's mistakes.
 */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type PublicKey = Omit<ApiKey, "hash">;

export const publicKey = ({ hash: _hash, ...k }: ApiKey): PublicKey => k;

export class AdminOps {
  constructor(
    private store: Store,
    private config: Readonly<Config>,
    private now: () => number = Date.now,
  ) {}

  async createAccount(input: {
    name: string;
    unmetered?: boolean;
    maxRunning?: number | null;
    credits?: number;
  }): Promise<Account> {
    if (!input.name || typeof input.name !== "string") throw new AdminError(400, "invalid_name", "name is required");
    return this.store.createAccount(
      {
        name: input.name,
        unmetered: input.unmetered ?? false,
        maxRunning: input.maxRunning ?? null,
        initialCredits: input.credits ?? 0,
      },
      this.now(),
    );
  }

  async account(id: string): Promise<Account> {
    const a = await this.store.getAccount(id);
    if (!a) throw new AdminError(404, "account_not_found", `no account ${id}`);
    return a;
  }

  /**
   * Creates a key; without an account id, a new account named after the key is created with the
   * configured initial credits (the quick-start path of `peel keys create --name NAME`).
   */
  async createKey(input: {
    name: string;
    accountId?: string;
    limits?: KeyLimits;
  }): Promise<{ key: string; apiKey: PublicKey; account: Account }> {
    if (!input.name || typeof input.name !== "string") throw new AdminError(400, "invalid_name", "name is required");
    const account = input.accountId
      ? await this.account(input.accountId)
      : await this.createAccount({ name: input.name, credits: this.config.billing.initialCredits });
    const g = generateApiKey();
    const apiKey = await this.store.createApiKey(
      { accountId: account.id, name: input.name, hash: g.hash, prefix: g.prefix, limits: checkLimits(input.limits ?? {}) },
      this.now(),
    );
    return { key: g.key, apiKey: publicKey(apiKey), account };
  }

  async listKeys(accountId?: string): Promise<PublicKey[]> {
    return (await this.store.listApiKeys(accountId)).map(publicKey);
  }

  async revokeKey(id: string): Promise<void> {
    if (!(await this.store.revokeApiKey(id, this.now()))) throw new AdminError(404, "key_not_found", `no active key ${id}`);
  }

  async setKeyLimits(id: string, limits: KeyLimits): Promise<PublicKey> {
    const k = await this.store.updateApiKeyLimits(id, checkLimits(limits));
    if (!k) throw new AdminError(404, "key_not_found", `no key ${id}`);
    return publicKey(k);
  }

  async grant(accountId: string, amount: number, note: string | null): Promise<{ entry: LedgerEntry; balance: number }> {
    if (typeof amount !== "number" || !Number.isFinite(amount) || amount === 0) {
      throw new AdminError(400, "invalid_amount", "amount must be a non-zero number of credits");
    }
    await this.account(accountId);
    const entry = await this.store.grantCredits(accountId, amount, note, this.now());
    return { entry, balance: await this.store.getBalance(accountId) };
  }

  async balance(accountId: string): Promise<{ balance: number; unmetered: boolean }> {
    const a = await this.account(accountId);
    return { balance: await this.store.getBalance(accountId), unmetered: a.unmetered };
  }

  async setMaintenance(on: boolean): Promise<void> {
    await this.store.setMaintenance(on);
  }

  async setModelEnabled(model: string, enabled: boolean): Promise<void> {
    if (!modelSpec(model) && !(FEATURES as readonly string[]).includes(model)) {
      throw new AdminError(400, "unknown_model", `unknown model or feature ${model}; features: ${FEATURES.join(", ")}`);
    }
    await this.store.setModelEnabled(model, enabled);
  }

  /** Rotates the Standard Webhooks secret; the old ones keep signing for `overlapMs`. */
  async rotateSigningSecret(accountId: string, overlapMs: number): Promise<string> {
    await this.account(accountId);
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const now = this.now();
    await this.store.rotateSigningSecret(accountId, secret, now + Math.max(0, overlapMs), now);
    return secret;
  }

  /** Sets (or generates, or clears with null) the kie-scheme webhook HMAC key. */
  async setHmacKey(accountId: string, hmacKey: string | null | "generate"): Promise<string | null> {
    await this.account(accountId);
    const key = hmacKey === "generate" ? `whk_${randomBytes(24).toString("hex")}` : hmacKey;
    await this.store.setWebhookHmacKey(accountId, key);
    return key;
  }

  /**
   * Sets the account's own callback destination rules (docs/webhooks.md): its allow list, then its
   * deny list, are checked before PEEL_CALLBACK_ALLOW / PEEL_CALLBACK_DENY. Two empty lists clear it.
   */
  async setCallbackPolicy(accountId: string, input: { allow?: unknown; deny?: unknown }): Promise<Account> {
    const policy = checkCallbackPolicy(input);
    const a = await this.store.updateAccount(accountId, { callbackPolicy: policy });
    if (!a) throw new AdminError(404, "account_not_found", `no account ${accountId}`);
    return a;
  }
}

function checkCallbackPolicy(input: { allow?: unknown; deny?: unknown }): CallbackPolicy | null {
  const list = (v: unknown, name: string): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new AdminError(400, "invalid_callback_policy", `${name} must be a list of host patterns`);
    const problems = hostPatternProblems(v, name);
    if (problems.length) throw new AdminError(400, "invalid_callback_policy", problems.join("; "));
    return [...new Set((v as string[]).map((p) => p.trim()))];
  };
  const allow = list(input.allow, "allow");
  const deny = list(input.deny, "deny");
  return allow.length || deny.length ? { allow, deny } : null;
}

function checkLimits(l: KeyLimits): KeyLimits {
  const out: KeyLimits = {};
  for (const k of ["createMax", "createWindowMs", "readMax", "readWindowMs", "hourlyCap", "dailyCap", "totalCap"] as const) {
    const v = (l as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (v !== null && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) {
      throw new AdminError(400, "invalid_limits", `${k} must be a number ≥ 0 or null`);
    }
    out[k] = v as number | null;
  }
  return out;
}
