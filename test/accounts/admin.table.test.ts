import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_ROUTES, type AdminRoute } from "../../src/admin/route-table.js";
import { type AdminClient, DirectAdminClient, HttpAdminClient } from "../../src/cli/admin-client.js";
import { PeelError } from "../../src/errors.js";
import { openStore } from "../../src/store/open-store.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";

/**
 * Issue 14: the admin API is one route table (src/admin/route-table.ts). Every entry is served
 * with its schemas checked (a client mistake is a 400 in peel's envelope, never a 500), and the CLI's
 * two modes — in-process and over HTTP — are the same operations with the same answers.
 */

const TOKEN = "adm_table_test_token_0123456789abcdef";
const ROUTES = Object.entries(ADMIN_ROUTES) as [string, AdminRoute][];

let peel: TestPeel;
let direct: AdminClient;
let http: AdminClient;
before(async () => {
  peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  direct = new DirectAdminClient(await openStore(peel.config.databaseUrl), peel.config);
  http = new HttpAdminClient(peel.url, TOKEN);
});
after(async () => {
  await direct.close();
  await peel.close();
});

async function admin(method: string, path: string, body?: string) {
  const res = await fetch(peel.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body,
  });
  return { status: res.status, json: (await res.json()) as any };
}

/** The route's path with every param filled in. */
const concrete = (r: AdminRoute) => r.path.replace(/:\w+/g, "acc_x").replace(/\*$/, "nano-banana-pro");
const takesBody = (r: AdminRoute) => r.method !== "GET" && r.method !== "DELETE";

function assertInvalid(res: { status: number; json: any }, what: string, message?: RegExp) {
  assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.json)}`);
  assert.equal(res.json.error.code, "invalid_request", what);
  assert.match(res.json.error.requestId, /^req_/, what);
  if (message) assert.match(res.json.error.message, message, what);
}

describe("the route table is the admin API", () => {
  test("OpenAPI lists exactly the table's routes, each with its schemas", () => {
    const doc = peel.app.swagger() as { paths: Record<string, Record<string, any>> };
    const served = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith("/admin/"))
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    const declared = ROUTES.map(([, r]) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}").replace(/\*$/, "{*}")}`).sort();
    assert.deepEqual(served, declared);
    const ledger = doc.paths["/admin/v1/accounts/{id}/ledger"].get;
    assert.deepEqual(ledger.parameters.map((p: any) => `${p.in}:${p.name}`).sort(), ["path:id", "query:limit", "query:taskId"]);
  });

  test("every route refuses an unknown query parameter with 400, before it runs", async () => {
    for (const [name, r] of ROUTES) {
      const res = await admin(r.method, `${concrete(r)}?bogus=1`, takesBody(r) ? "{}" : undefined);
      // Fastify checks params, then the body, then the query: an empty body may be refused first.
      assertInvalid(res, name, /^(query\.bogus: Unexpected property|body\..*: Expected required property)$/);
    }
  });

  test("every route that takes a body refuses text that is not JSON, a JSON array and an unknown field", async () => {
    for (const [name, r] of ROUTES.filter(([, r]) => takesBody(r))) {
      assertInvalid(await admin(r.method, concrete(r), "{not json"), `${name} text`, /^body: not valid JSON$/);
      assertInvalid(await admin(r.method, concrete(r), "[1]"), `${name} array`, /^body: Expected object$/);
      assertInvalid(await admin(r.method, concrete(r), '{"bogus":1}'), `${name} field`, /^body\./);
    }
  });

  test("wrong types and out-of-range values name the field", async () => {
    const id = peel.account.id;
    assertInvalid(
      await admin("GET", `/admin/v1/accounts/${id}/ledger?limit=abc`),
      "limit=abc",
      /^query\.limit: Expected integer$/,
    );
    assertInvalid(
      await admin("GET", `/admin/v1/accounts/${id}/ledger?limit=0`),
      "limit=0",
      /^query\.limit: .*greater or equal to 1/,
    );
    assertInvalid(await admin("GET", "/admin/v1/deliveries?state=lost"), "state", /^query\.state: Expected one of "pending", /);
    assertInvalid(
      await admin("POST", `/admin/v1/accounts/${id}/credits`, '{"amount":"5"}'),
      "amount",
      /^body\.amount: Expected number$/,
    );
    assertInvalid(await admin("POST", `/admin/v1/accounts/${id}/credits`, "{}"), "no amount", /^body\.amount: Expected required/);
    assertInvalid(
      await admin("PATCH", `/admin/v1/keys/${id}`, '{"limits":{"createMax":-1}}'),
      "limits",
      /^body\.limits\.createMax: Expected number to be greater or equal to 0$/,
    );
    assertInvalid(await admin("PUT", "/admin/v1/maintenance", '{"on":"yes"}'), "on", /^body\.on: Expected boolean$/);
    assertInvalid(await admin("POST", "/admin/v1/accounts", '{"name":""}'), "empty name", /^body\.name: /);
    // nothing was changed by any refused call
    assert.equal((await admin("GET", `/admin/v1/accounts/${id}/credits`)).json.data.balance, 1000);
    assert.equal((await admin("GET", "/admin/v1/switches")).json.data.maintenance, false);
  });

  test("a well-formed request for something missing is a 404 with the registry's code", async () => {
    assert.equal((await admin("GET", "/admin/v1/accounts/acc_missing/ledger?limit=5")).json.error.code, "account_not_found");
    assert.equal((await admin("GET", "/admin/v1/tasks/0123")).json.error.code, "task_not_found");
    assert.equal((await admin("DELETE", "/admin/v1/keys/key_missing")).json.error.code, "key_not_found");
    assert.equal((await admin("POST", "/admin/v1/deliveries/dlv_missing/replay")).json.error.code, "delivery_not_found");
    const nowhere = await admin("GET", "/admin/v1/nowhere");
    assert.deepEqual([nowhere.status, nowhere.json.error.code], [404, "route_not_found"]);
  });
});

describe("the CLI's two modes are the same operations", () => {
  /** The same call in both modes: the PeelError (code and message) or the answer. */
  async function both(call: (c: AdminClient) => Promise<unknown>): Promise<[unknown, unknown]> {
    const outcome = (c: AdminClient) =>
      call(c).then(
        (v) => ({ ok: v }),
        (e) => {
          assert.ok(e instanceof PeelError, `a PeelError, got ${e}`);
          return { error: `${e.def.http} ${e.def.code}: ${e.message}` };
        },
      );
    return [await outcome(direct), await outcome(http)];
  }

  test("invalid input is refused identically, before anything runs", async () => {
    const id = peel.account.id;
    const cases: ((c: AdminClient) => Promise<unknown>)[] = [
      (c) => c.call("listLedger", { params: { id }, query: { limit: Number.NaN } }),
      (c) => c.call("grantCredits", { params: { id }, body: { amount: "5" as unknown as number } }),
      (c) => c.call("grantCredits", { params: { id }, body: { amount: 0 } }),
      (c) => c.call("setKeyLimits", { params: { id: "key_x" }, body: { limits: { createMax: -1 } } }),
      (c) => c.call("createKey", { body: { name: "k", limits: { bogus: 1 } as object } }),
      (c) => c.call("listDeliveries", { query: { since: "not a time" } }),
      (c) => c.call("setModelEnabled", { params: { "*": "no-such-model" }, body: { enabled: false } }),
      (c) => c.call("showAccount", { params: { id: "acc_missing" } }),
    ];
    for (const [i, call] of cases.entries()) {
      const [d, h] = await both(call);
      assert.ok("error" in (d as object), `case ${i} fails: ${JSON.stringify(d)}`);
      assert.deepEqual(d, h, `case ${i}`);
    }
  });

  test("an account made in either mode reads the same through the other", async () => {
    const a = await direct.call("createAccount", { body: { name: "direct", credits: 25, maxRunning: 2 } });
    const b = await http.call("createAccount", { body: { name: "direct", credits: 25, maxRunning: 2 } });
    const strip = ({ id: _i, token: _t, createdAt: _c, ...rest }: Record<string, unknown>) => rest;
    assert.deepEqual(
      strip(await http.call("showAccount", { params: { id: a.id } })),
      strip(await direct.call("showAccount", { params: { id: b.id } })),
    );
    const [dg, hg] = await both((c) => c.call("grantCredits", { params: { id: a.id }, body: { amount: 5, note: "both" } }));
    assert.equal((dg as any).ok.balance, 30);
    assert.equal((hg as any).ok.balance, 35);
    assert.equal((await http.call("showCredits", { params: { id: a.id } })).balance, 35);
    const ledger = await direct.call("listLedger", { params: { id: a.id }, query: { limit: 10 } });
    assert.deepEqual(
      ledger.map((e) => [e.kind, e.amount, e.note]),
      [
        ["grant", 5, "both"],
        ["grant", 5, "both"],
        ["grant", 25, "initial credits"],
      ],
    );
  });

  test("one secret format: generated webhook keys look the same in both modes", async () => {
    const id = peel.account.id;
    for (const c of [direct, http]) {
      const { hmacKey } = await c.call("setWebhookHmacKey", { params: { id } });
      assert.match(hmacKey ?? "", /^whk_[A-Za-z0-9_-]{43}$/);
      const { secret } = await c.call("rotateWebhookSecret", { params: { id }, body: { overlapHours: 0 } });
      assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    }
    assert.equal((await http.call("setWebhookHmacKey", { params: { id }, body: { hmacKey: null } })).hmacKey, null);
  });
});
