import { readFile } from "node:fs/promises";
import path from "node:path";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { AppContext } from "../context.js";

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".json": "application/json",
};
const ASSET_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The web console at /console: the static files `npm run build` writes to dist/console
 * (PEEL_CONSOLE_DIR), served with a strict Content-Security-Policy — scripts, styles and fetches
 * from this origin only, no inline script, images also from the public URL (results) and
 * data:/blob: (previews of files being uploaded). The console keeps the API key in sessionStorage
 * and sends it as a Bearer header, so nothing secret is ever in a URL. Asset names carry a content
 * hash and are cached for a year; the page itself is never cached.
 */
export function consoleRoutes(app: FastifyInstance, ctx: AppContext): void {
  const dir = ctx.config.consoleDir;
  const publicUrl = new URL(ctx.config.publicUrl);
  const base = `${publicUrl.pathname.replace(/\/+$/, "")}/console/`;
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: blob: ${publicUrl.origin}`,
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  const secure = (reply: FastifyReply) =>
    reply
      .header("content-security-policy", csp)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .header("x-frame-options", "DENY");

  let page: Promise<string | null> | null = null;
  const index = async (reply: FastifyReply) => {
    // Built asset paths start with /console/; behind a path prefix (PEEL_PUBLIC_URL=…/peel) they move with it.
    page ??= readFile(path.join(dir, "index.html"), "utf8").then(
      (html) => html.replaceAll('"/console/', `"${base}`),
      () => null,
    );
    const html = await page;
    secure(reply).header("cache-control", "no-cache");
    if (html === null) {
      page = null;
      return reply
        .code(503)
        .type("text/plain; charset=utf-8")
        .send(`The console is not built. Run \`npm run build\` (it writes ${dir}), then reload.\n`);
    }
    return reply.type("text/html; charset=utf-8").send(html);
  };

  const assets = new Map<string, Buffer>();
  const opts = { schema: { hide: true }, config: { envelope: "kie" as const } };
  app.get("/console", opts, (_req, reply) => index(reply));
  app.get("/console/", opts, (_req, reply) => index(reply));
  app.get("/console/assets/:name", opts, async (req, reply) => {
    const name = (req.params as { name: string }).name;
    const type = TYPES[path.extname(name)];
    let bytes = assets.get(name);
    if (!bytes && ASSET_NAME.test(name) && type) {
      bytes = await readFile(path.join(dir, "assets", name)).catch(() => undefined);
      if (bytes) assets.set(name, bytes);
    }
    secure(reply);
    if (!bytes) return reply.code(404).type("text/plain; charset=utf-8").send("Not Found\n");
    return reply.header("cache-control", "public, max-age=31536000, immutable").type(type).send(bytes);
  });
}
