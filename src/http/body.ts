import type { FastifyInstance, FastifyRequest } from "fastify";

/**
 * kie clients sometimes omit Content-Type or send the wrong one, so JSON endpoints parse the body
 * as JSON whatever it says (docs/kie-contract.md §1). A body that is not JSON is not an error at parse
 * time: the handler answers it in its own envelope, after auth and rate limiting (§4.2 order).
 */
export interface ParsedBody {
  readonly __peelBody: true;
  raw: string;
  /** undefined when the text is not JSON. */
  value: unknown;
}

export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser("application/json");
  app.removeContentTypeParser("text/plain");
  const parse = (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, v?: unknown) => void) => {
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
    done(null, { __peelBody: true, raw, value } satisfies ParsedBody);
  };
  app.addContentTypeParser("application/json", { parseAs: "string" }, parse);
  app.addContentTypeParser("text/plain", { parseAs: "string" }, parse);
  // Anything else that is not multipart (registered by @fastify/multipart) is tried as JSON too.
  app.addContentTypeParser("*", { parseAs: "string" }, parse);
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
