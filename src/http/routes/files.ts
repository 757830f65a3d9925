import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../context.js";

/**
 * GET/HEAD /files/... — result and upload bytes, no auth, no User-Agent requirement
 * (kie-contract §11). URLs are unguessable (random task ids, per-account tokens); a signed
 * download link (`?exp&sig`) adds `Content-Disposition: attachment`.
 */
export function fileRoutes(app: FastifyInstance, ctx: AppContext): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const urlPath = decodeURIComponent(req.url.split("?")[0]);
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
      const name = urlPath.slice(urlPath.lastIndexOf("/") + 1);
      reply.header("content-disposition", `attachment; filename="${name.replace(/["\\\r\n]/g, "_")}"`);
    }
    reply.header("last-modified", new Date(record.createdAt).toUTCString());
    if (req.method === "HEAD") {
      object.body.destroy();
      return reply.send();
    }
    return reply.send(object.body);
  };
  // Fastify adds the HEAD route for this GET and runs the same handler with method HEAD.
  app.get("/files/*", { schema: { hide: true }, config: { envelope: "kie" } }, handler);
}
