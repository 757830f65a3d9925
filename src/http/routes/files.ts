import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { FILE_ERRORS } from "../../errors.js";
import { attachmentDisposition } from "../../files/store-common.js";
import { THUMBNAIL_WIDTHS, UndecodableImageError } from "../../files/thumbnails.js";
import type { AppContext } from "../context.js";
import { sendError } from "../envelope.js";

/** The query as Fastify's parser hands it over: a repeated key is an array. */
type Query = Record<string, string | string[] | undefined>;
/** A repeated `exp` or `sig` is not a link peel issued: "" makes it fail the signature check. */
const single = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? "" : v);

/**
 * GET/HEAD /files/... — result and upload bytes, no auth, no User-Agent requirement
 * (docs/kie-contract.md §11). URLs are unguessable (random task ids, per-account tokens); a signed
 * download link (`?exp&sig`) adds `Content-Disposition: attachment`.
 */
export function fileRoutes(app: FastifyInstance, ctx: AppContext): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(req.url.split("?")[0]);
    } catch {
      // A malformed %-escape cannot name a file peel issued.
      return sendError(reply, "kie", FILE_ERRORS.not_found);
    }
    const q = req.query as Query;
    const width = q.w === undefined ? null : Number(q.w);
    // canonical spellings only ("256", not "256.0"): one cache entry per width
    if (width !== null && !(q.w === String(width) && THUMBNAIL_WIDTHS.includes(width))) {
      return sendError(reply, "kie", FILE_ERRORS.bad_width);
    }
    const res = await ctx.files.open(urlPath, { exp: single(q.exp), sig: single(q.sig) });
    // FileService's refusals are named like their FILE_ERRORS entries (docs/errors.md).
    if (res.kind !== "ok") return sendError(reply, "kie", FILE_ERRORS[res.kind]);
    const { record, attachment } = res;
    let object = res.object;
    if (width !== null) {
      // The signature (if any) was checked on the original's path: a signed link keeps working with ?w=.
      object.body.destroy();
      try {
        object = await ctx.thumbnails.get(record, width);
      } catch (err) {
        if (!(err instanceof UndecodableImageError)) throw err;
        return sendError(reply, "kie", FILE_ERRORS.not_an_image);
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
