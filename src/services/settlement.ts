import { toCallbackPayload } from "../domain/record.js";
import type { Account, NewDelivery } from "../domain/types.js";
import { newId } from "../ids.js";
import type { SettlementHook } from "../store/store.js";
import type { CallbackPolicy } from "../webhooks/callback-policy.js";

/**
 * Builds the outbox row for a task that just settled. The store calls it inside the settling
 * transaction, so the callback is recorded together with the terminal state (docs/kie-contract.md
 * §7.1). A destination the callback policy denies (docs/webhooks.md) is recorded as `skipped` with
 * the reason: the task was accepted and settles as usual, the callback is never sent.
 */
export function callbackOnSettle(opts: {
  account: Pick<Account, "unmetered" | "callbackPolicy"> | null;
  unmeteredBalance: number;
  now: number;
  policy: CallbackPolicy;
}): SettlementHook {
  // A PostgreSQL transaction that is retried calls the hook again: one log line per settle.
  let logged = false;
  return (task, remainedCredits) => {
    if (!task.callbackUrl) return null;
    const remained = opts.account?.unmetered ? opts.unmeteredBalance : remainedCredits;
    const delivery: NewDelivery = {
      id: newId("dlv"),
      taskId: task.id,
      accountId: task.accountId,
      url: task.callbackUrl,
      payload: JSON.stringify(toCallbackPayload(task, remained)),
      webhookId: newId("msg"),
      createdAt: opts.now,
    };
    const decision = opts.policy.decide(task.callbackUrl, opts.account?.callbackPolicy ?? null);
    if (!decision.send) {
      delivery.skipReason = decision.reason;
      if (!logged)
        opts.policy.skipped({ taskId: task.id, deliveryId: delivery.id, host: decision.host, reason: decision.reason });
      logged = true;
    }
    return delivery;
  };
}

/** JSON number, integer when whole (docs/kie-contract.md §8). */
export function creditsNumber(n: number): number {
  return Number.isInteger(n) ? n : Math.round(n * 1e6) / 1e6;
}
