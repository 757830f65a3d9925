import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { callEndpoint, KIE_ENDPOINTS, unauthorizedBody, type KieEndpoint } from "./kie-endpoints.js";

/**
 * Authentication (docs/kie-contract.md §1, §3: 401 in the endpoint's own envelope, HTTP 200). The shared
 * cases are generated for every kie endpoint in KIE_ENDPOINTS.
 */

let peel: TestPeel;
let revokedKey: string;
let disabledKey: string;
before(async () => {
  peel = await startPeel({ background: false, env: { PEEL_CREATE_LIMIT: "0", PEEL_READ_LIMIT: "0" } });
  const r = await peel.newKey();
  await peel.admin.revokeKey(r.keyId);
  revokedKey = r.key;
  const d = await peel.newKey();
  await peel.runtime.store.updateAccount(d.account.id, { disabled: true });
  disabledKey = d.key;
  peel.runtime.ctx.auth.forget();
});
after(() => peel.close());

/** What a correctly authenticated call of each endpoint answers (its body code), to tell it apart from a 401. */
const AUTHED_CODE: Record<string, number> = {
  createTask: 200,
  "playground createTask": 200,
  recordInfo: 422, // unknown id
  "playground recordInfo": 422,
  "chat/credit": 200,
  "download-url": 422, // external URL
  cancel: 422, // unknown id
  "playground cancel": 422,
  "file-base64-upload": 200,
  "file-stream-upload": 200,
  "file-url-upload": 400, // nothing listens on port 9
};

const BAD_AUTH: Array<[string, () => string | null]> = [
  ["no Authorization header", () => null],
  ["empty Authorization header", () => ""],
  ["empty bearer", () => "Bearer "],
  ["Bearer with only spaces", () => "Bearer    "],
  ["wrong scheme (Basic)", () => `Basic ${Buffer.from(`user:${peel.key}`).toString("base64")}`],
  ["wrong scheme (Token)", () => `Token ${peel.key}`],
  ["the key without a scheme", () => peel.key],
  ["two tokens", () => `Bearer ${peel.key} ${peel.key}`],
  ["unknown key", () => "Bearer peel_0000000000000000000000000000000000000000"],
  ["the key with one character changed", () => `Bearer ${peel.key.slice(0, -1)}${peel.key.endsWith("a") ? "b" : "a"}`],
  ["the key's prefix only", () => `Bearer ${peel.key.slice(0, 11)}`],
  ["a very long token", () => `Bearer ${"x".repeat(10_000)}`],
  ["revoked key", () => `Bearer ${revokedKey}`],
  ["key of a disabled account", () => `Bearer ${disabledKey}`],
];

function assertUnauthorized(ep: KieEndpoint, res: Awaited<ReturnType<typeof callEndpoint>>): void {
  assert.equal(res.status, 200, `${ep.name}: HTTP status`);
  assert.deepEqual(res.json, unauthorizedBody(ep.envelope), `${ep.name}: body`);
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  assert.ok(res.headers.get("x-request-id"));
}

for (const ep of KIE_ENDPOINTS) {
  describe(`${ep.method} ${ep.path.split("?")[0]} (${ep.name})`, () => {
    for (const [what, header] of BAD_AUTH) {
      test(`${what} → 401`, async () => assertUnauthorized(ep, await callEndpoint(peel.url, ep, header())));
    }

    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
      test(`"${scheme}" is accepted`, async () => {
        const res = await callEndpoint(peel.url, ep, `${scheme} ${peel.key}`);
        assert.equal(res.json?.code, AUTHED_CODE[ep.name], `${ep.name}: ${res.text}`);
        if (ep.envelope === "upload") assert.equal(res.json.success, res.json.code === 200);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
        assert.match(res.headers.get("x-request-id") ?? "", /\S/);
      });
    }
  });
}

describe("authentication comes first (§4.2 step 1)", () => {
  test("an unauthenticated createTask with a bad body is a 401, not a 422", async () => {
    const ep = KIE_ENDPOINTS.find((e) => e.name === "createTask")!;
    const res = await fetch(peel.url + ep.path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "[not json",
    });
    assert.deepEqual(await res.json(), unauthorizedBody("kie"));
  });

  test("an unauthenticated createTask over 1 MiB is a 401 (the body is never read)", async () => {
    const res = await fetch(peel.url + "/api/v1/jobs/createTask", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(2 * 1024 * 1024),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), unauthorizedBody("kie"));
  });

  test("an unauthenticated createTask during maintenance is a 401, not a 455", async () => {
    await peel.admin.setMaintenance(true);
    try {
      peel.runtime.ctx.switches.invalidate();
      const body = { model: "nano-banana-pro", input: { prompt: "p" } };
      const res = await peel.api("POST", "/api/v1/jobs/createTask", body, { key: null });
      assert.deepEqual(res.json, unauthorizedBody("kie"));
      // control: the authenticated caller does get the maintenance answer
      const ok = await peel.api("POST", "/api/v1/jobs/createTask", body);
      assert.deepEqual(ok.json, { code: 455, msg: "Service is under maintenance, please try again later", data: null });
    } finally {
      await peel.admin.setMaintenance(false);
      peel.runtime.ctx.switches.invalidate();
    }
  });

  test("nothing is stored for a refused caller", async () => {
    const counts = await peel.runtime.store.countTasks();
    const n = Object.values(counts).reduce((a, b) => a + b, 0);
    await peel.api("POST", "/api/v1/jobs/createTask", { model: "nano-banana-pro", input: { prompt: "p" } }, { key: "peel_nope" });
    const after = Object.values(await peel.runtime.store.countTasks()).reduce((a, b) => a + b, 0);
    assert.equal(after, n);
  });
});

describe("revocation and disabling take effect", () => {
  test("a revoked key stops working within the 1 s auth cache TTL, without forget()", async () => {
    const k = await peel.newKey();
    const credit = () => peel.api("GET", "/api/v1/chat/credit", undefined, { key: k.key });
    assert.equal((await credit()).json.code, 200); // now cached
    await peel.admin.revokeKey(k.keyId);
    await new Promise((r) => setTimeout(r, 1_100));
    assert.deepEqual((await credit()).json, unauthorizedBody("kie"));
  });

  test("disabling an account refuses all its keys; re-enabling restores them", async () => {
    const k = await peel.newKey();
    const k2 = await peel.newKey({ accountId: k.account.id });
    await peel.runtime.store.updateAccount(k.account.id, { disabled: true });
    peel.runtime.ctx.auth.forget();
    for (const key of [k.key, k2.key]) {
      assert.deepEqual((await peel.api("GET", "/api/v1/chat/credit", undefined, { key })).json, unauthorizedBody("kie"));
    }
    await peel.runtime.store.updateAccount(k.account.id, { disabled: false });
    peel.runtime.ctx.auth.forget();
    assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: k.key })).json.code, 200);
  });

  test("revoking one key leaves the account's other keys working", async () => {
    const a = await peel.newKey();
    const b = await peel.newKey({ accountId: a.account.id });
    await peel.admin.revokeKey(a.keyId);
    peel.runtime.ctx.auth.forget();
    assert.deepEqual((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: a.key })).json, unauthorizedBody("kie"));
    assert.equal((await peel.api("GET", "/api/v1/chat/credit", undefined, { key: b.key })).json.code, 200);
  });
});

describe("keys are stored hashed", () => {
  test("api_keys holds sha256 hex hashes, never a plaintext key", async () => {
    const k = await peel.newKey();
    const plain = [peel.key, revokedKey, disabledKey, k.key];
    const rows = await peel.runtime.store.listApiKeys();
    assert.ok(rows.length >= plain.length);
    for (const row of rows) {
      assert.match(row.hash, /^[0-9a-f]{64}$/);
      assert.ok(!plain.includes(row.hash));
      for (const p of plain) {
        assert.ok(!Object.values(row).some((v) => typeof v === "string" && v === p), "a stored field equals a key");
        // the display prefix is only a prefix
        assert.ok(row.prefix.length < p.length);
      }
    }
    const hashes = new Set(rows.map((r) => r.hash));
    for (const p of plain) assert.ok(hashes.has(createHash("sha256").update(p).digest("hex")), "sha256 of the key is stored");
  });

  test("no database file contains a plaintext key", async () => {
    const k = await peel.newKey();
    // use the key so that any cache or log path would have seen it
    await peel.api("GET", "/api/v1/chat/credit", undefined, { key: k.key });
    const plain = [peel.key, revokedKey, disabledKey, k.key];
    const dbFiles = readdirSync(peel.dataDir).filter((f) => f.startsWith("peel.db"));
    assert.ok(dbFiles.length > 0, "found the SQLite files");
    for (const f of dbFiles) {
      const bytes = readFileSync(path.join(peel.dataDir, f));
      for (const p of plain) {
        assert.equal(bytes.indexOf(p), -1, `${f} contains a plaintext key`);
        // the secret part (after the display prefix) does not appear either
        assert.equal(bytes.indexOf(p.slice(12)), -1, `${f} contains the secret part of a key`);
      }
    }
  });
});
