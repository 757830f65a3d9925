import { readFileSync } from "node:fs";
import path from "node:path";
import { MODELS, modelSpec } from "../domain/models.js";
import { FAL_DEFAULT_MODEL_IDS } from "../engines/fal-models.js";
import { REPLICATE_DEFAULT_MODEL_IDS } from "../engines/replicate-models.js";

/**
 * `PEEL_UPSTREAMS`: the list of upstream routes (docs/engines.md#upstream-routes). A path to a JSON
 * file, or the JSON itself. Every problem is reported at once, in ConfigError's style. Without
 * the variable, today's single-engine settings (PEEL_ENGINE, GEMINI_API_KEY, PEEL_VERTEX_*) become
 * one route, so the rest of peel only ever sees a route list. `loadConfig` calls `loadUpstreams`;
 * secrets written `env:NAME` are read from the env object it was given, never from process.env.
 */

export const ROUTE_KINDS = ["gemini", "vertex", "kie", "fal", "replicate", "sandbox"] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

export interface RouteLimits {
  /** calls admitted in any rolling minute; null = no limit. */
  rpm: number | null;
  /** calls admitted per day (the day ends at midnight America/Los_Angeles, when Google resets); null = no limit. */
  rpd: number | null;
  /** calls in flight at once; null = no limit. */
  concurrency: number | null;
}

/** USD per call for reports: kie model → resolution (or "*") → dollars. */
export type RouteCostTable = Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface UpstreamRoute {
  /** unique, shown in logs, metrics and the admin view. */
  name: string;
  kind: RouteKind;
  /** origin of the provider's API; null → the kind's public endpoint. */
  baseUrl: string | null;
  /** the resolved secret (never logged; see describeRoute). */
  apiKey: string | null;
  /** kie models this route serves. */
  models: readonly string[];
  /** kie model → the id the provider knows it by (Google model, kie model, fal app, Replicate model). */
  modelIds: Readonly<Record<string, string>>;
  /** lower is tried first. */
  priority: number;
  /** share of the load among routes of the same priority. */
  weight: number;
  limits: RouteLimits;
  cost: RouteCostTable | null;
  /** kind `vertex` only. */
  vertex: { project: string | null; location: string; accessToken: string | null } | null;
  /** kind `kie` only: origin of the upstream's file-upload API. */
  uploadUrl: string | null;
}

export interface UpstreamsConfig {
  /** where the route list came from. */
  source: "PEEL_UPSTREAMS" | "shorthand";
  routes: readonly UpstreamRoute[];
}

/** The single-engine settings the shorthand turns into one route (Config's engine fields). */
export interface ShorthandSettings {
  engine: "sandbox" | "gemini" | "vertex";
  gemini: {
    apiKey: string | null;
    baseUrl: string | null;
    /** kie model → Google model id, PEEL_GOOGLE_MODELS applied. */
    models: Readonly<Record<string, string>>;
    vertexProject: string | null;
    vertexLocation: string;
    vertexAccessToken: string | null;
  };
}

type Env = Record<string, string | undefined>;

const KIE_AI = "https://api.kie.ai";
/** kie.ai serves its upload API from a second origin (docs/kie-contract.md §1). */
const KIE_AI_UPLOAD = "https://kieai.redpandaai.co";
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ENV_REF_RE = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;
const ROUTE_FIELDS = new Set([
  "name",
  "kind",
  "baseUrl",
  "apiKey",
  "models",
  "modelIds",
  "priority",
  "weight",
  "limits",
  "cost",
  "project",
  "location",
  "accessToken",
  "uploadUrl",
]);
const KIND_ONLY: Record<string, RouteKind> = { project: "vertex", location: "vertex", accessToken: "vertex", uploadUrl: "kie" };

/** The provider ids a kind knows by default, from which `models` defaults. */
export function defaultModelIds(kind: RouteKind, googleModels: Readonly<Record<string, string>>): Record<string, string> {
  const identity = Object.fromEntries(MODELS.map((m) => [m.id, m.id]));
  switch (kind) {
    case "gemini":
    case "vertex":
      return { ...googleModels };
    case "kie":
    case "sandbox":
      return identity;
    case "fal":
      return { ...FAL_DEFAULT_MODEL_IDS };
    case "replicate":
      return { ...REPLICATE_DEFAULT_MODEL_IDS };
  }
}

/**
 * Reads PEEL_UPSTREAMS (or builds the one-route shorthand). Returns the routes and every problem
 * found; `loadConfig` adds the problems to its ConfigError.
 */
export function loadUpstreams(
  env: Env,
  shorthand: ShorthandSettings,
  readFile: (file: string) => string = (f) => readFileSync(f, "utf8"),
): { upstreams: UpstreamsConfig; problems: string[] } {
  const raw = env.PEEL_UPSTREAMS?.trim();
  if (!raw) return { upstreams: { source: "shorthand", routes: [shorthandRoute(shorthand)] }, problems: [] };

  let text = raw;
  let where = "PEEL_UPSTREAMS";
  if (!raw.startsWith("{") && !raw.startsWith("[")) {
    const file = path.resolve(raw);
    where = `PEEL_UPSTREAMS (${file})`;
    try {
      text = readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      return { upstreams: empty(), problems: [`PEEL_UPSTREAMS: cannot read ${file} (${code})`] };
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { upstreams: empty(), problems: [`${where} is not valid JSON: ${(err as Error).message}`] };
  }
  const problems: string[] = [];
  const routes = parseRoutes(json, env, shorthand.gemini.models, (p) => problems.push(`${where}: ${p}`));
  return { upstreams: { source: "PEEL_UPSTREAMS", routes }, problems };
}

function empty(): UpstreamsConfig {
  return { source: "PEEL_UPSTREAMS", routes: [] };
}

/** Today's single-credential settings as one route named after the engine. */
export function shorthandRoute(s: ShorthandSettings): UpstreamRoute {
  const g = s.gemini;
  const ids = defaultModelIds(s.engine, g.models);
  return {
    name: s.engine,
    kind: s.engine,
    baseUrl: s.engine === "sandbox" ? null : g.baseUrl,
    apiKey: s.engine === "sandbox" ? null : g.apiKey,
    models: servedModels(ids),
    modelIds: ids,
    priority: 1,
    weight: 1,
    limits: { rpm: null, rpd: null, concurrency: null },
    cost: null,
    vertex:
      s.engine === "vertex" ? { project: g.vertexProject, location: g.vertexLocation, accessToken: g.vertexAccessToken } : null,
    uploadUrl: null,
  };
}

/** Models in registry order that have a provider id. */
function servedModels(ids: Readonly<Record<string, string>>): string[] {
  return MODELS.map((m) => m.id).filter((id) => ids[id] !== undefined);
}

function parseRoutes(
  json: unknown,
  env: Env,
  googleModels: Readonly<Record<string, string>>,
  problem: (p: string) => void,
): UpstreamRoute[] {
  if (!isObject(json)) {
    problem('must be an object {"routes": [...]}');
    return [];
  }
  for (const k of Object.keys(json)) if (k !== "routes") problem(`unknown field "${k}" (expected only "routes")`);
  const list = json.routes;
  if (!Array.isArray(list) || list.length === 0) {
    problem('"routes" must be a non-empty array');
    return [];
  }
  const routes: UpstreamRoute[] = [];
  const seen = new Map<string, number>();
  list.forEach((item, i) => {
    const label = isObject(item) && typeof item.name === "string" ? `routes[${i}] (${item.name})` : `routes[${i}]`;
    if (isObject(item) && typeof item.name === "string") {
      // Names are compared without case: they name metrics and admin URLs.
      const first = seen.get(item.name.toLowerCase());
      if (first !== undefined) problem(`${label}: name "${item.name}" is already used by routes[${first}]`);
      else seen.set(item.name.toLowerCase(), i);
    }
    const route = parseRoute(item, env, googleModels, (p) => problem(`${label}: ${p}`));
    if (route) routes.push(route);
  });
  return routes;
}

function parseRoute(
  item: unknown,
  env: Env,
  googleModels: Readonly<Record<string, string>>,
  problem: (p: string) => void,
): UpstreamRoute | null {
  if (!isObject(item)) {
    problem("must be an object");
    return null;
  }
  const counted = countingProblems(problem);
  const report = counted.report;

  const name = item.name;
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    report('"name" is required: 1-64 characters of letters, digits, "_", "." and "-", starting with a letter or digit');
  }
  const kindOk = typeof item.kind === "string" && (ROUTE_KINDS as readonly string[]).includes(item.kind);
  if (!kindOk) report(`"kind" must be one of ${ROUTE_KINDS.join(", ")}`);
  // With an unknown kind the generic fields are still checked, so one run lists every problem.
  const k: RouteKind | null = kindOk ? (item.kind as RouteKind) : null;
  for (const f of Object.keys(item)) {
    if (!ROUTE_FIELDS.has(f)) report(`unknown field "${f}"`);
    else if (k && KIND_ONLY[f] && k !== KIND_ONLY[f]) report(`"${f}" is only for kind ${KIND_ONLY[f]}`);
  }

  const baseUrl = optionalUrl(item.baseUrl, "baseUrl", report);
  const apiKey = optionalSecret(item.apiKey, "apiKey", env, report);
  const accessToken = optionalSecret(item.accessToken, "accessToken", env, report);
  const project = optionalString(item.project, "project", report);
  const location = optionalString(item.location, "location", report) ?? "global";
  if (k && ["gemini", "kie", "fal", "replicate"].includes(k) && item.apiKey === undefined) report(`kind ${k} needs "apiKey"`);
  if (k === "vertex" && !project && item.apiKey === undefined) {
    report('kind vertex needs "project" (or "apiKey" for Vertex express mode)');
  }
  if (k === "sandbox" && item.apiKey !== undefined) report('kind sandbox takes no "apiKey"');

  const defaults = k ? defaultModelIds(k, googleModels) : {};
  const overrides = stringMap(item.modelIds, "modelIds", report);
  for (const m of Object.keys(overrides)) if (!modelSpec(m)) report(`modelIds: "${m}" is not a model peel serves`);
  const ids: Record<string, string> = { ...defaults, ...overrides };
  let models: string[];
  if (item.models === undefined) {
    models = servedModels(ids);
  } else if (!Array.isArray(item.models) || item.models.length === 0 || !item.models.every((m) => typeof m === "string")) {
    report('"models" must be a non-empty array of model names');
    models = [];
  } else {
    models = [...new Set(item.models as string[])];
    for (const m of models) {
      if (!modelSpec(m)) report(`models: "${m}" is not a model peel serves (${MODELS.map((x) => x.id).join(", ")})`);
      else if (k && ids[m] === undefined) report(`models: kind ${k} has no default id for "${m}"; give one in "modelIds"`);
    }
    for (const m of Object.keys(overrides)) {
      if (modelSpec(m) && !models.includes(m)) report(`modelIds: "${m}" is not in this route's "models"`);
    }
  }
  const modelIds = Object.fromEntries(models.filter((m) => ids[m] !== undefined).map((m) => [m, ids[m]]));

  const priority = integer(item.priority, "priority", 1, 0, 1000, report);
  const weight = integer(item.weight, "weight", 1, 1, 1000, report);
  const limits = parseLimits(item.limits, report);
  const cost = parseCost(item.cost, report);
  const uploadUrl = k === "kie" ? (optionalUrl(item.uploadUrl, "uploadUrl", report) ?? kieUploadDefault(baseUrl)) : null;

  if (counted.count() > 0 || !k) return null;
  return {
    name: name as string,
    kind: k,
    baseUrl,
    apiKey,
    models,
    modelIds,
    priority,
    weight,
    limits,
    cost,
    vertex: k === "vertex" ? { project, location, accessToken } : null,
    uploadUrl,
  };
}

/** kie.ai's uploads live on their own origin; any other kie-compatible server (peel) uses one. */
function kieUploadDefault(baseUrl: string | null): string {
  if (baseUrl === null || new URL(baseUrl).hostname === new URL(KIE_AI).hostname) return KIE_AI_UPLOAD;
  return baseUrl;
}

function parseLimits(v: unknown, report: (p: string) => void): RouteLimits {
  const out: RouteLimits = { rpm: null, rpd: null, concurrency: null };
  if (v === undefined || v === null) return out;
  if (!isObject(v)) {
    report('"limits" must be an object {"rpm", "rpd", "concurrency"}');
    return out;
  }
  for (const [k, n] of Object.entries(v)) {
    if (k !== "rpm" && k !== "rpd" && k !== "concurrency") {
      report(`limits: unknown field "${k}" (rpm, rpd, concurrency)`);
      continue;
    }
    if (n === null) continue;
    if (!Number.isSafeInteger(n) || (n as number) < 1) report(`limits.${k} must be a whole number ≥ 1`);
    else out[k] = n as number;
  }
  return out;
}

function parseCost(v: unknown, report: (p: string) => void): RouteCostTable | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) {
    report('"cost" must be an object {model: {resolution: USD}}');
    return null;
  }
  const out: Record<string, Record<string, number>> = {};
  for (const [model, table] of Object.entries(v)) {
    if (!modelSpec(model)) report(`cost: "${model}" is not a model peel serves`);
    if (!isObject(table)) {
      report(`cost.${model} must be an object {resolution: USD}`);
      continue;
    }
    out[model] = {};
    for (const [res, usd] of Object.entries(table)) {
      if (typeof usd !== "number" || !(usd >= 0) || !Number.isFinite(usd)) report(`cost.${model}.${res} must be a number ≥ 0`);
      else out[model][res] = usd;
    }
  }
  return out;
}

function optionalUrl(v: unknown, field: string, report: (p: string) => void): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string") {
    try {
      const u = new URL(v);
      if ((u.protocol === "http:" || u.protocol === "https:") && !u.username && !u.password) return v.replace(/\/+$/, "");
    } catch {
      // reported below
    }
  }
  report(`"${field}" must be an absolute http(s) URL without credentials`);
  return null;
}

/** A secret: a literal, or `env:NAME` read from the environment peel was started with. */
function optionalSecret(v: unknown, field: string, env: Env, report: (p: string) => void): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || v === "") {
    report(`"${field}" must be a non-empty string (a literal, or env:NAME)`);
    return null;
  }
  const ref = ENV_REF_RE.exec(v);
  if (!ref) {
    if (v.startsWith("env:")) report(`"${field}": ${JSON.stringify(v)} is not a valid env:NAME reference`);
    return v;
  }
  const value = env[ref[1]];
  if (value === undefined || value === "") {
    report(`"${field}": environment variable ${ref[1]} is not set`);
    return null;
  }
  return value;
}

function optionalString(v: unknown, field: string, report: (p: string) => void): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || v === "") {
    report(`"${field}" must be a non-empty string`);
    return null;
  }
  return v;
}

function integer(v: unknown, field: string, def: number, min: number, max: number, report: (p: string) => void): number {
  if (v === undefined || v === null) return def;
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) {
    report(`"${field}" must be a whole number from ${min} to ${max}`);
    return def;
  }
  return v as number;
}

function stringMap(v: unknown, field: string, report: (p: string) => void): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) {
    report(`"${field}" must be an object {kieModel: providerModelId}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, id] of Object.entries(v)) {
    if (typeof id !== "string" || id === "") report(`${field}.${k} must be a non-empty string`);
    else out[k] = id;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function countingProblems(problem: (p: string) => void): { report: (p: string) => void; count: () => number } {
  let n = 0;
  return {
    report: (p) => {
      n++;
      problem(p);
    },
    count: () => n,
  };
}

/** A route as operators may see it (admin view, logs): everything but secrets. */
export function describeRoute(r: UpstreamRoute): Omit<UpstreamRoute, "apiKey" | "vertex"> & {
  hasApiKey: boolean;
  vertex: { project: string | null; location: string; hasAccessToken: boolean } | null;
} {
  const { apiKey, vertex, ...rest } = r;
  return {
    ...rest,
    hasApiKey: apiKey !== null,
    vertex: vertex ? { project: vertex.project, location: vertex.location, hasAccessToken: vertex.accessToken !== null } : null,
  };
}
