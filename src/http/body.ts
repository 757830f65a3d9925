import type { FastifyInstance, FastifyRequest } from "fastify";
import { KieError, PeelError } from "../errors.js";
import type { Envelope } from "./envelope.js";

/**
 * kie clients sometimes omit Content-Type or send the wrong one, so JSON endpoints parse the body
 * as JSON whatever it says (docs/kie-contract.md §1). A body that is not JSON is not an error at
 * parse time: the handler answers it in its own envelope, after auth and rate limiting (§4.2 order).
 *
 * A body that is JSON but absurdly shaped is refused here, before any handler stores or charges
 * anything: more than MAX_BODY_DEPTH levels of nesting (createTask stores `input` as JSON text, and
 * ~4,500 levels overflow the stack of JSON.stringify) or more than MAX_BODY_VALUES values. No kie
 * request comes near either bound: a createTask body is 3 levels and a few dozen values deep.
 */
export interface ParsedBody {
  readonly __peelBody: true;
  raw: string;
  /** undefined when the text is not JSON. */
  value: unknown;
}

/** Nesting levels of a JSON body: `{}` is 1, `{"input":{"a":[1]}}` is 3. */
export const MAX_BODY_DEPTH = 32;
/** Objects, arrays and scalars of a JSON body, keys not counted. */
export const MAX_BODY_VALUES = 10_000;

export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser("application/json");
  app.removeContentTypeParser("text/plain");
  const parse = (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, v?: unknown) => void) => {
    const raw = typeof body === "string" ? body : body.toString("utf8");
    let value: unknown;
    if (raw.length > 0) {
      try {
        // A leading UTF-8 BOM (some Windows tooling writes one) is not JSON; RFC 8259 §8.1 lets
        // a parser ignore it, and JSON.parse would otherwise refuse the whole body.
        value = JSON.parse(raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw);
      } catch {
        value = undefined;
      }
    }
    // Upload handlers read only top-level strings and never serialise the body: no bound there.
    const envelope = req.routeOptions?.config?.envelope ?? "kie";
    const problem = envelope !== "upload" && typeof value === "object" && value !== null ? shapeProblem(value) : null;
    if (problem) return done(shapeError(envelope, problem));
    done(null, { __peelBody: true, raw, value } satisfies ParsedBody);
  };
  app.addContentTypeParser("application/json", { parseAs: "string" }, parse);
  app.addContentTypeParser("text/plain", { parseAs: "string" }, parse);
  // Anything else that is not multipart (registered by @fastify/multipart) is tried as JSON too.
  app.addContentTypeParser("*", { parseAs: "string" }, parse);
}

/**
 * Walks a parsed body without recursion (JSON.parse itself copes with any depth, so the walk
 * must too) and stops at the first bound it crosses.
 */
export function shapeProblem(root: object): "too_deep" | "too_many_values" | null {
  const stack: { v: object; depth: number }[] = [{ v: root, depth: 1 }];
  let values = 1;
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (depth > MAX_BODY_DEPTH) return "too_deep";
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    values += children.length;
    if (values > MAX_BODY_VALUES) return "too_many_values";
    for (const c of children) if (typeof c === "object" && c !== null) stack.push({ v: c, depth: depth + 1 });
  }
  return null;
}

/** The refusal in the route's envelope. */
function shapeError(envelope: Envelope, problem: "too_deep" | "too_many_values"): Error {
  const name = problem === "too_deep" ? "body_too_deep" : "body_too_many_values";
  if (envelope === "peel") return new PeelError(name);
  return new KieError(name);
}

/** The request's JSON body, or what went wrong with it. */
export function jsonBody(req: FastifyRequest): { raw: string; value: unknown } {
  const b = req.body as ParsedBody | undefined;
  if (b && (b as ParsedBody).__peelBody) return { raw: b.raw, value: b.value };
  return { raw: "", value: undefined };
}

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
