import { AdminOps } from "../admin/operations.js";
import type { Config } from "../config.js";
import { AddressPolicy } from "../net/address-guard.js";
import type { Store } from "../store/store.js";
import { DeliveryDispatcher } from "../webhooks/dispatcher.js";
import { newId } from "../ids.js";

/**
 * What the `peel` operator commands need. Two implementations: over the admin API (when
 * PEEL_ADMIN_URL is set, e.g. against a remote or scaled-out deployment) and straight on the
 * database (the embedded default, no server needed).
 */
export interface AdminClient {
  call(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

export class HttpAdminClient implements AdminClient {
  constructor(
    private baseUrl: string,
    private token: string,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(this.baseUrl.replace(/\/+$/, "") + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json().catch(() => ({}))) as { data?: unknown; error?: { message?: string } };
    if (!res.ok) throw new Error(`${res.status}: ${json.error?.message ?? res.statusText}`);
    return json.data;
  }

  async close(): Promise<void> {}
}

/** Routes the same paths as the admin API onto AdminOps and the store, in-process. */
export class DirectAdminClient implements AdminClient {
  private ops: AdminOps;

  constructor(
    private store: Store,
    private config: Readonly<Config>,
  ) {
    this.ops = new AdminOps(store, config);
  }

  async call(method: string, path: string, body: Record<string, unknown> = {}): Promise<unknown> {
    const url = new URL(path, "http://cli");
    const q = Object.fromEntries(url.searchParams);
    const seg = url.pathname
      .replace(/^\/admin\/v1\//, "")
      .split("/")
      .map(decodeURIComponent);
    // ids (acc_…, key_…, dlv_…) stand in odd positions; fixed words never contain "_".
    const key = `${method} ${seg.map((p, i) => (i % 2 === 1 && p.includes("_") ? ":" : p)).join("/")}`;
    const s = this.store;
    const now = Date.now();
    switch (key) {
      case "GET accounts":
        return s.listAccounts();
      case "POST accounts":
        return this.ops.createAccount(body as never);
      case "GET accounts/:":
        return { ...(await this.ops.account(seg[1])), ...(await this.ops.balance(seg[1])) };
      case "GET keys":
        return this.ops.listKeys(q.accountId);
      case "POST keys":
        return this.ops.createKey(body as never);
      case "DELETE keys/:":
        await this.ops.revokeKey(seg[1]);
        return { revoked: true };
      case "PATCH keys/:":
        return this.ops.setKeyLimits(seg[1], (body.limits ?? {}) as never);
      case "GET accounts/:/credits":
        return this.ops.balance(seg[1]);
      case "POST accounts/:/credits":
        return this.ops.grant(seg[1], body.amount as number, (body.note as string) ?? null);
      case "GET accounts/:/ledger":
        await this.ops.account(seg[1]);
        return s.listLedger(seg[1], { limit: Number(q.limit ?? 100) });
      case "POST accounts/:/webhook-secret":
        return { secret: await this.ops.rotateSigningSecret(seg[1], ((body.overlapHours as number) ?? 24) * 3_600_000) };
      case "PUT accounts/:/webhook-hmac-key":
        return {
          hmacKey: await this.ops.setHmacKey(seg[1], body.hmacKey === undefined ? "generate" : (body.hmacKey as string | null)),
        };
      case "PUT accounts/:/callback-policy":
        return this.ops.setCallbackPolicy(seg[1], { allow: body.allow, deny: body.deny });
      case "GET switches":
        return s.getSwitches();
      case "PUT maintenance":
        await this.ops.setMaintenance(body.on === true);
        return s.getSwitches();
      case "GET deliveries":
        return s.listDeliveries({
          accountId: q.accountId,
          taskId: q.taskId,
          state: q.state as never,
          since: q.since ? Number(q.since) : undefined,
          limit: Number(q.limit ?? 100),
        });
      case "GET deliveries/:": {
        const d = await s.getDelivery(seg[1]);
        if (!d) throw new Error(`no delivery ${seg[1]}`);
        return { ...d, attempts: await s.listDeliveryAttempts(d.id) };
      }
      case "POST deliveries/:/replay":
        if (!(await s.replayDelivery(seg[1], now))) throw new Error(`no delivery ${seg[1]}`);
        return { replayed: 1 };
      case "POST deliveries/replay-failed":
        return {
          replayed: await s.replayFailedDeliveries({
            accountId: body.accountId as string | undefined,
            since: body.since as number,
            now,
          }),
        };
      case "POST webhooks/test": {
        const d = new DeliveryDispatcher({
          store: s,
          policy: new AddressPolicy(this.config.outbound.allow),
          clock: { now: () => Date.now() },
          workerId: newId("wrk"),
          timeoutMs: this.config.callbacks.timeoutMs,
          concurrency: 1,
          pollMs: 1000,
        });
        try {
          await this.ops.account(body.accountId as string);
          return await d.sendTestEvent({ url: body.url as string, accountId: body.accountId as string });
        } finally {
          await d.stop();
        }
      }
    }
    if (method === "PUT" && seg[0] === "models") {
      await this.ops.setModelEnabled(seg.slice(1).join("/"), body.enabled !== false);
      return s.getSwitches();
    }
    throw new Error(`unsupported admin call ${method} ${path}`);
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
