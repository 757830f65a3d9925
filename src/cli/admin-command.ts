import { Kind, type TObject, type TSchema } from "@sinclair/typebox";
import { ADMIN_ROUTES, type AdminInput, type AdminOperation, type AdminRoute } from "../admin/route-table.js";
import { type AdminClient, describeError } from "./admin-client.js";

/**
 * `peel admin [OPERATION [--field value ...]]`: any operation of the admin route table by name,
 * with one flag per field of its params, query and body, so an operation added to the table is
 * usable from the CLI at once (in-process or over PEEL_ADMIN_URL, like every operator command).
 * Prints the operation's JSON answer. Exit 1 when the operation fails, 2 on a usage error.
 */
export async function adminCommand(args: string[], open: () => Promise<AdminClient>): Promise<void> {
  const [name, ...rest] = args;
  if (!name || name === "--help" || name === "-h") return console.log(listing());
  if (!(name in ADMIN_ROUTES)) return usage(`unknown admin operation "${name}"\n\n${listing()}`);
  const route = ADMIN_ROUTES[name as AdminOperation] as AdminRoute;
  const flags = parseFlags(rest);
  if (typeof flags === "string") return usage(`${flags}\n\n${describe(name, route)}`);

  const input: Record<"params" | "query" | "body", Record<string, unknown>> = { params: {}, query: {}, body: {} };
  for (const [flag, raw] of Object.entries(flags)) {
    const field = flagField(route, flag);
    const part = (["params", "query", "body"] as const).find((p) => field in route[p].properties);
    if (!part) return usage(`${name} has no field --${flag}\n\n${describe(name, route)}`);
    input[part][field] = coerce(route[part].properties[field], raw);
  }
  const client = await open();
  try {
    console.log(JSON.stringify(await client.call(name as AdminOperation, input as AdminInput<AdminOperation>), null, 2));
  } catch (e) {
    console.error(`peel: ${describeError(e)}`);
    process.exitCode = 1;
  } finally {
    await client.close();
  }
}

function usage(msg: string): void {
  console.error(`peel: ${msg}`);
  process.exitCode = 2;
}

/** `--a 1 --b=x --flag` → {a: "1", b: "x", flag: "true"}; a usage message when malformed. */
function parseFlags(args: string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(args[i]);
    if (!m) return `expected --field value, got ${JSON.stringify(args[i])}`;
    if (m[2] !== undefined) out[m[1]] = m[2];
    else if (i + 1 < args.length && !args[i + 1].startsWith("--")) out[m[1]] = args[++i];
    else out[m[1]] = "true";
  }
  return out;
}

/** Text for string fields ("null" for a nullable one); JSON for numbers, booleans, objects. */
function coerce(schema: TSchema, raw: string): unknown {
  if (acceptsString(schema) && raw !== "null") return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw; // the schema check reports it
  }
}

function acceptsString(s: TSchema): boolean {
  if (s[Kind] === "String") return true;
  if (s[Kind] === "Literal") return typeof s.const === "string";
  if (s[Kind] === "Union") return (s.anyOf as TSchema[]).some(acceptsString);
  return false;
}

/**
 * Flags are the fields in kebab case (`maxRunning` → --max-running; the camelCase name works too);
 * a rest-of-path param (`*`, e.g. a model id with a slash) is --path.
 */
const WILDCARD_FLAG = "path";
const flagField = (route: AdminRoute, flag: string) =>
  flag === WILDCARD_FLAG && "*" in route.params.properties ? "*" : flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const flagOf = (field: string) => (field === "*" ? WILDCARD_FLAG : field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));

function fieldsOf(route: AdminRoute): string {
  const parts: TObject[] = [route.params, route.query, route.body];
  return parts
    .flatMap((o) =>
      Object.keys(o.properties).map((k) => ((o.required ?? []).includes(k) ? `--${flagOf(k)} …` : `[--${flagOf(k)} …]`)),
    )
    .join(" ");
}

function describe(name: string, route: AdminRoute): string {
  return `peel admin ${name} ${fieldsOf(route)}`.trimEnd() + `\n  ${route.method} ${route.path}: ${route.summary}`;
}

function listing(): string {
  const lines = Object.entries(ADMIN_ROUTES).map(([name, r]) => describe(name, r as AdminRoute));
  return `usage: peel admin OPERATION [--field value ...]   (values: text, or JSON for numbers, booleans, objects)\n\n${lines.join("\n")}`;
}
