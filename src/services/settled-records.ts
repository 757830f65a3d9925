import type { RecordInfo } from "../domain/record.js";
import { isTerminal } from "../domain/types.js";

/**
 * The recordInfo views of settled tasks. A terminal state never changes (docs/kie-contract.md §6.1), in
 * this process or any other, so a settled record can be answered from memory with no staleness;
 * unfinished tasks are always read from the store. Clients keep polling a task for a while after
 * it finished, and callback receivers read it right after the callback — those reads stay off the
 * database. Bounded; the oldest entry goes first.
 */
export class SettledRecordCache {
  private map = new Map<string, { accountId: string; createTime: number; view: RecordInfo }>();

  constructor(private capacity = 20_000) {}

  get(taskId: string, accountId: string): { createTime: number; view: RecordInfo } | undefined {
    const hit = this.map.get(taskId);
    return hit && hit.accountId === accountId ? hit : undefined;
  }

  /** Remembers a record only if it is settled. */
  offer(accountId: string, createTime: number, view: RecordInfo): void {
    if (!isTerminal(view.state)) return;
    if (this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value as string);
    this.map.set(view.taskId, { accountId, createTime, view });
  }
}
