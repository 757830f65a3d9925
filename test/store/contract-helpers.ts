import assert from "node:assert/strict";
import type { Account, ApiKey, NewDelivery, NewTask, TaskRecord } from "../../src/domain/types.js";
import { newId, newTaskId, randomString } from "../../src/ids.js";
import type { CreateTaskCommand, CreateTaskOutcome, SettlementHook, Store } from "../../src/store/store.js";

/** 2026-01-01T00:00:00Z: every contract test starts its clock here. */
export const T0 = Date.UTC(2026, 0, 1);
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const DEADLINE_MS = 15 * 60_000;

export interface Owner {
  account: Account;
  key: ApiKey;
}

export async function newOwner(
  store: Store,
  opts: { credits?: number; unmetered?: boolean; maxRunning?: number | null; name?: string } = {},
): Promise<Owner> {
  const account = await store.createAccount(
    { name: opts.name ?? "acct", unmetered: opts.unmetered, maxRunning: opts.maxRunning, initialCredits: opts.credits ?? 0 },
    T0,
  );
  const key = await store.createApiKey(
    { accountId: account.id, name: "default", hash: randomString(64), prefix: "pk_" + randomString(6) },
    T0,
  );
  return { account, key };
}

export function newTask(owner: Owner, over: Partial<NewTask> = {}): NewTask {
  const createTime = over.createTime ?? T0;
  const input = {
    prompt: "a banana",
    imageUrls: [],
    aspectRatio: "1:1",
    resolution: "1K" as const,
    outputFormat: "png" as const,
  };
  return {
    id: newTaskId(),
    accountId: owner.account.id,
    keyId: owner.key.id,
    model: "nano-banana-pro",
    param: JSON.stringify({ model: "nano-banana-pro", input: { prompt: "a banana" } }),
    input,
    callbackUrl: null,
    price: 18,
    createTime,
    deadline: createTime + DEADLINE_MS,
    ...over,
  };
}

export async function create(
  store: Store,
  owner: Owner,
  over: Partial<NewTask> = {},
  cmd: Partial<Omit<CreateTaskCommand, "task">> = {},
): Promise<CreateTaskOutcome> {
  return store.createTask({ task: newTask(owner, over), holdCredits: !owner.account.unmetered, ...cmd });
}

/** Creates a task and asserts it was accepted. */
export async function createOk(
  store: Store,
  owner: Owner,
  over: Partial<NewTask> = {},
  cmd: Partial<Omit<CreateTaskCommand, "task">> = {},
): Promise<TaskRecord> {
  const out = await create(store, owner, over, cmd);
  assert.equal(out.kind, "created", `expected created, got ${JSON.stringify(out)}`);
  return (out as { task: TaskRecord }).task;
}

/** Creates `n` tasks one ms apart (so "oldest first" is well defined), starting at `from`. */
export async function createMany(store: Store, owner: Owner, n: number, from = T0): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  for (let i = 0; i < n; i++) out.push(await createOk(store, owner, { createTime: from + i }));
  return out;
}

/** Asserts the balance invariant: cached balance = SUM(ledger amounts). Returns the balance. */
export async function assertBalanced(store: Store, accountId: string): Promise<number> {
  const balance = await store.getBalance(accountId);
  const ledger = await store.listLedger(accountId, { limit: 1_000_000 });
  const sum = ledger.reduce((s, e) => s + e.amount, 0);
  assert.equal(balance, sum, `balance ${balance} != sum of ledger ${sum}`);
  return balance;
}

export const claimOpts = (workerId: string, now: number, over: { leaseMs?: number; maxRunningPerAccount?: number } = {}) => ({
  workerId,
  now,
  leaseMs: over.leaseMs ?? 60_000,
  maxRunningPerAccount: over.maxRunningPerAccount ?? 4,
});

/** Promotes and claims one task of whoever is next; asserts one was claimed. */
export async function promoteAndClaim(
  store: Store,
  workerId: string,
  now: number,
  maxRunningPerAccount = 4,
): Promise<TaskRecord> {
  await store.promoteWaitingTasks({ now, maxRunningPerAccount });
  const t = await store.claimTask(claimOpts(workerId, now, { maxRunningPerAccount }));
  assert.ok(t, "expected a task to be claimed");
  return t;
}

/** A settlement hook that builds a callback and records what it was called with. */
export function recordingHook(url = "https://receiver.example.com/cb"): {
  hook: SettlementHook;
  calls: { task: TaskRecord; remainedCredits: number; delivery: NewDelivery }[];
} {
  const calls: { task: TaskRecord; remainedCredits: number; delivery: NewDelivery }[] = [];
  const hook: SettlementHook = (task, remainedCredits) => {
    const delivery: NewDelivery = {
      id: newId("dlv"),
      taskId: task.id,
      accountId: task.accountId,
      url,
      payload: JSON.stringify({ taskId: task.id, state: task.state, remainedCredits }),
      webhookId: newId("msg"),
      createdAt: task.completeTime ?? task.updateTime,
    };
    calls.push({ task, remainedCredits, delivery });
    return delivery;
  };
  return { hook, calls };
}

export function newDelivery(accountId: string, over: Partial<NewDelivery> = {}): NewDelivery {
  return {
    id: newId("dlv"),
    taskId: null,
    accountId,
    url: "https://receiver.example.com/cb",
    payload: '{"hello":"world"}',
    webhookId: newId("msg"),
    createdAt: T0,
    ...over,
  };
}
