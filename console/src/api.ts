import { PeelClient } from "../../src/client/index.js";

/**
 * Where the API lives: the console's script is served from `<base>/console/assets/…`, so the API
 * base is two folders up (this also holds behind a path prefix).
 */
export const apiBase = new URL(/* @vite-ignore */ "../..", import.meta.url).href.replace(/\/+$/, "");

const KEY = "peel.apiKey";
const ADMIN = "peel.adminToken";

/** Credentials live in sessionStorage (gone with the tab), travel as Bearer headers, never in a URL. */
export const session = {
  get apiKey(): string | null {
    return sessionStorage.getItem(KEY);
  },
  set apiKey(v: string | null) {
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
  },
  get adminToken(): string | null {
    return sessionStorage.getItem(ADMIN);
  },
  set adminToken(v: string | null) {
    if (v) sessionStorage.setItem(ADMIN, v);
    else sessionStorage.removeItem(ADMIN);
  },
};

export function clientFor(apiKey: string): PeelClient {
  return new PeelClient({ baseUrl: apiBase, apiKey });
}

/** A call of the operator API (/admin/v1): `{data}` on success, `{error:{message}}` otherwise. */
export async function admin<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${apiBase}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json().catch(() => null)) as { data?: T; error?: { message?: string } } | null;
  if (!res.ok) {
    const err = new Error(json?.error?.message ?? `HTTP ${res.status}`) as Error & { status: number };
    err.status = res.status;
    throw err;
  }
  return json?.data as T;
}
