import type { FastifyReply } from "fastify";
import type { ErrorDef, PeelErrorDef } from "../errors.js";

/** Which envelope a route answers in: kie task/common API, kie upload API, or peel's own. */
export type Envelope = "kie" | "upload" | "peel";

declare module "fastify" {
  interface FastifyContextConfig {
    envelope?: Envelope;
  }
}

export function kieOk(reply: FastifyReply, data: unknown): FastifyReply {
  return reply.code(200).send({ code: 200, msg: "success", data });
}

export function uploadOk(reply: FastifyReply, data: unknown): FastifyReply {
  return reply.code(200).send({ success: true, code: 200, msg: "File uploaded successfully", data });
}

/** Renders an error in the route's envelope: the one place error bodies are built (from src/errors.ts). */
export function sendError(
  reply: FastifyReply,
  envelope: Envelope,
  def: ErrorDef | PeelErrorDef,
  opts: { retryAfter?: number } = {},
): FastifyReply {
  if (opts.retryAfter !== undefined) reply.header("retry-after", String(Math.max(1, Math.ceil(opts.retryAfter))));
  reply.code(def.http);
  if (envelope === "upload") return reply.send({ success: false, code: def.code, msg: def.msg, data: null });
  if (envelope === "peel") {
    return reply.send({
      error: { code: String(def.code), message: def.msg, requestId: reply.request.id },
    });
  }
  return reply.send({ code: def.code, msg: def.msg, data: null });
}

/**
 * The kie error envelope as text, for answers written before Fastify has a reply to send them
 * with (Node's parser refused the request: error-handler.ts writes it on the raw socket).
 */
export function kieErrorText(def: ErrorDef): string {
  return JSON.stringify({ code: def.code, msg: def.msg, data: null });
}
