import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type ErrorDef,
  KIE_ERRORS,
  KieError,
  PEEL_ERRORS,
  PeelError,
  PROTOCOL_ERRORS,
  UPLOAD_ERRORS,
  UploadError,
} from "../errors.js";
import { isStorageFull, storageErrorLine } from "../files/storage-full.js";
import type { StorageStatus } from "../files/storage-status.js";
import { kieErrorText, sendError, type Envelope } from "./envelope.js";

export function envelopeOf(req: FastifyRequest): Envelope {
  return req.routeOptions?.config?.envelope ?? "kie";
}

/**
 * Three tiers: our own errors keep their status and text; framework errors (body too large, bad
 * multipart, ...) get a mapped client error; anything else is a logged 500 with a bland message. A
 * client mistake is never a 500. A full disk or database is not a bug either: it answers
 * `storage_full` (no stack anywhere) and marks the storage status that /readyz reports. Every
 * body comes from the registry (src/errors.ts) via sendError.
 */
export function registerErrorHandlers(app: FastifyInstance, storage?: StorageStatus): void {
  app.setErrorHandler((err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    const envelope = envelopeOf(req);
    if (err instanceof KieError)
      return sendError(reply, envelope === "upload" ? "kie" : envelope, err.def, { retryAfter: err.retryAfter });
    if (err instanceof UploadError) return sendError(reply, "upload", err.def);
    if (err instanceof PeelError) return sendError(reply, "peel", err.def);
    if (isStorageFull(err)) {
      storage?.reportFull(req.routeOptions?.url ?? "request", err);
      req.log.warn(
        { event: "storage:full", reqId: req.id, url: req.url.split("?")[0], error: storageErrorLine(err) },
        "storage is full: request refused",
      );
      if (envelope === "upload") return sendError(reply, "upload", UPLOAD_ERRORS.storage_full);
      if (envelope === "peel") return sendError(reply, "peel", PEEL_ERRORS.storage_full);
      return sendError(reply, "kie", KIE_ERRORS.storage_full);
    }
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

  app.setNotFoundHandler((req, reply) => notFound(req, reply));

  // `Expect: <anything but 100-continue>`: Node answers 417 with an empty body unless asked.
  app.server.on("checkExpectation", (_req: IncomingMessage, res: ServerResponse) => {
    writeProtocolError(res, PROTOCOL_ERRORS.expectation_failed);
  });
}

function notFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (req.url.startsWith("/admin/")) return sendError(reply, "peel", PEEL_ERRORS.route_not_found);
  return sendError(reply, "kie", KIE_ERRORS.route_not_found);
}

/**
 * Fastify's `frameworkErrors`: the router could not take the request apart — a malformed
 * percent-escape in the path (FST_ERR_BAD_URL: `/files/%zz`) or an overlong path parameter. No
 * route can match such a path, so it answers as an unknown route does, in the same envelope.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (err.code === "FST_ERR_BAD_URL" || err.code === "FST_ERR_MAX_PARAM_LENGTH") {
    notFound(req, reply);
    return;
  }
  req.log.error({ err, reqId: req.id }, "router error");
  if (req.url.startsWith("/admin/")) sendError(reply, "peel", PEEL_ERRORS.internal);
  else sendError(reply, "kie", KIE_ERRORS.internal);
}

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser refused the bytes on the socket (bad
 * Content-Length or Transfer-Encoding, header overflow, request timeout, garbage). There is no
 * request object, so the answer is written on the socket by hand, then the socket is closed:
 * after a framing error nothing else on it can be trusted.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset or an already closed socket has nobody to answer.
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const def =
    err.code === "HPE_HEADER_OVERFLOW"
      ? PROTOCOL_ERRORS.headers_too_large
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? PROTOCOL_ERRORS.request_timeout
        : PROTOCOL_ERRORS.bad_request;
  // Bytes of a request already being answered (Node's parser can fail mid-response on a
  // keep-alive socket): writing a status line now would corrupt that response.
  const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !pending?.headersSent) {
    const body = kieErrorText(def);
    socket.write(
      `HTTP/1.1 ${def.http} ${STATUS_CODES[def.http]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

function writeProtocolError(res: ServerResponse, def: ErrorDef): void {
  const body = kieErrorText(def);
  res.writeHead(def.http, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  res.end(body);
}
