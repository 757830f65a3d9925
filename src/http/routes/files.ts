import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { attachmentDisposition } from "../../files/store-common.js";
import type { AppContext } from "../context.js";

/**
 * GET/HEAD /files/... — result and upload bytes, no auth, no User-Agent requirement
 * (kie-contract §11). URLs are unguessable (random task ids, per-account tokens); a signed
 * download link (`?exp&sig`) adds `Content-Disposition: attachment`.
 */
export function fileRoutes(app: FastifyInstance, ctx: AppContext): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(req.url.split("?")[0]);
    } catch {
      // A malformed %-escape cannot name a file peel issued.
      return reply.code(404).send({ code: 404, msg: "File not found", data: null });
    }
    const q = req.query as { exp?: string; sig?: string };
    const res = await ctx.files.open(urlPath, { exp: q.exp, sig: q.sig });
    if (res.kind !== "ok") {
      const [status, msg] =
        res.kind === "expired"
          ? [404, "File has expired"]
          : res.kind === "bad_signature"
            ? [403, "Download link signature is invalid"]
            : res.kind === "link_expired"
              ? [403, "Download link has expired"]
              : [404, "File not found"];
      return reply.code(status).send({ code: status, msg, data: null });
    }
    const { object, record, attachment } = res;
    reply.header("content-type", object.contentType);
    reply.header("content-length", String(object.size));
    reply.header("cache-control", "private, max-age=3600");
    if (attachment) {
      reply.header("content-disposition", attachmentDisposition(urlPath.slice(urlPath.lastIndexOf("/") + 1)));
    }
    reply.header("last-modified", new Date(record.createdAt).toUTCString());
    if (req.method === "HEAD") {
      object.body.destroy();
      return reply.send();
    }
    return reply.send(object.body);
  };
  // HEAD is declared here rather than left to Fastify's automatic HEAD route: that one rewrites
  // Content-Length to the length of the (empty) HEAD payload, i.e. 0, and §11 wants the file's.
  app.route({ method: ["GET", "HEAD"], url: "/files/*", schema: { hide: true }, config: { envelope: "kie" }, handler });
}
