import { toCallbackPayload } from "../domain/record.js";
import type { Account } from "../domain/types.js";
import { newId } from "../ids.js";
import type { SettlementHook } from "../store/store.js";

/**
 * Builds the outbox row for a task that just settled. The store calls it inside the settling
 * transaction, so the callback is recorded together with the terminal state (kie-contract §7.1).
 */
export function callbackOnSettle(opts: {
  account: Pick<Account, "unmetered"> | null;
  unmeteredBalance: number;
  now: number;
}): SettlementHook {
  return (task, remainedCredits) => {
    if (!task.callbackUrl) return null;
    const remained = opts.account?.unmetered ? opts.unmeteredBalance : remainedCredits;
    return {
      id: newId("dlv"),
      taskId: task.id,
      accountId: task.accountId,
      url: task.callbackUrl,
      payload: JSON.stringify(toCallbackPayload(task, remained)),
      webhookId: newId("msg"),
      createdAt: opts.now,
    };
  };
}

/** JSON number, integer when whole (kie-contract §8). */
export function creditsNumber(n: number): number {
  return Number.isInteger(n) ? n : Math.round(n * 1e6) / 1e6;
}
