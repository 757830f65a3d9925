import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { KIE_ERRORS, KieError, PEEL_ERRORS, PeelError, UPLOAD_ERRORS, UploadError } from "../errors.js";
import { sendError, type Envelope } from "./envelope.js";

export function envelopeOf(req: FastifyRequest): Envelope {
  return req.routeOptions?.config?.envelope ?? "kie";
}

/**
 * Three tiers: our own errors keep their status and text; framework errors (body too large, bad
 * multipart, ...) get a mapped client error; anything else is a logged 500 with a bland message. A
 * client mistake is never a 500. Every body comes from the registry (src/errors.ts) via sendError.
 */
export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    const envelope = envelopeOf(req);
    if (err instanceof KieError)
      return sendError(reply, envelope === "upload" ? "kie" : envelope, err.def, { retryAfter: err.retryAfter });
    if (err instanceof UploadError) return sendError(reply, "upload", err.def);
    if (err instanceof PeelError) return sendError(reply, "peel", err.def);
    const code = (err as FastifyError).code;
    const status = (err as FastifyError).statusCode;
    if (code === "FST_ERR_CTP_BODY_TOO_LARGE" || code === "FST_REQ_FILE_TOO_LARGE" || code === "FST_FILES_LIMIT") {
      if (envelope === "upload") return sendError(reply, "upload", UPLOAD_ERRORS.too_large);
      if (envelope === "peel") return sendError(reply, "peel", PEEL_ERRORS.body_too_large);
      return sendError(reply, "kie", KIE_ERRORS.body_too_large);
    }
    if (status && status >= 400 && status < 500) {
      // Malformed multipart, bad content length, unsupported media type...: the client's fault.
      if (envelope === "upload") return sendError(reply, "upload", UPLOAD_ERRORS.missing_file);
      if (envelope === "peel") return sendError(reply, "peel", { ...PEEL_ERRORS.invalid_request, msg: err.message });
      return sendError(reply, "kie", KIE_ERRORS.body_not_object);
    }
    req.log.error({ err, reqId: req.id, method: req.method, url: req.url.split("?")[0] }, "unhandled error");
    if (envelope === "upload") return sendError(reply, "upload", UPLOAD_ERRORS.internal);
    if (envelope === "peel") return sendError(reply, "peel", PEEL_ERRORS.internal);
    return sendError(reply, "kie", KIE_ERRORS.internal);
  });

  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith("/admin/")) return sendError(reply, "peel", PEEL_ERRORS.route_not_found);
    return sendError(reply, "kie", KIE_ERRORS.route_not_found);
  });
}
