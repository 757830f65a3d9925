import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { UploadError } from "../../errors.js";
import { decodeBase64Upload } from "../../files/upload-input.js";
import { guardedRequest, OutboundError } from "../../net/guarded-fetch.js";
import { jsonBody, isJsonObject } from "../body.js";
import type { AppContext } from "../context.js";
import { uploadOk } from "../envelope.js";
import { kieGuard, principalOf } from "../guards.js";
import { UploadDataSchema, uploadResponse } from "../schemas.js";

/**
 * The file-upload API (kie-contract §10): base64, multipart stream and remote URL. Type and size
 * are judged from the bytes; bodies are streamed to storage with a byte cap, never held whole.
 */
export function uploadRoutes(app: FastifyInstance, ctx: AppContext): void {
  const guard = kieGuard(ctx, { envelope: "upload" });
  const max = ctx.config.files.uploadMaxBytes;
  const common = { onRequest: guard, config: { envelope: "upload" as const }, validatorCompiler: () => () => true };
  const response = { 200: uploadResponse(UploadDataSchema) };

  async function ensureEnabled(): Promise<void> {
    const sw = await ctx.switches.get(ctx.clock.now());
    if (sw.disabledModels.includes("feature:uploads")) throw new UploadError("disabled");
  }

  app.post(
    "/api/file-base64-upload",
    {
      ...common,
      // base64 inflates by 4/3; kie parses bodies up to 42 MiB for a 30 MiB file.
      bodyLimit: Math.ceil(max * 1.4) + 64 * 1024,
      schema: {
        summary: "Upload from Base64 or a data URL",
        tags: ["uploads"],
        body: Type.Object({ base64Data: Type.String(), uploadPath: Type.Optional(Type.String()), fileName: Type.Optional(Type.String()) }),
        response,
      },
    },
    async (req, reply) => {
      await ensureEnabled();
      const { value } = jsonBody(req);
      const b = isJsonObject(value) ? value : {};
      const bytes = decodeBase64Upload(b.base64Data);
      if (bytes.length > max) throw new UploadError("too_large");
      const data = await ctx.files.saveUpload({ account: principalOf(req).account, uploadPath: b.uploadPath, fileName: b.fileName, body: bytes });
      return uploadOk(reply, data);
    },
  );

  app.post(
    "/api/file-stream-upload",
    {
      ...common,
      schema: {
        summary: "Upload a multipart file",
        description: "multipart/form-data with a `file` part and optional `uploadPath` and `fileName` text parts, in any order.",
        tags: ["uploads"],
        consumes: ["multipart/form-data"],
        response,
      },
    },
    async (req, reply) => {
      await ensureEnabled();
      if (!req.isMultipart()) throw new UploadError("missing_file");
      const form = await readMultipart(req, max);
      try {
        if (!form.filePath) throw new UploadError("missing_file");
        const data = await ctx.files.saveUpload({
          account: principalOf(req).account,
          uploadPath: form.fields.uploadPath,
          fileName: form.fields.fileName,
          body: createReadStream(form.filePath),
        });
        return uploadOk(reply, data);
      } finally {
        await form.cleanup();
      }
    },
  );

  app.post(
    "/api/file-url-upload",
    {
      ...common,
      schema: {
        summary: "Upload from a remote URL",
        description: "Fetched with a 30 s timeout, at most 3 redirects, under the outbound address policy on every hop.",
        tags: ["uploads"],
        body: Type.Object({ fileUrl: Type.String(), uploadPath: Type.Optional(Type.String()), fileName: Type.Optional(Type.String()) }),
        response,
      },
    },
    async (req, reply) => {
      await ensureEnabled();
      const { value } = jsonBody(req);
      const b = isJsonObject(value) ? value : {};
      const fileUrl = b.fileUrl;
      if (typeof fileUrl !== "string" || !fileUrl) throw new UploadError("missing_file_url");
      let res;
      try {
        res = await guardedRequest({
          url: fileUrl,
          method: "GET",
          policy: ctx.policy,
          maxRedirects: 3,
          connectTimeoutMs: Math.min(10_000, ctx.config.files.urlUploadTimeoutMs),
          timeoutMs: ctx.config.files.urlUploadTimeoutMs,
          maxBytes: max,
        });
      } catch (err) {
        req.log.info({ err: (err as Error).message }, "url upload fetch failed");
        throw err instanceof OutboundError && err.kind === "too_large" ? new UploadError("too_large") : new UploadError("download_failed");
      }
      if (res.status < 200 || res.status > 299) {
        await drain(res.body);
        throw new UploadError("download_failed");
      }
      try {
        const data = await ctx.files.saveUpload({
          account: principalOf(req).account,
          uploadPath: b.uploadPath,
          fileName: b.fileName,
          body: asReadable(res.body),
        });
        return uploadOk(reply, data);
      } catch (err) {
        if (err instanceof OutboundError) throw err.kind === "too_large" ? new UploadError("too_large") : new UploadError("download_failed");
        throw err;
      }
    },
  );
}


function asReadable(body: AsyncIterable<Buffer> | Readable): Readable {
  return body instanceof Readable ? body : Readable.from(body);
}

async function drain(body: AsyncIterable<Buffer> | Readable): Promise<void> {
  try {
    for await (const _ of body) void _;
  } catch {
    /* the response is being discarded */
  }
}

/** Streams the `file` part to a temp file (memory stays bounded), collects the text fields. */
async function readMultipart(
  req: FastifyRequest,
  maxBytes: number,
): Promise<{ filePath: string | null; fields: Record<string, string>; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "peel-upload-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const fields: Record<string, string> = {};
  let filePath: string | null = null;
  try {
    for await (const part of req.parts({ limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 4096 } })) {
      if (part.type === "file") {
        if (part.fieldname !== "file" || filePath) {
          part.file.resume();
          continue;
        }
        filePath = path.join(dir, "file");
        await pipeline(part.file, createWriteStream(filePath));
        if (part.file.truncated) throw new UploadError("too_large");
      } else if (typeof part.value === "string") {
        fields[part.fieldname] = part.value;
      }
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { filePath, fields, cleanup };
}
