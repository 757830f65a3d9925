import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { attachmentDisposition } from "../../files/store-common.js";
import { THUMBNAIL_WIDTHS, UndecodableImageError } from "../../files/thumbnails.js";
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
    const q = req.query as { exp?: string; sig?: string; w?: unknown };
    const width = q.w === undefined ? null : Number(q.w);
    // canonical spellings only ("256", not "256.0"): one cache entry per width
    if (width !== null && !(q.w === String(width) && THUMBNAIL_WIDTHS.includes(width))) {
      return reply.code(400).send({ code: 400, msg: `w must be one of ${THUMBNAIL_WIDTHS.join(", ")}`, data: null });
    }
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
    const { record, attachment } = res;
    let object = res.object;
    if (width !== null) {
      // The signature (if any) was checked on the original's path: a signed link keeps working with ?w=.
      object.body.destroy();
      try {
        object = await ctx.thumbnails.get(record, width);
      } catch (err) {
        if (!(err instanceof UndecodableImageError)) throw err;
        return reply.code(422).send({ code: 422, msg: "The file is not an image peel can decode", data: null });
      }
    }
    reply.header("content-type", object.contentType);
    reply.header("content-length", String(object.size));
    reply.header("cache-control", "private, max-age=3600");
    if (attachment) {
      const name = urlPath.slice(urlPath.lastIndexOf("/") + 1);
      reply.header("content-disposition", attachmentDisposition(width === null ? name : name.replace(/(\.[^.]*)?$/, ".webp")));
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
