import { type Static, type TObject, type TSchema, Type } from "@sinclair/typebox";
import type { DeliveryState } from "../domain/types.js";
import type { AdminOps } from "./operations.js";

/**
 * The admin API, declared once. Each entry is one operator operation: its HTTP method and path
 * under /admin/v1, TypeBox schemas for its path params, query and body, and the AdminOps call it
 * makes. From this table:
 * - src/http/routes/admin.ts serves every entry (schemas validated, OpenAPI at /docs);
 * - the `peel` CLI calls an entry by name (src/cli/admin-client.ts): in-process on the database,
 *   or as a thin HTTP client of the same entry when PEEL_ADMIN_URL is set;
 * - `peel admin <name> --field value ...` reaches any entry without a dedicated command.
 * Adding an operation is adding one entry here (docs/admin.md, "Adding an operation").
 */

export type AdminMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface AdminRoute<P extends TObject = TObject, Q extends TObject = TObject, B extends TObject = TObject, R = unknown> {
  method: AdminMethod;
  /** Fastify syntax: `:name` params, a trailing `*` for a rest-of-path param. */
  path: string;
  /** one line for /docs and `peel admin`. */
  summary: string;
  /** 201 for creations. */
  status: 200 | 201;
  params: P;
  query: Q;
  /** {} for routes that take no body (GET and DELETE never do). */
  body: B;
  run(ops: AdminOps, input: { params: Static<P>; query: Static<Q>; body: Static<B> }): Promise<R>;
}

const strict = { additionalProperties: false } as const;
const None = Type.Object({}, strict);
type None = typeof None;

/** Fills the defaults: no params, no query, no body, status 200. */
function route<P extends TObject = None, Q extends TObject = None, B extends TObject = None, R = unknown>(r: {
  method: AdminMethod;
  path: string;
  summary: string;
  status?: 200 | 201;
  params?: P;
  query?: Q;
  body?: B;
  run: AdminRoute<P, Q, B, R>["run"];
}): AdminRoute<P, Q, B, R> {
  if (r.body && (r.method === "GET" || r.method === "DELETE")) throw new Error(`${r.method} ${r.path} cannot take a body`);
  return {
    ...r,
    status: r.status ?? 200,
    params: r.params ?? (None as TObject as P),
    query: r.query ?? (None as TObject as Q),
    body: r.body ?? (None as TObject as B),
  };
}

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Id = Type.Object({ id: Type.String({ minLength: 1 }) }, strict);
const Text = Type.String({ minLength: 1 });

/** Every DeliveryState, checked at compile time so a new state cannot be left unfilterable. */
const DELIVERY_STATES = ["pending", "delivered", "failed", "stopped", "skipped"] as const;
const _allDeliveryStates: [Exclude<DeliveryState, (typeof DELIVERY_STATES)[number]>] extends [never] ? true : never = true;

const Limit = (max: number, def: number) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum: max, description: `most entries returned (default ${def})` }));
const Time = Type.Union([Type.Integer({ minimum: 0 }), Text], { description: "ms since the epoch, or an ISO 8601 date" });
const Credits = (description: string) => Nullable(Type.Number({ minimum: 0, description }));

const KeyLimits = Type.Object(
  {
    createMax: Type.Optional(Credits("createTask calls per window; 0 = unlimited, null = default")),
    createWindowMs: Type.Optional(Credits("createTask window, ms")),
    readMax: Type.Optional(Credits("recordInfo calls per window; 0 = unlimited, null = default")),
    readWindowMs: Type.Optional(Credits("recordInfo window, ms")),
    hourlyCap: Type.Optional(Credits("credits per rolling hour; null = off")),
    dailyCap: Type.Optional(Credits("credits per rolling day; null = off")),
    totalCap: Type.Optional(Credits("credits in total; null = off")),
  },
  strict,
);
const MaxRunning = Type.Optional(Nullable(Type.Integer({ minimum: 0, description: "tasks generating at once; null = default" })));

export const ADMIN_ROUTES = {
  // accounts
  listAccounts: route({
    method: "GET",
    path: "/admin/v1/accounts",
    summary: "List accounts",
    run: (ops) => ops.listAccounts(),
  }),
  createAccount: route({
    method: "POST",
    path: "/admin/v1/accounts",
    summary: "Create an account",
    status: 201,
    body: Type.Object(
      {
        name: Text,
        credits: Type.Optional(Type.Number({ minimum: 0, description: "initial credits (default 0)" })),
        unmetered: Type.Optional(Type.Boolean()),
        maxRunning: MaxRunning,
      },
      strict,
    ),
    run: (ops, { body }) => ops.createAccount(body),
  }),
  showAccount: route({
    method: "GET",
    path: "/admin/v1/accounts/:id",
    summary: "An account with its balance",
    params: Id,
    run: async (ops, { params }) => ({ ...(await ops.account(params.id)), ...(await ops.balance(params.id)) }),
  }),
  updateAccount: route({
    method: "PATCH",
    path: "/admin/v1/accounts/:id",
    summary: "Rename, (un)meter, cap or disable an account (a disabled account's keys stop working at once)",
    params: Id,
    body: Type.Object(
      {
        name: Type.Optional(Text),
        unmetered: Type.Optional(Type.Boolean()),
        maxRunning: MaxRunning,
        disabled: Type.Optional(Type.Boolean()),
      },
      strict,
    ),
    run: (ops, { params, body }) => ops.updateAccount(params.id, body),
  }),
  showCredits: route({
    method: "GET",
    path: "/admin/v1/accounts/:id/credits",
    summary: "An account's available balance",
    params: Id,
    run: (ops, { params }) => ops.balance(params.id),
  }),
  grantCredits: route({
    method: "POST",
    path: "/admin/v1/accounts/:id/credits",
    summary: "Grant credits (a negative amount debits)",
    params: Id,
    body: Type.Object({ amount: Type.Number({ description: "non-zero" }), note: Type.Optional(Nullable(Type.String())) }, strict),
    run: (ops, { params, body }) => ops.grant(params.id, body.amount, body.note ?? null),
  }),
  listLedger: route({
    method: "GET",
    path: "/admin/v1/accounts/:id/ledger",
    summary: "An account's ledger, newest first",
    params: Id,
    query: Type.Object({ limit: Limit(10_000, 100), taskId: Type.Optional(Text) }, strict),
    run: (ops, { params, query }) => ops.ledger(params.id, query),
  }),
  rotateWebhookSecret: route({
    method: "POST",
    path: "/admin/v1/accounts/:id/webhook-secret",
    summary: "Rotate the Standard Webhooks signing secret; the old ones keep signing during the overlap",
    params: Id,
    body: Type.Object({ overlapHours: Type.Optional(Type.Number({ minimum: 0, description: "default 24" })) }, strict),
    run: async (ops, { params, body }) => ({
      secret: await ops.rotateSigningSecret(params.id, (body.overlapHours ?? 24) * 3_600_000),
    }),
  }),
  setWebhookHmacKey: route({
    method: "PUT",
    path: "/admin/v1/accounts/:id/webhook-hmac-key",
    summary: "Set the kie-scheme callback HMAC key: the one given, a generated one (absent) or none (null)",
    params: Id,
    body: Type.Object({ hmacKey: Type.Optional(Nullable(Text)) }, strict),
    run: async (ops, { params, body }) => ({ hmacKey: await ops.setHmacKey(params.id, body.hmacKey) }),
  }),

  setCallbackPolicy: route({
    method: "PUT",
    path: "/admin/v1/accounts/:id/callback-policy",
    summary: "Set an account's own callback destination rules, checked before the operator's; two empty lists clear them",
    params: Id,
    body: Type.Object(
      {
        allow: Type.Optional(Nullable(Type.Array(Type.String(), { description: "host names, *.suffix patterns, IPs, CIDRs" }))),
        deny: Type.Optional(Nullable(Type.Array(Type.String(), { description: "host names, *.suffix patterns, IPs, CIDRs" }))),
      },
      strict,
    ),
    run: (ops, { params, body }) => ops.setCallbackPolicy(params.id, body),
  }),

  // API keys
  listKeys: route({
    method: "GET",
    path: "/admin/v1/keys",
    summary: "List API keys (never their secret part)",
    query: Type.Object({ accountId: Type.Optional(Text) }, strict),
    run: (ops, { query }) => ops.listKeys(query.accountId),
  }),
  createKey: route({
    method: "POST",
    path: "/admin/v1/keys",
    summary: "Create an API key (in a new account when accountId is absent); the key is shown once",
    status: 201,
    body: Type.Object({ name: Text, accountId: Type.Optional(Text), limits: Type.Optional(KeyLimits) }, strict),
    run: (ops, { body }) => ops.createKey(body),
  }),
  setKeyLimits: route({
    method: "PATCH",
    path: "/admin/v1/keys/:id",
    summary: "Replace a key's rate limits and usage caps",
    params: Id,
    body: Type.Object({ limits: KeyLimits }, strict),
    run: (ops, { params, body }) => ops.setKeyLimits(params.id, body.limits),
  }),
  revokeKey: route({
    method: "DELETE",
    path: "/admin/v1/keys/:id",
    summary: "Revoke an API key (at once)",
    params: Id,
    run: async (ops, { params }) => {
      await ops.revokeKey(params.id);
      return { revoked: true };
    },
  }),

  // switches
  showSwitches: route({
    method: "GET",
    path: "/admin/v1/switches",
    summary: "Maintenance mode and disabled models/features",
    run: (ops) => ops.switches(),
  }),
  setMaintenance: route({
    method: "PUT",
    path: "/admin/v1/maintenance",
    summary: "Maintenance mode on or off (new tasks answer 455; reads keep working)",
    body: Type.Object({ on: Type.Boolean() }, strict),
    run: (ops, { body }) => ops.setMaintenance(body.on),
  }),
  setModelEnabled: route({
    method: "PUT",
    path: "/admin/v1/models/*",
    summary: "Enable or disable a model id or a feature (feature:4K, feature:image_input, feature:uploads)",
    params: Type.Object({ "*": Type.String({ minLength: 1, description: "model id or feature" }) }, strict),
    body: Type.Object({ enabled: Type.Boolean() }, strict),
    run: (ops, { params, body }) => ops.setModelEnabled(params["*"], body.enabled),
  }),

  // tasks
  showTask: route({
    method: "GET",
    path: "/admin/v1/tasks/:id",
    summary: "A task of any account, with its owner, attempts and price",
    params: Id,
    run: (ops, { params }) => ops.task(params.id),
  }),

  // callback deliveries
  listDeliveries: route({
    method: "GET",
    path: "/admin/v1/deliveries",
    summary: "List callback deliveries, newest first",
    query: Type.Object(
      {
        accountId: Type.Optional(Text),
        taskId: Type.Optional(Text),
        state: Type.Optional(Type.Union(DELIVERY_STATES.map((s) => Type.Literal(s)))),
        since: Type.Optional(Type.String({ minLength: 1, description: "ms since the epoch, or an ISO 8601 date" })),
        limit: Limit(1_000, 100),
      },
      strict,
    ),
    run: (ops, { query }) => ops.listDeliveries(query),
  }),
  showDelivery: route({
    method: "GET",
    path: "/admin/v1/deliveries/:id",
    summary: "A delivery with every attempt",
    params: Id,
    run: (ops, { params }) => ops.delivery(params.id),
  }),
  replayDelivery: route({
    method: "POST",
    path: "/admin/v1/deliveries/:id/replay",
    summary: "Send a delivery again (same body and webhook-id)",
    params: Id,
    run: (ops, { params }) => ops.replayDelivery(params.id),
  }),
  replayFailedDeliveries: route({
    method: "POST",
    path: "/admin/v1/deliveries/replay-failed",
    summary: "Send again every failed or stopped delivery created since a time",
    body: Type.Object({ since: Time, accountId: Type.Optional(Text) }, strict),
    run: (ops, { body }) => ops.replayFailedDeliveries(body),
  }),
  sendTestEvent: route({
    method: "POST",
    path: "/admin/v1/webhooks/test",
    summary: "POST a signed peel.test event to a URL with an account's secrets (not stored, not retried)",
    body: Type.Object({ url: Text, accountId: Text }, strict),
    run: (ops, { body }) => ops.sendTestEvent(body),
  }),
};

export type AdminRoutes = typeof ADMIN_ROUTES;
export type AdminOperation = keyof AdminRoutes;

/** Parts a caller may leave out are those whose fields are all optional. */
type Part<K extends string, T> = Partial<T> extends T ? { [k in K]?: T } : { [k in K]: T };

/** What calling operation `N` takes: `{ params, query, body }` as its schemas say. */
export type AdminInput<N extends AdminOperation> =
  AdminRoutes[N] extends AdminRoute<infer P, infer Q, infer B, unknown>
    ? Part<"params", Static<P>> & Part<"query", Static<Q>> & Part<"body", Static<B>>
    : never;

/** What operation `N` answers with (the `data` of its HTTP response). */
export type AdminOutput<N extends AdminOperation> = Awaited<ReturnType<AdminRoutes[N]["run"]>>;
