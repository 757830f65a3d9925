import { setTimeout as sleep } from "node:timers/promises";
import sharp from "sharp";
import type { GenerateRequest, GeneratedImage, ImageEngine } from "../../src/engines/engine.js";
import { ProviderError } from "../../src/errors.js";
import type { TestPeel } from "../helpers/harness.js";

/** Shared pieces of the accounts suites (credits, limits, fairness, switches, idempotency, cancel). */

export const MODEL = "nano-banana-pro";

export function body(prompt = "a lighthouse at dusk", input: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { model: MODEL, ...extra, input: { prompt, ...input } };
}

/** POST createTask (jobs path unless `playground`). */
export function create(
  peel: TestPeel,
  b: unknown = body(),
  opts: { key?: string; headers?: Record<string, string>; playground?: boolean } = {},
) {
  const p = opts.playground ? "/api/v1/playground/createTask" : "/api/v1/jobs/createTask";
  return peel.api("POST", p, b, { key: opts.key, headers: opts.headers });
}

export function record(peel: TestPeel, taskId: string, key?: string) {
  return peel.api("GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, undefined, { key });
}

export async function credit(peel: TestPeel, key?: string): Promise<number> {
  const r = await peel.api("GET", "/api/v1/chat/credit", undefined, { key });
  if (r.json?.code !== 200) throw new Error(`credit: ${r.text}`);
  return r.json.data;
}

export function cancel(peel: TestPeel, taskId: unknown, key?: string) {
  return peel.api("POST", "/api/v1/jobs/cancel", { taskId }, { key });
}

/** Every ledger entry of an account, oldest first. */
export async function ledger(peel: TestPeel, accountId: string) {
  return (await peel.runtime.store.listLedger(accountId, { limit: 100_000 })).reverse();
}

export async function ledgerSum(peel: TestPeel, accountId: string): Promise<number> {
  return (await ledger(peel, accountId)).reduce((s, e) => s + e.amount, 0);
}

/** Polls `fn` until it returns a truthy value (real time). */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  what: string,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits until a task is in `state` (read from the store, so no rate limit applies). */
export function waitForState(peel: TestPeel, taskId: string, state: string, timeoutMs = 10_000) {
  return waitFor(
    async () => {
      const t = await peel.runtime.store.getTask(taskId);
      return t?.state === state ? t : null;
    },
    `task ${taskId} in ${state}`,
    timeoutMs,
  );
}

let tinyPng: Buffer | null = null;
async function tiny(): Promise<Buffer> {
  tinyPng ??= await sharp({ create: { width: 8, height: 8, channels: 3, background: "#c83" } })
    .png()
    .toBuffer();
  return tinyPng;
}

/**
 * An engine steered by the prompt, so one peel can run a mix of outcomes:
 * - `fail ...`  → non-retryable ProviderError (content policy, failCode 422)
 * - `busy ...`  → retryable ProviderError (upstream busy) every time
 * - `later ...` → retryable ProviderError asking for a retry in 60 s
 * - `slow ...`  → waits `slowMs` (abortable), then succeeds
 * - anything else succeeds at once with a tiny PNG.
 * `started` records the task ids the engine was called for, in order.
 */
export class ScriptedEngine implements ImageEngine {
  readonly name = "scripted";
  readonly started: string[] = [];
  /** task ids whose generate call has returned an image. */
  readonly finished: string[] = [];
  constructor(private opts: { slowMs?: number; delayMs?: number } = {}) {}

  async generate(req: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
    this.started.push(req.taskId);
    const p = req.prompt;
    if (p.startsWith("fail")) throw new ProviderError("prompt_blocked", "blocked by test", { retryable: false });
    if (p.startsWith("busy")) throw new ProviderError("upstream_busy", "busy by test", { retryable: true, retryAfterMs: 10 });
    if (p.startsWith("later"))
      throw new ProviderError("upstream_busy", "busy by test", { retryable: true, retryAfterMs: 60_000 });
    const wait = p.startsWith("slow") ? (this.opts.slowMs ?? 5_000) : (this.opts.delayMs ?? 0);
    if (wait > 0) await sleep(wait, undefined, { signal });
    signal.throwIfAborted();
    this.finished.push(req.taskId);
    return { bytes: await tiny(), format: "png", width: 8, height: 8 };
  }
}

/** An engine that always fails with a non-retryable error. */
export const failingEngine: ImageEngine = {
  name: "failing",
  async generate() {
    throw new ProviderError("prompt_blocked", "always blocked", { retryable: false });
  },
};
