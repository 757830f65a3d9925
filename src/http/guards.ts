import type { FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import type { KeyLimits } from "../domain/types.js";
import { KIE_ERRORS, UPLOAD_ERRORS } from "../errors.js";
import type { RateBucket } from "../limits/rate-limiter.js";
import type { Principal } from "../services/api-keys.js";
import type { AppContext } from "./context.js";
import { sendError } from "./envelope.js";

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The principal a guarded route runs as (the guard has already refused anonymous calls). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error("route is missing its auth guard");
  return req.principal;
}

function limitsFor(ctx: AppContext, limits: KeyLimits, bucket: RateBucket): { max: number; windowMs: number } {
  const d = ctx.config.limits;
  if (bucket === "create") return { max: limits.createMax ?? d.createMax, windowMs: limits.createWindowMs ?? d.createWindowMs };
  if (bucket === "read") return { max: limits.readMax ?? d.readMax, windowMs: limits.readWindowMs ?? d.readWindowMs };
  return { max: 0, windowMs: 1000 };
}

/**
 * Runs before the body is parsed, in the order of docs/kie-contract.md §4.2: authenticate (401),
 * maintenance (455, createTask only), rate limit (HTTP 429 with Retry-After; refused calls do not
 * count, admitted ones count even if they later fail validation).
 */
export function kieGuard(
  ctx: AppContext,
  opts: { bucket?: RateBucket; maintenance?: boolean; envelope?: "kie" | "upload" } = {},
): onRequestHookHandler {
  const envelope = opts.envelope ?? "kie";
  return async function guard(req: FastifyRequest, reply: FastifyReply) {
    const now = ctx.clock.now();
    const principal = await ctx.auth.authenticate(req.headers.authorization, now);
    if (!principal) {
      return sendError(reply, envelope, envelope === "upload" ? UPLOAD_ERRORS.unauthorized : KIE_ERRORS.unauthorized);
    }
    req.principal = principal;
    if (opts.maintenance && (await ctx.switches.get(now)).maintenance) {
      return sendError(reply, envelope, KIE_ERRORS.maintenance);
    }
    if (opts.bucket) {
      const { max, windowMs } = limitsFor(ctx, principal.key.limits, opts.bucket);
      const d = await ctx.limiter.hit(principal.key.id, opts.bucket, max, windowMs, now);
      if (!d.ok) return sendError(reply, envelope, KIE_ERRORS.rate_limited, { retryAfter: d.retryAfterSec });
    }
  };
}
