#!/usr/bin/env node
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { DirectAdminClient, HttpAdminClient, type AdminClient } from "./cli/admin-client.js";
import { openStore } from "./store/open-store.js";

/**
 * The `peel` command. `serve` runs API and worker; the operator commands work on the database
 * directly, or over the admin API when PEEL_ADMIN_URL (and PEEL_ADMIN_TOKEN) are set.
 */
const USAGE = `usage: peel <command>

  serve                                   run the API and the worker (PEEL_ROLE=api|worker to split)
  generate PROMPT [--out FILE] [...]      make one image on a running server (peel generate --help)
  migrate                                 apply database migrations

  keys create --name NAME [--account ID] [--limits JSON]
                                          create an API key (a new account when --account is absent);
                                          the key is printed alone on the last line
  keys list [--account ID]
  keys revoke ID
  keys limits ID --limits JSON            e.g. '{"createMax":0,"dailyCap":500}'

  accounts list
  accounts create --name NAME [--credits N] [--unmetered] [--max-running N]
  accounts show ID
  accounts callback-policy ID [--allow LIST] [--deny LIST] [--clear]
                                          the account's own callback destination rules (comma lists of
                                          hosts, *.suffix, CIDRs; checked before PEEL_CALLBACK_ALLOW/DENY);
                                          without options, shows them

  credits grant ACCOUNT AMOUNT [--note TEXT]
  credits show ACCOUNT
  credits ledger ACCOUNT [--limit N]

  maintenance on|off
  models list
  models enable|disable MODEL             a model id, or feature:4K, feature:image_input, feature:uploads

  webhooks rotate-secret ACCOUNT [--overlap-hours H]
  webhooks hmac-key ACCOUNT [--key KEY | --clear]
  deliveries list [--task ID] [--account ID] [--state pending|delivered|failed|stopped|skipped] [--since TIME]
  deliveries show ID
  deliveries replay ID
  deliveries replay-failed --since TIME [--account ID]
  deliveries test --url URL --account ID

Configuration comes from the environment (see README). Exit code 2 on a usage or config error.`;

function fail(msg: string, code = 2): never {
  console.error(msg);
  process.exit(code);
}

function config(): Readonly<Config> {
  try {
    return loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) fail(`peel: ${e.message}`);
    throw e;
  }
}

async function adminClient(cfg: Readonly<Config>): Promise<AdminClient> {
  const url = process.env.PEEL_ADMIN_URL;
  if (url) {
    if (!cfg.adminToken) fail("peel: PEEL_ADMIN_URL needs PEEL_ADMIN_TOKEN");
    return new HttpAdminClient(url, cfg.adminToken);
  }
  return new DirectAdminClient(await openStore(cfg.databaseUrl), cfg);
}

function parseTime(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) fail(`peel: bad time ${v} (ms since the epoch or ISO 8601)`);
  return n;
}

function json(v: string | undefined): unknown {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    fail(`peel: not valid JSON: ${v}`);
  }
}

const print = (v: unknown) => console.log(JSON.stringify(v, null, 2));

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "generate") return (await import("./cli/generate.js")).runGenerate(argv.slice(1));
  const { values: o, positionals: pos } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      account: { type: "string" },
      limits: { type: "string" },
      credits: { type: "string" },
      unmetered: { type: "boolean" },
      "max-running": { type: "string" },
      note: { type: "string" },
      limit: { type: "string" },
      task: { type: "string" },
      state: { type: "string" },
      since: { type: "string" },
      url: { type: "string" },
      key: { type: "string" },
      clear: { type: "boolean" },
      allow: { type: "string" },
      deny: { type: "string" },
      "overlap-hours": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [cmd, sub, arg1, arg2] = pos;
  if (!cmd || o.help) {
    console.log(USAGE);
    return;
  }
  if (cmd === "serve") {
    // Loaded only here: the server's imports (HTTP, engines, S3) would double every operator command's start-up time.
    const { serve } = await import("./server.js");
    const { close } = await serve(config());
    const stop = () =>
      close().then(
        () => process.exit(0),
        (e) => fail(String(e), 1),
      );
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    return;
  }
  if (cmd === "migrate") {
    const cfg = config();
    const store = await openStore(cfg.databaseUrl);
    await store.close();
    console.log(`migrations applied (${cfg.databaseUrl.replace(/\/\/[^@]*@/, "//***@")})`);
    return;
  }

  const cfg = config();
  const admin = await adminClient(cfg);
  const need = (v: string | undefined, what: string): string => v ?? fail(`peel: ${cmd} ${sub ?? ""} needs ${what}\n\n${USAGE}`);
  try {
    switch (`${cmd} ${sub ?? ""}`.trim()) {
      case "keys create": {
        const res = (await admin.call("POST", "/admin/v1/keys", {
          name: need(o.name, "--name NAME"),
          accountId: o.account,
          limits: json(o.limits),
        })) as { key: string; apiKey: { id: string }; account: { id: string; name: string } };
        console.log(`key id:  ${res.apiKey.id}`);
        console.log(`account: ${res.account.id} (${res.account.name})`);
        console.log("the key is shown once; store it now:");
        console.log(res.key);
        return;
      }
      case "keys list":
        return print(await admin.call("GET", `/admin/v1/keys${o.account ? `?accountId=${encodeURIComponent(o.account)}` : ""}`));
      case "keys revoke":
        await admin.call("DELETE", `/admin/v1/keys/${encodeURIComponent(need(arg1, "a key id"))}`);
        return console.log(`revoked ${arg1}`);
      case "keys limits":
        return print(
          await admin.call("PATCH", `/admin/v1/keys/${encodeURIComponent(need(arg1, "a key id"))}`, {
            limits: json(need(o.limits, "--limits JSON")),
          }),
        );
      case "accounts list":
      case "accounts":
        return print(await admin.call("GET", "/admin/v1/accounts"));
      case "accounts create":
        return print(
          await admin.call("POST", "/admin/v1/accounts", {
            name: need(o.name, "--name NAME"),
            credits: o.credits ? Number(o.credits) : 0,
            unmetered: o.unmetered === true,
            maxRunning: o["max-running"] ? Number(o["max-running"]) : null,
          }),
        );
      case "accounts show":
        return print(await admin.call("GET", `/admin/v1/accounts/${encodeURIComponent(need(arg1, "an account id"))}`));
      case "accounts callback-policy": {
        const id = encodeURIComponent(need(arg1, "an account id"));
        if (!o.clear && o.allow === undefined && o.deny === undefined) {
          const a = (await admin.call("GET", `/admin/v1/accounts/${id}`)) as { callbackPolicy: unknown };
          return print(a.callbackPolicy);
        }
        const list = (v: string | undefined) =>
          o.clear || v === undefined
            ? []
            : v
                .split(",")
                .map((s) => s.trim())
                .filter(Boolean);
        const a = (await admin.call("PUT", `/admin/v1/accounts/${id}/callback-policy`, {
          allow: list(o.allow),
          deny: list(o.deny),
        })) as { callbackPolicy: unknown };
        return print(a.callbackPolicy);
      }
      case "credits grant": {
        const amount = Number(need(arg2, "ACCOUNT AMOUNT"));
        if (!Number.isFinite(amount)) fail(`peel: AMOUNT must be a number`);
        return print(
          await admin.call("POST", `/admin/v1/accounts/${encodeURIComponent(need(arg1, "ACCOUNT"))}/credits`, {
            amount,
            note: o.note ?? null,
          }),
        );
      }
      case "credits show":
        return print(await admin.call("GET", `/admin/v1/accounts/${encodeURIComponent(need(arg1, "ACCOUNT"))}/credits`));
      case "credits ledger":
        return print(
          await admin.call(
            "GET",
            `/admin/v1/accounts/${encodeURIComponent(need(arg1, "ACCOUNT"))}/ledger?limit=${Number(o.limit ?? 100)}`,
          ),
        );
      case "maintenance on":
      case "maintenance off":
        return print(await admin.call("PUT", "/admin/v1/maintenance", { on: sub === "on" }));
      case "models list":
      case "models":
        return print(await admin.call("GET", "/admin/v1/switches"));
      case "models enable":
      case "models disable":
        return print(await admin.call("PUT", `/admin/v1/models/${need(arg1, "a model id")}`, { enabled: sub === "enable" }));
      case "webhooks rotate-secret":
        return print(
          await admin.call("POST", `/admin/v1/accounts/${encodeURIComponent(need(arg1, "ACCOUNT"))}/webhook-secret`, {
            overlapHours: o["overlap-hours"] ? Number(o["overlap-hours"]) : 24,
          }),
        );
      case "webhooks hmac-key":
        return print(
          await admin.call(
            "PUT",
            `/admin/v1/accounts/${encodeURIComponent(need(arg1, "ACCOUNT"))}/webhook-hmac-key`,
            o.clear ? { hmacKey: null } : o.key ? { hmacKey: o.key } : {},
          ),
        );
      case "deliveries list": {
        const q = new URLSearchParams();
        if (o.task) q.set("taskId", o.task);
        if (o.account) q.set("accountId", o.account);
        if (o.state) q.set("state", o.state);
        if (o.since) q.set("since", String(parseTime(o.since)));
        if (o.limit) q.set("limit", o.limit);
        return print(await admin.call("GET", `/admin/v1/deliveries?${q}`));
      }
      case "deliveries show":
        return print(await admin.call("GET", `/admin/v1/deliveries/${encodeURIComponent(need(arg1, "a delivery id"))}`));
      case "deliveries replay":
        return print(await admin.call("POST", `/admin/v1/deliveries/${encodeURIComponent(need(arg1, "a delivery id"))}/replay`));
      case "deliveries replay-failed":
        return print(
          await admin.call("POST", "/admin/v1/deliveries/replay-failed", {
            since: parseTime(need(o.since, "--since TIME")),
            accountId: o.account,
          }),
        );
      case "deliveries test":
        return print(
          await admin.call("POST", "/admin/v1/webhooks/test", {
            url: need(o.url, "--url URL"),
            accountId: need(o.account, "--account ID"),
          }),
        );
      default:
        fail(`peel: unknown command "${pos.join(" ")}"\n\n${USAGE}`);
    }
  } catch (e) {
    fail(`peel: ${(e as Error).message}`, 1);
  } finally {
    await admin.close();
  }
}

main(process.argv.slice(2)).then(
  () => {
    // Operator commands end here: don't linger on keep-alive sockets of the admin API client.
    if (process.argv[2] !== "serve") process.exit(process.exitCode ?? 0);
  },
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
