import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ContractContext } from "./contract.js";
import { T0, createOk, newOwner } from "./contract-helpers.js";

export function accountContract(ctx: ContractContext): void {
  describe("accounts", () => {
    test("createAccount stores the fields and finds by id and token", async () => {
      const s = ctx.store();
      const a = await s.createAccount({ name: "Acme", maxRunning: 3 }, T0);
      assert.match(a.id, /^acc_[0-9a-z]{20}$/);
      assert.equal(a.name, "Acme");
      assert.equal(a.unmetered, false);
      assert.equal(a.maxRunning, 3);
      assert.equal(a.disabled, false);
      assert.equal(a.createdAt, T0);
      assert.ok(a.token.length >= 16, "token is a long random string");
      assert.deepEqual(await s.getAccount(a.id), a);
      assert.deepEqual(await s.findAccountByToken(a.token), a);
      assert.equal(await s.getAccount("acc_nope"), null);
      assert.equal(await s.findAccountByToken("nope"), null);
    });

    test("defaults: metered, no running cap of its own, zero balance", async () => {
      const s = ctx.store();
      const a = await s.createAccount({ name: "plain" }, T0);
      assert.equal(a.unmetered, false);
      assert.equal(a.maxRunning, null);
      assert.equal(await s.getBalance(a.id), 0);
      assert.deepEqual(await s.listLedger(a.id), []);
    });

    test("tokens differ between accounts; listAccounts returns all", async () => {
      const s = ctx.store();
      const a = await s.createAccount({ name: "a" }, T0);
      const b = await s.createAccount({ name: "b", unmetered: true }, T0 + 1);
      assert.notEqual(a.token, b.token);
      const all = await s.listAccounts();
      assert.deepEqual(all.map((x) => x.id).sort(), [a.id, b.id].sort());
      assert.equal(all.find((x) => x.id === b.id)?.unmetered, true);
    });

    test("updateAccount applies only the fields given; unknown id → null", async () => {
      const s = ctx.store();
      const a = await s.createAccount({ name: "a", maxRunning: 2 }, T0);
      const u1 = await s.updateAccount(a.id, { name: "renamed", disabled: true });
      assert.deepEqual(u1, { ...a, name: "renamed", disabled: true });
      const u2 = await s.updateAccount(a.id, { unmetered: true, maxRunning: null });
      assert.deepEqual(u2, { ...a, name: "renamed", disabled: true, unmetered: true, maxRunning: null });
      assert.deepEqual(await s.updateAccount(a.id, {}), u2);
      assert.equal(await s.updateAccount("acc_nope", { name: "x" }), null);
    });
  });

  describe("API keys", () => {
    test("createApiKey, find by hash with its account, get, list", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      const key = await s.createApiKey(
        { accountId: account.id, name: "ci", hash: "a".repeat(64), prefix: "pk_abc", limits: { hourlyCap: 100 } },
        T0 + 5,
      );
      assert.match(key.id, /^key_/);
      assert.equal(key.accountId, account.id);
      assert.equal(key.name, "ci");
      assert.equal(key.prefix, "pk_abc");
      assert.equal(key.hash, "a".repeat(64));
      assert.deepEqual(key.limits, { hourlyCap: 100 });
      assert.equal(key.createdAt, T0 + 5);
      assert.equal(key.revokedAt, null);
      const found = await s.findApiKeyByHash("a".repeat(64));
      assert.deepEqual(found, { key, account });
      assert.deepEqual(await s.getApiKey(key.id), key);
      assert.equal(await s.findApiKeyByHash("b".repeat(64)), null);
      assert.equal(await s.getApiKey("key_nope"), null);
      const mine = await s.listApiKeys(account.id);
      assert.equal(mine.length, 2); // newOwner's key and this one
      assert.ok(mine.some((k) => k.id === key.id));
      const other = await newOwner(s);
      assert.equal((await s.listApiKeys()).length, 3);
      assert.deepEqual(await s.listApiKeys(other.account.id), [other.key]);
    });

    test("limits default to {} and updateApiKeyLimits replaces them", async () => {
      const s = ctx.store();
      const { key } = await newOwner(s);
      assert.deepEqual(key.limits, {});
      const updated = await s.updateApiKeyLimits(key.id, { createMax: 5, createWindowMs: 1000, dailyCap: null, totalCap: 500 });
      assert.deepEqual(updated?.limits, { createMax: 5, createWindowMs: 1000, dailyCap: null, totalCap: 500 });
      assert.deepEqual((await s.findApiKeyByHash(key.hash))?.key.limits, updated?.limits);
      assert.equal(await s.updateApiKeyLimits("key_nope", {}), null);
    });

    test("a revoked key is not found by hash, and revoking twice is false", async () => {
      const s = ctx.store();
      const { key } = await newOwner(s);
      assert.equal(await s.revokeApiKey(key.id, T0 + 10), true);
      assert.equal(await s.findApiKeyByHash(key.hash), null);
      assert.equal((await s.getApiKey(key.id))?.revokedAt, T0 + 10);
      assert.equal(await s.revokeApiKey(key.id, T0 + 20), false);
      assert.equal((await s.getApiKey(key.id))?.revokedAt, T0 + 10, "first revocation time kept");
      assert.equal(await s.revokeApiKey("key_nope", T0), false);
    });

    test("a key of a disabled account is still returned (callers check)", async () => {
      const s = ctx.store();
      const { account, key } = await newOwner(s);
      await s.updateAccount(account.id, { disabled: true });
      const found = await s.findApiKeyByHash(key.hash);
      assert.equal(found?.account.disabled, true);
    });

    test("key hashes are unique", async () => {
      const s = ctx.store();
      const { account, key } = await newOwner(s);
      await assert.rejects(s.createApiKey({ accountId: account.id, name: "dup", hash: key.hash, prefix: "x" }, T0));
    });
  });

  describe("webhook secrets", () => {
    test("HMAC key: none by default, set, cleared", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      assert.deepEqual(await s.getWebhookSecrets(account.id, T0), { hmacKey: null, signingSecrets: [] });
      await s.setWebhookHmacKey(account.id, "whk_1");
      assert.equal((await s.getWebhookSecrets(account.id, T0)).hmacKey, "whk_1");
      await s.setWebhookHmacKey(account.id, null);
      assert.equal((await s.getWebhookSecrets(account.id, T0)).hmacKey, null);
    });

    test("rotation: the old secret signs until overlapUntil, newest first", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      await s.rotateSigningSecret(account.id, "whsec_one", T0, T0);
      assert.deepEqual((await s.getWebhookSecrets(account.id, T0)).signingSecrets, ["whsec_one"]);
      await s.rotateSigningSecret(account.id, "whsec_two", T0 + 1000, T0 + 10);
      assert.deepEqual((await s.getWebhookSecrets(account.id, T0 + 10)).signingSecrets, ["whsec_two", "whsec_one"]);
      assert.deepEqual((await s.getWebhookSecrets(account.id, T0 + 999)).signingSecrets, ["whsec_two", "whsec_one"]);
      assert.deepEqual((await s.getWebhookSecrets(account.id, T0 + 1000)).signingSecrets, ["whsec_two"]);
    });

    test("rotation with overlapUntil = now retires old secrets at once; other accounts unaffected", async () => {
      const s = ctx.store();
      const a = await newOwner(s);
      const b = await newOwner(s);
      await s.rotateSigningSecret(a.account.id, "whsec_a1", T0, T0);
      await s.rotateSigningSecret(b.account.id, "whsec_b1", T0, T0);
      await s.rotateSigningSecret(a.account.id, "whsec_a2", T0 + 5, T0 + 5);
      assert.deepEqual((await s.getWebhookSecrets(a.account.id, T0 + 5)).signingSecrets, ["whsec_a2"]);
      assert.deepEqual((await s.getWebhookSecrets(b.account.id, T0 + 5)).signingSecrets, ["whsec_b1"]);
    });

    test("a later rotation never extends an earlier overlap", async () => {
      const s = ctx.store();
      const { account } = await newOwner(s);
      await s.rotateSigningSecret(account.id, "s1", T0, T0);
      await s.rotateSigningSecret(account.id, "s2", T0 + 100, T0 + 1);
      await s.rotateSigningSecret(account.id, "s3", T0 + 10_000, T0 + 2);
      assert.deepEqual((await s.getWebhookSecrets(account.id, T0 + 50)).signingSecrets, ["s3", "s2", "s1"]);
      assert.deepEqual((await s.getWebhookSecrets(account.id, T0 + 100)).signingSecrets, ["s3", "s2"]);
    });
  });

  describe("durability and migrations", () => {
    test("migrate() is idempotent", async () => {
      const s = ctx.store();
      await s.migrate();
      await s.migrate();
      await newOwner(s);
    });

    test("data survives close and reopen", async (t) => {
      const fx = ctx.fixture();
      if (!fx.reopen) return t.skip("backend fixture has no reopen");
      const owner = await newOwner(fx.store, { credits: 100 });
      const task = await createOk(fx.store, owner);
      await fx.store.setMaintenance(true);
      const s2 = await fx.reopen();
      assert.deepEqual(await s2.getAccount(owner.account.id), owner.account);
      assert.deepEqual(await s2.getTask(task.id), task);
      assert.equal(await s2.getBalance(owner.account.id), 82);
      assert.equal((await s2.getSwitches()).maintenance, true);
      assert.deepEqual((await s2.findApiKeyByHash(owner.key.hash))?.key, owner.key);
    });
  });
}
