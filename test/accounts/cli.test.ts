import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ADMIN_ROUTES } from "../../src/admin/route-table.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { body, create, credit } from "./helpers.js";

// Issue 6: the `peel` operator commands, run as a real child process — on the database directly
// (the default) next to a running server, and over the admin API (PEEL_ADMIN_URL + PEEL_ADMIN_TOKEN).

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TOKEN = "adm_cli_test_token_0123456789abcdef";

type Run = { code: number; stdout: string; stderr: string };

function peelCli(env: Record<string, string>, ...args: string[]): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PEEL_")));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      { cwd: ROOT, env: { ...base, PEEL_LOG_LEVEL: "silent", ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function ok(r: Run): string {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}
const json = (r: Run) => JSON.parse(ok(r));

/** Retries `check` for up to 4 s: servers pick up database-side changes within their 1 s caches (slack for load). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + 4_000;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`not applied in time: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The same scenario in both modes: `cli` runs one command against `peel`'s database or admin API. */
async function scenario(peel: TestPeel, cli: (...args: string[]) => Promise<Run>) {
  // keys create: the key alone on the last line; a new account with the initial 1000 credits
  const out = ok(await cli("keys", "create", "--name", "cli-user"));
  const lines = out.trim().split("\n");
  const key = lines[lines.length - 1];
  assert.match(key, /^peel_[0-9a-z]{40}$/);
  const accountId = /account: (acc_\w+) \(cli-user\)/.exec(out)?.[1];
  const keyId = /key id: +(key_\w+)/.exec(out)?.[1];
  assert.ok(accountId && keyId, out);
  assert.equal(await credit(peel, key), 1000);
  const created = await create(peel, body(), { key });
  assert.equal(created.json.code, 200);
  const taskId: string = created.json.data.taskId;

  // independent commands run side by side to keep the suite quick
  const [granted, keys, accounts, on, fourK, unknown] = await Promise.all([
    cli("credits", "grant", accountId, "250", "--note", "bonus").then(json),
    cli("keys", "list", "--account", accountId).then(json),
    cli("accounts").then(json),
    cli("maintenance", "on").then(json),
    cli("models", "disable", "feature:4K").then(json),
    cli("models", "disable", "no-such-model"),
  ]);
  assert.equal(granted.balance, 1000 - 18 + 250);
  assert.equal(granted.entry.kind, "grant");
  assert.deepEqual(
    keys.map((k: any) => k.id),
    [keyId],
  );
  assert.ok(
    keys.every((k: any) => k.hash === undefined),
    "no hashes in the listing",
  );
  assert.ok(accounts.some((a: any) => a.id === accountId && a.name === "cli-user"));
  assert.equal(on.maintenance, true);
  assert.ok(fourK.disabledModels.includes("feature:4K"));
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown model or feature/);
  await eventually(async () => (await create(peel, body(), { key })).json.code === 455, "maintenance on");
  assert.equal(await credit(peel, key), 1232, "reads still work");

  const [shown, ledger, off, model, task, renamed] = await Promise.all([
    cli("credits", "show", accountId).then(json),
    cli("credits", "ledger", accountId).then(json),
    cli("maintenance", "off").then(json),
    cli("models", "disable", "nano-banana-pro").then(json),
    cli("tasks", "show", taskId).then(json),
    // any route-table operation by name, flags from its schemas
    cli("admin", "updateAccount", "--id", accountId, "--name", "cli-renamed", "--max-running", "2").then(json),
  ]);
  assert.deepEqual([task.taskId, task.accountId, task.price, task.model], [taskId, accountId, 18, "nano-banana-pro"]);
  assert.deepEqual([renamed.id, renamed.name, renamed.maxRunning], [accountId, "cli-renamed", 2]);
  assert.deepEqual(shown, { balance: 1232, unmetered: false });
  assert.deepEqual(
    ledger.map((e: any) => [e.kind, e.amount, e.note]),
    [
      ["grant", 250, "bonus"],
      ["hold", -18, null],
      ["grant", 1000, "initial credits"],
    ],
  );
  assert.equal(off.maintenance, false);
  assert.deepEqual(model.disabledModels.sort(), ["feature:4K", "nano-banana-pro"]);
  await eventually(async () => (await create(peel, body(), { key })).json.code === 505, "model disabled");

  const enabled = json(await cli("models", "enable", "nano-banana-pro"));
  assert.deepEqual(enabled.disabledModels, ["feature:4K"]);
  await eventually(async () => (await create(peel, body(), { key })).json.code === 200, "model enabled");
  assert.equal((await create(peel, body("x", { resolution: "4K" }), { key })).json.code, 505);

  // keys revoke
  assert.match(ok(await cli("keys", "revoke", keyId)), new RegExp(`revoked ${keyId}`));
  await eventually(async () => (await create(peel, body(), { key })).json.code === 401, "key revoked");
  assert.equal((await cli("keys", "revoke", keyId)).code, 1, "revoking twice is an error");
}

test("peel commands on the database directly, next to a running server", async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "peel-cli-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const peel = await startPeel({ dataDir, background: false });
  t.after(() => peel.close());
  await scenario(peel, (...args) => peelCli({ PEEL_DATA_DIR: dataDir }, ...args));

  // usage errors exit 2 and print the usage
  const usage = await peelCli({ PEEL_DATA_DIR: dataDir }, "credits", "grant");
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: peel/);
  assert.equal((await peelCli({ PEEL_DATA_DIR: dataDir }, "frobnicate")).code, 2);

  // `peel admin` lists every operation of the route table; unknown names and flags are usage errors;
  // input the schemas refuse is an operation error (the same in both modes: admin.table.test.ts)
  const cli = (...args: string[]) => peelCli({ PEEL_DATA_DIR: dataDir }, ...args);
  const [listed, unknownOp, unknownFlag, badLimit, zero] = await Promise.all([
    cli("admin"),
    cli("admin", "frobnicate"),
    cli("admin", "grantCredits", "--id", peel.account.id, "--amount", "5", "--colour", "red"),
    cli("admin", "listLedger", "--id", peel.account.id, "--limit", "abc"),
    cli("admin", "grantCredits", "--id", peel.account.id, "--amount", "0"),
  ]);
  const listing = ok(listed);
  for (const [name, r] of Object.entries(ADMIN_ROUTES))
    assert.ok(new RegExp(`^peel admin ${name}( |$)`, "m").test(listing) && listing.includes(r.path), name);
  assert.equal(badLimit.code, 1);
  assert.match(badLimit.stderr, /peel: 400 invalid_request: query\.limit: Expected integer/);
  assert.equal(zero.code, 1);
  assert.match(zero.stderr, /peel: 400 invalid_amount: /);
  assert.equal(unknownOp.code, 2);
  assert.match(unknownOp.stderr, /unknown admin operation "frobnicate"/);
  assert.equal(unknownFlag.code, 2);
  assert.match(unknownFlag.stderr, /grantCredits has no field --colour/);
  assert.equal(await credit(peel), 1000, "nothing was granted");
});

test("peel commands over the admin API (PEEL_ADMIN_URL + PEEL_ADMIN_TOKEN)", async (t) => {
  const peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: TOKEN }, background: false });
  t.after(() => peel.close());
  // a different, empty data dir proves the commands do not touch a local database
  const elsewhere = mkdtempSync(path.join(os.tmpdir(), "peel-cli-remote-"));
  t.after(() => rmSync(elsewhere, { recursive: true, force: true }));
  const env = { PEEL_ADMIN_URL: peel.url, PEEL_ADMIN_TOKEN: TOKEN, PEEL_DATA_DIR: elsewhere };
  await scenario(peel, (...args) => peelCli(env, ...args));

  // a wrong token is refused by the server
  const denied = await peelCli({ ...env, PEEL_ADMIN_TOKEN: "wrong" }, "accounts");
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /401/);
  // an API key is not an admin token
  const withKey = await peelCli({ ...env, PEEL_ADMIN_TOKEN: peel.key }, "credits", "grant", peel.account.id, "1000");
  assert.equal(withKey.code, 1);
  assert.equal(await credit(peel), 1000);
});
