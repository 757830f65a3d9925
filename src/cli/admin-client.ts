import type { TObject } from "@sinclair/typebox";
import { inputChecker, type InputPart } from "../admin/input.js";
import { AdminOps } from "../admin/operations.js";
import { ADMIN_ROUTES, type AdminInput, type AdminOperation, type AdminOutput, type AdminRoute } from "../admin/route-table.js";
import type { Config } from "../config.js";
import { PEEL_ERRORS, type PeelErrorName, PeelError } from "../errors.js";
import { newId } from "../ids.js";
import { AddressPolicy } from "../net/address-guard.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/store.js";
import { DeliveryDispatcher } from "../webhooks/dispatcher.js";

/**
 * How the `peel` operator commands reach the admin operations: by operation name, with the
 * `{ params, query, body }` the route table (src/admin/route-table.ts) declares for it. Two ways:
 * in-process on the database (the default, no server needed), or over a running server's admin API
 * (PEEL_ADMIN_URL + PEEL_ADMIN_TOKEN, e.g. a remote or scaled-out deployment). Both check the input
 * against the same schemas and fail with a PeelError.
 */
export interface AdminClient {
  call<N extends AdminOperation>(name: N, input: AdminInput<N>): Promise<AdminOutput<N>>;
  close(): Promise<void>;
}

type Input = { params?: object; query?: object; body?: object };

/** Over the admin API when PEEL_ADMIN_URL is set (config checks PEEL_ADMIN_TOKEN is too), else in-process. */
export async function openAdminClient(config: Readonly<Config>): Promise<AdminClient> {
  if (config.adminUrl && config.adminToken) return new HttpAdminClient(config.adminUrl, config.adminToken);
  return new DirectAdminClient(await openStore(config.databaseUrl), config);
}

/** One line for the operator, the same in both modes: `404 account_not_found: no account acc_x`. */
export function describeError(e: unknown): string {
  if (e instanceof PeelError) return `${e.def.http} ${e.def.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

const routeOf = (name: AdminOperation) => ADMIN_ROUTES[name] as AdminRoute;

/** A thin HTTP client of the route table: the entry's method and path, the input as path, query and JSON. */
export class HttpAdminClient implements AdminClient {
  constructor(
    private baseUrl: string,
    private token: string,
  ) {}

  async call<N extends AdminOperation>(name: N, input: AdminInput<N>): Promise<AdminOutput<N>> {
    const route = routeOf(name);
    const { params = {}, query = {}, body } = input as Input;
    const takesBody = route.method !== "GET" && route.method !== "DELETE";
    const url = this.baseUrl.replace(/\/+$/, "") + pathOf(route.path, params) + queryOf(query);
    const res = await fetch(url, {
      method: route.method,
      headers: { authorization: `Bearer ${this.token}`, ...(takesBody ? { "content-type": "application/json" } : {}) },
      body: takesBody ? JSON.stringify(body ?? {}) : undefined,
    }).catch((err: Error) => {
      throw new Error(`cannot reach the admin API at ${this.baseUrl} (PEEL_ADMIN_URL): ${String(err.cause ?? err.message)}`);
    });
    const json = (await res.json().catch(() => ({}))) as { data?: unknown; error?: { code?: string; message?: string } };
    if (!res.ok) {
      const code = json.error?.code;
      if (code && code in PEEL_ERRORS) throw new PeelError(code as PeelErrorName, json.error?.message);
      throw new Error(`${res.status}: ${json.error?.message ?? res.statusText}`);
    }
    return json.data as AdminOutput<N>;
  }

  async close(): Promise<void> {}
}

/** `/admin/v1/accounts/:id` + {id} → `/admin/v1/accounts/acc_1`; a `*` takes a path (slashes kept). */
function pathOf(template: string, params: object): string {
  const p = params as Record<string, unknown>;
  return template
    .replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(String(p[k] ?? "")))
    .replace(/\*$/, () =>
      String(p["*"] ?? "")
        .split("/")
        .map(encodeURIComponent)
        .join("/"),
    );
}

function queryOf(query: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Runs the operations in this process, on the configured database. */
export class DirectAdminClient implements AdminClient {
  private readonly ops: AdminOps;

  constructor(
    private store: Store,
    config: Readonly<Config>,
  ) {
    this.ops = new AdminOps({ store, config, sendTestEvent: (input) => sendTestEvent(store, config, input) });
  }

  async call<N extends AdminOperation>(name: N, input: AdminInput<N>): Promise<AdminOutput<N>> {
    const route = routeOf(name);
    const { params = {}, query = {}, body = {} } = input as Input;
    const checked = {
      params: checkPart(route.params, "params", params),
      query: checkPart(route.query, "query", query),
      body: checkPart(route.body, "body", body),
    };
    return (await route.run(this.ops, checked as Parameters<AdminRoute["run"]>[1])) as AdminOutput<N>;
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/** The HTTP API's check of one part (admin/input.ts), after a JSON round trip as over the wire. */
function checkPart(schema: TObject, part: InputPart, value: object): unknown {
  const r = inputChecker(schema, part)(JSON.parse(JSON.stringify(value)));
  if (r.error) throw r.error;
  return r.value;
}

/** A test event from the CLI: a dispatcher of its own for one send, then closed. */
async function sendTestEvent(store: Store, config: Readonly<Config>, input: { url: string; accountId: string }) {
  const d = new DeliveryDispatcher({
    store,
    policy: new AddressPolicy(config.outbound.allow),
    clock: { now: () => Date.now() },
    workerId: newId("wrk"),
    timeoutMs: config.callbacks.timeoutMs,
    concurrency: 1,
    pollMs: 1000,
  });
  try {
    return await d.sendTestEvent(input);
  } finally {
    await d.stop();
  }
}
