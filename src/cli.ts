#!/usr/bin/env node
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { describeError, openAdminClient } from "./cli/admin-client.js";
import { adminCommand } from "./cli/admin-command.js";
import type { DeliveryState, KeyLimits } from "./domain/types.js";
import { dataDirProblem } from "./files/data-dir.js";
import { openStore } from "./store/open-store.js";

/**
 * The `peel` command. `serve` runs API and worker; the operator commands work on the database
 * directly, or over the admin API when PEEL_ADMIN_URL (and PEEL_ADMIN_TOKEN) are set.
 */
const USAGE = `usage: peel <command>

  serve                                   run the API and the worker (PEEL_ROLE=api|worker to split)
  generate PROMPT [--out FILE] [...]      make one image on a running server (peel generate --help)
  migrate                                 apply database migrations
  doctor                                  check configuration, database, files, public URL, engine credentials
  backup FILE                             online copy of the SQLite database (PostgreSQL: pg_dump)

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
  tasks show TASK_ID                      a task of any account, with its owner and price

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

  admin [OPERATION [--field value ...]]   any admin API operation by name (lists them without one)

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
  if (argv[0] === "admin") return adminCommand(argv.slice(1), () => openAdminClient(config()));
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
    const cfg = config();
    const unwritable = dataDirProblem(cfg);
    if (unwritable) fail(`peel: ${unwritable}`);
    const { close } = await serve(cfg);
    const stop = () =>
      close().then(
        () => process.exit(0),
        (e) => fail(String(e), 1),
      );
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    return;
  }
  if (cmd === "doctor" || cmd === "backup") {
    process.exitCode =
      cmd === "doctor"
        ? await (await import("./cli/doctor.js")).doctor()
        : await (await import("./cli/backup.js")).backup(config(), sub);
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
  const admin = await openAdminClient(cfg);
  const need = (v: string | undefined, what: string): string => v ?? fail(`peel: ${cmd} ${sub ?? ""} needs ${what}\n\n${USAGE}`);
  const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  try {
    switch (`${cmd} ${sub ?? ""}`.trim()) {
      case "keys create": {
        const res = await admin.call("createKey", {
          body: { name: need(o.name, "--name NAME"), accountId: o.account, limits: json(o.limits) as KeyLimits | undefined },
        });
        console.log(`key id:  ${res.apiKey.id}`);
        console.log(`account: ${res.account.id} (${res.account.name})`);
        console.log("the key is shown once; store it now:");
        console.log(res.key);
        return;
      }
      case "keys list":
        return print(await admin.call("listKeys", { query: { accountId: o.account } }));
      case "keys revoke":
        await admin.call("revokeKey", { params: { id: need(arg1, "a key id") } });
        return console.log(`revoked ${arg1}`);
      case "keys limits":
        return print(
          await admin.call("setKeyLimits", {
            params: { id: need(arg1, "a key id") },
            body: { limits: json(need(o.limits, "--limits JSON")) as KeyLimits },
          }),
        );
      case "accounts list":
      case "accounts":
        return print(await admin.call("listAccounts", {}));
      case "accounts create":
        return print(
          await admin.call("createAccount", {
            body: {
              name: need(o.name, "--name NAME"),
              credits: num(o.credits) ?? 0,
              unmetered: o.unmetered === true,
              maxRunning: num(o["max-running"]) ?? null,
            },
          }),
        );
      case "accounts show":
        return print(await admin.call("showAccount", { params: { id: need(arg1, "an account id") } }));
      case "accounts callback-policy": {
        const id = need(arg1, "an account id");
        if (!o.clear && o.allow === undefined && o.deny === undefined) {
          return print((await admin.call("showAccount", { params: { id } })).callbackPolicy);
        }
        const list = (v: string | undefined) =>
          o.clear || v === undefined
            ? []
            : v
                .split(",")
                .map((s) => s.trim())
                .filter(Boolean);
        const a = await admin.call("setCallbackPolicy", { params: { id }, body: { allow: list(o.allow), deny: list(o.deny) } });
        return print(a.callbackPolicy);
      }
      case "credits grant": {
        const amount = Number(need(arg2, "ACCOUNT AMOUNT"));
        if (!Number.isFinite(amount)) fail(`peel: AMOUNT must be a number`);
        return print(
          await admin.call("grantCredits", { params: { id: need(arg1, "ACCOUNT") }, body: { amount, note: o.note ?? null } }),
        );
      }
      case "credits show":
        return print(await admin.call("showCredits", { params: { id: need(arg1, "ACCOUNT") } }));
      case "credits ledger":
        return print(await admin.call("listLedger", { params: { id: need(arg1, "ACCOUNT") }, query: { limit: num(o.limit) } }));
      case "maintenance on":
      case "maintenance off":
        return print(await admin.call("setMaintenance", { body: { on: sub === "on" } }));
      case "models list":
      case "models":
        return print(await admin.call("showSwitches", {}));
      case "models enable":
      case "models disable":
        return print(
          await admin.call("setModelEnabled", { params: { "*": need(arg1, "a model id") }, body: { enabled: sub === "enable" } }),
        );
      case "tasks show":
        return print(await admin.call("showTask", { params: { id: need(arg1, "a task id") } }));
      case "webhooks rotate-secret":
        return print(
          await admin.call("rotateWebhookSecret", {
            params: { id: need(arg1, "ACCOUNT") },
            body: { overlapHours: num(o["overlap-hours"]) },
          }),
        );
      case "webhooks hmac-key":
        return print(
          await admin.call("setWebhookHmacKey", {
            params: { id: need(arg1, "ACCOUNT") },
            body: o.clear ? { hmacKey: null } : { hmacKey: o.key },
          }),
        );
      case "deliveries list":
        return print(
          await admin.call("listDeliveries", {
            query: {
              taskId: o.task,
              accountId: o.account,
              state: o.state as DeliveryState | undefined,
              since: o.since,
              limit: num(o.limit),
            },
          }),
        );
      case "deliveries show":
        return print(await admin.call("showDelivery", { params: { id: need(arg1, "a delivery id") } }));
      case "deliveries replay":
        return print(await admin.call("replayDelivery", { params: { id: need(arg1, "a delivery id") } }));
      case "deliveries replay-failed":
        return print(
          await admin.call("replayFailedDeliveries", { body: { since: need(o.since, "--since TIME"), accountId: o.account } }),
        );
      case "deliveries test":
        return print(
          await admin.call("sendTestEvent", {
            body: { url: need(o.url, "--url URL"), accountId: need(o.account, "--account ID") },
          }),
        );
      default:
        fail(`peel: unknown command "${pos.join(" ")}"\n\n${USAGE}`);
    }
  } catch (e) {
    fail(`peel: ${describeError(e)}`, 1);
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
