import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { ManualClock } from "../../src/clock.js";
import type { Account, Delivery } from "../../src/domain/types.js";
import { newId, newTaskId } from "../../src/ids.js";
import { AddressPolicy } from "../../src/net/address-guard.js";
import { openStore } from "../../src/store/open-store.js";
import type { Store } from "../../src/store/store.js";
import { DeliveryDispatcher, type DispatcherOptions } from "../../src/webhooks/dispatcher.js";
import { generateSigningSecret } from "../../src/webhooks/sign.js";

/**
 * A real SQLite store in its own temp directory, one account with a Standard Webhooks secret and
 * a kie HMAC key, a ManualClock and a dispatcher allowed to reach 127.0.0.1. Torn down in t.after.
 */
export interface Harness {
  store: Store;
  clock: ManualClock;
  account: Account;
  secret: string;
  hmacKey: string;
  dispatcher: DeliveryDispatcher;
  /** Stores a pending delivery of a kie-shaped success callback to `url`, due now. */
  addDelivery(url: string): Promise<Delivery>;
  /**
   * Runs the dispatcher against the ManualClock until every given delivery has ended (or
   * `maxPasses` passes), jumping the clock to the next due time whenever nothing is due.
   * `beforePass` runs first on every pass (e.g. to bring a receiver back up).
   */
  drive(ids: string[], opts?: { maxPasses?: number; beforePass?: () => Promise<void> }): Promise<void>;
}

export const HMAC_KEY = "whk_peel_example_0001";

export async function harness(t: TestContext, opts: Partial<DispatcherOptions> & { allow?: string[] } = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), "peel-webhooks-"));
  const store = await openStore(`sqlite:${path.join(dir, "peel.db")}`);
  const clock = new ManualClock();
  const account = await store.createAccount({ name: "webhooks test" }, clock.now());
  const secret = generateSigningSecret();
  await store.rotateSigningSecret(account.id, secret, clock.now(), clock.now());
  await store.setWebhookHmacKey(account.id, HMAC_KEY);
  const { allow, ...rest } = opts;
  const dispatcher = new DeliveryDispatcher({
    store,
    policy: new AddressPolicy(allow ?? ["127.0.0.1"]),
    clock,
    workerId: "wrk_test",
    timeoutMs: 2_000,
    concurrency: 4,
    pollMs: 20,
    random: () => 0.5, // no jitter: attempt times land exactly on the schedule
    logger: { info: () => {}, warn: () => {}, error: (obj, msg) => console.error(msg, obj) },
    ...rest,
  });
  t.after(async () => {
    await dispatcher.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const addDelivery = (url: string) => {
    const taskId = newTaskId();
    const payload = JSON.stringify({
      taskId,
      code: 200,
      msg: "Playground task completed successfully.",
      data: { taskId, task_id: taskId, callbackType: "task_completed", state: "success", remainedCredits: 982 },
    });
    return store.createDelivery({
      id: newId("dlv"),
      taskId,
      accountId: account.id,
      url,
      payload,
      webhookId: newId("msg"),
      createdAt: clock.now(),
    });
  };

  const drive: Harness["drive"] = async (ids, o = {}) => {
    for (let pass = 0; pass < (o.maxPasses ?? 100); pass++) {
      await o.beforePass?.();
      await dispatcher.runOnce();
      const rows = await Promise.all(ids.map((id) => store.getDelivery(id)));
      const pending = rows.filter((d) => d!.state === "pending");
      if (pending.length === 0) return;
      const next = Math.min(...pending.map((d) => d!.nextAttemptAt!));
      if (next > clock.now()) clock.set(next);
    }
    throw new Error("deliveries still pending after maxPasses");
  };

  return { store, clock, account, secret, hmacKey: HMAC_KEY, dispatcher, addDelivery, drive };
}

/** Polls `cond` in real time until true, or fails after `ms`. */
export async function eventually(cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
