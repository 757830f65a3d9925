import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { KieError } from "../../errors.js";
import { creditsNumber } from "../../services/settlement.js";
import { jsonBody, isJsonObject } from "../body.js";
import type { AppContext } from "../context.js";
import { kieOk } from "../envelope.js";
import { kieGuard, principalOf } from "../guards.js";
import { kieResponse } from "../schemas.js";

/** The common API: credits and download links (docs/kie-contract.md §8, §9). */
export function commonRoutes(app: FastifyInstance, ctx: AppContext): void {
  const guard = kieGuard(ctx);

  app.get(
    "/api/v1/chat/credit",
    {
      onRequest: guard,
      schema: {
        summary: "Remaining credits",
        description:
          "The account's balance minus credits held by unfinished tasks. Unmetered accounts report a fixed large balance.",
        tags: ["common"],
        response: { 200: kieResponse(Type.Number()) },
      },
    },
    async (req, reply) => {
      const { account } = principalOf(req);
      const balance = account.unmetered ? ctx.config.billing.unmeteredBalance : await ctx.store.getBalance(account.id);
      return kieOk(reply, creditsNumber(balance));
    },
  );

  app.post(
    "/api/v1/common/download-url",
    {
      onRequest: guard,
      schema: {
        summary: "20-minute direct-download link",
        description:
          "For a result or upload URL that peel issued to this account. The link needs no auth and is served as an attachment.",
        tags: ["common"],
        body: Type.Object({ url: Type.String() }),
        response: { 200: kieResponse(Type.String()) },
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const { value } = jsonBody(req);
      const url = isJsonObject(value) ? value.url : undefined;
      if (typeof url !== "string" || !url) throw new KieError("url_required");
      const res = await ctx.files.downloadLink(url, principalOf(req).account.id);
      if (res.kind === "not_ours") throw new KieError("external_url");
      if (res.kind === "gone") throw new KieError("file_not_found");
      return kieOk(reply, res.url);
    },
  );
}
