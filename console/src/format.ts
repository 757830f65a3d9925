/** Display helpers shared by the views. */

export function timeAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  return d < 30 ? `${d} d ago` : new Date(ms).toLocaleDateString();
}

export const dateTime = (ms: number | null | undefined): string => (ms ? new Date(ms).toLocaleString() : "—");

export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export function credits(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString() : n.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

/** the prompt of a task, from its `param` JSON text. */
export function promptOf(param: string): string {
  try {
    const p = JSON.parse(param) as { input?: { prompt?: unknown } };
    return typeof p.input?.prompt === "string" ? p.input.prompt : "";
  } catch {
    return "";
  }
}

export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** a `?w=` thumbnail of a peel file URL (other hosts' images are not shown: see the CSP). */
export function thumb(url: string, w: 128 | 256 | 512): string {
  const u = new URL(url);
  u.searchParams.set("w", String(w));
  return u.href;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
