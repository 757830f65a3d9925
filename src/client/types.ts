import type { MODEL_INFO } from "./model-info.js";

/** The wire types of peel's (and kie.ai's) task API, for clients. No server code is imported. */

type Info = typeof MODEL_INFO;
/** every model peel serves. */
export type ModelId = keyof Info;

type ImageInput<I> = I extends { imageField: infer F extends string; imageRequired: true }
  ? { [K in F]: string[] }
  : I extends { imageField: infer F extends string }
    ? { [K in F]?: string[] }
    : unknown;
type RatioInput<I> = I extends { ratioField: infer F extends string; ratios: readonly (infer R)[] } ? { [K in F]?: R } : unknown;
type ResolutionInput<I> = I extends { resolutions: readonly (infer R)[] } ? { resolution?: R } : unknown;
type FormatInput<I> = I extends { formats: readonly (infer R)[] } ? { output_format?: R } : unknown;
type SearchInput<I> = I extends { hasGoogleSearch: true } ? { google_search?: boolean } : unknown;

/**
 * The `input` object of a model, derived from the model registry: e.g. for `nano-banana-pro`
 * `{ prompt; image_input?; aspect_ratio?: "1:1" | … ; resolution?: "1K" | "2K" | "4K"; output_format?: "png" | "jpg" }`.
 */
export type ModelInput<M extends ModelId> = { prompt: string } & ImageInput<Info[M]> &
  RatioInput<Info[M]> &
  ResolutionInput<Info[M]> &
  FormatInput<Info[M]> &
  SearchInput<Info[M]>;

export type CreateTaskRequest = {
  [M in ModelId]: { model: M; input: ModelInput<M>; callBackUrl?: string };
}[ModelId];

export type TaskState = "waiting" | "queuing" | "generating" | "success" | "fail";

/** recordInfo's `data` (and the `state` event's data: it adds queuePosition and etaMs while waiting). */
export interface TaskRecord {
  taskId: string;
  model: string;
  state: TaskState;
  /** JSON text of the createTask body. */
  param: string;
  /** JSON text `{"resultUrls":[…]}` on success, else "". */
  resultJson: string;
  failCode: string;
  failMsg: string;
  costTime: number;
  completeTime: number | null;
  createTime: number;
  updateTime: number;
  consumeCredits: number;
  creditsConsumed: number;
  /** peel events only: tasks ahead of this one, while waiting or queuing. */
  queuePosition?: number;
  /** peel events only: a rough estimate of the time until the result, ms. */
  etaMs?: number;
}

/** The upload API's `data` (docs/kie-contract.md §10.2). */
export interface UploadResult {
  fileName: string;
  filePath: string;
  downloadUrl: string;
  fileUrl: string;
  fileSize: number;
  mimeType: string;
  uploadedAt: string;
  expiresAt: string;
}

/** GET /api/v1/jobs/list (peel extension). */
export interface TaskPage {
  pageNum: number;
  pageSize: number;
  total: number;
  list: TaskRecord[];
}

export interface LedgerEntry {
  id: string;
  taskId: string | null;
  kind: "grant" | "hold" | "capture" | "release";
  amount: number;
  note: string | null;
  createdAt: number;
}

export interface DeliveryAttempt {
  attemptedAt: number;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

export interface Delivery {
  id: string;
  taskId: string | null;
  url: string;
  state: string;
  attemptCount: number;
  nextAttemptAt: number | null;
  createdAt: number;
  updatedAt: number;
  lastStatus: number | null;
  lastError: string | null;
  attempts: DeliveryAttempt[];
}

export const isTerminalState = (s: string): boolean => s === "success" || s === "fail";

/** The result URLs of a successful task ([] otherwise). */
export function resultUrlsOf(r: Pick<TaskRecord, "resultJson">): string[] {
  if (!r.resultJson) return [];
  try {
    const v = JSON.parse(r.resultJson) as { resultUrls?: unknown };
    return Array.isArray(v.resultUrls) ? v.resultUrls.filter((u): u is string => typeof u === "string") : [];
  } catch {
    return [];
  }
}
