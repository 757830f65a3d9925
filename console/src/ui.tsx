import type { ComponentChildren } from "preact";
import type { TaskState } from "../../src/client/index.js";

/** Small building blocks shared by the views. */

const STATE_LABEL: Record<string, string> = {
  waiting: "Waiting",
  queuing: "Queued",
  generating: "Generating",
  success: "Done",
  fail: "Failed",
};

export function StateBadge({ state }: { state: TaskState | string }) {
  return <span class={`badge badge-${state}`}>{STATE_LABEL[state] ?? state}</span>;
}

export function Spinner({ label }: { label?: string }) {
  return <span class="spinner" role="status" aria-label={label ?? "Loading"} />;
}

export function ErrorNote({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p class="note note-error" role="alert">
      {error}
    </p>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children ? <p class="muted">{children}</p> : null}
    </div>
  );
}

export function PageHead({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-head">
      <h1>{title}</h1>
      {children ? <div class="page-actions">{children}</div> : null}
    </div>
  );
}
