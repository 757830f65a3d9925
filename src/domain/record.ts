import type { TaskRecord, TaskState } from "./types.js";

/**
 * The two wire views of a task: the recordInfo `data` object (docs/kie-contract.md §5.1) and the callback
 * body (§7.2). They differ on purpose where kie's own pages differ (§15): unset strings are `""`
 * in recordInfo and `null` in callbacks.
 */

export interface RecordInfo {
  taskId: string;
  model: string;
  state: TaskState;
  param: string;
  resultJson: string;
  failCode: string;
  failMsg: string;
  costTime: number;
  completeTime: number | null;
  createTime: number;
  updateTime: number;
  consumeCredits: number;
  creditsConsumed: number;
}

export function resultJsonOf(task: TaskRecord): string {
  return task.state === "success" && task.resultUrls ? JSON.stringify({ resultUrls: task.resultUrls }) : "";
}

/** ms from entering `generating` to `success`; 0 in every other state. */
export function costTimeOf(task: TaskRecord): number {
  if (task.state !== "success" || task.generatingSince === null || task.completeTime === null) return 0;
  return Math.max(0, task.completeTime - task.generatingSince);
}

export function toRecordInfo(task: TaskRecord): RecordInfo {
  const failed = task.state === "fail";
  return {
    taskId: task.id,
    model: task.model,
    state: task.state,
    param: task.param,
    resultJson: resultJsonOf(task),
    failCode: failed ? (task.failCode ?? "") : "",
    failMsg: failed ? (task.failMsg ?? "") : "",
    costTime: costTimeOf(task),
    completeTime: task.completeTime,
    createTime: task.createTime,
    updateTime: task.updateTime,
    consumeCredits: task.consumedCredits,
    creditsConsumed: task.consumedCredits,
  };
}

/** The callback body; the id stands in every place known clients read it. */
export function toCallbackPayload(task: TaskRecord, remainedCredits: number): Record<string, unknown> {
  const ok = task.state === "success";
  return {
    taskId: task.id,
    code: ok ? 200 : 501,
    msg: ok ? "Playground task completed successfully." : "Playground task failed.",
    data: {
      taskId: task.id,
      task_id: task.id,
      callbackType: "task_completed",
      model: task.model,
      state: task.state,
      param: task.param,
      resultJson: ok ? resultJsonOf(task) : null,
      failCode: ok ? null : task.failCode,
      failMsg: ok ? null : task.failMsg,
      costTime: costTimeOf(task),
      completeTime: task.completeTime,
      createTime: task.createTime,
      updateTime: task.updateTime,
      consumeCredits: task.consumedCredits,
      creditsConsumed: task.consumedCredits,
      remainedCredits,
    },
  };
}
