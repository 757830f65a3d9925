import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { UploadError } from "../../errors.js";
import { isStorageFull } from "../../files/storage-full.js";
import { decodeBase64Upload } from "../../files/upload-input.js";
import { guardedRequest, OutboundError } from "../../net/guarded-fetch.js";
import { jsonBody, isJsonObject } from "../body.js";
import type { AppContext } from "../context.js";
import { uploadOk } from "../envelope.js";
import { kieGuard, principalOf } from "../guards.js";
import { UploadDataSchema, uploadResponse } from "../schemas.js";

/**
 * The file-upload API (docs/kie-contract.md §10): base64, multipart stream and remote URL. Type and size
 * are judged from the bytes; bodies are streamed to storage with a byte cap, never held whole.
 */
export function uploadRoutes(app: FastifyInstance, ctx: AppContext): void {
  const guard = kieGuard(ctx, { envelope: "upload" });
  const spill = new SpillDir(path.join(ctx.config.dataDir, "tmp"));
  const max = ctx.config.files.uploadMaxBytes;
  const common = { onRequest: guard, config: { envelope: "upload" as const }, validatorCompiler: () => () => true };
  const response = { 200: uploadResponse(UploadDataSchema) };

  async function ensureEnabled(): Promise<void> {
    const sw = await ctx.switches.get(ctx.clock.now());
    if (sw.disabledModels.includes("feature:uploads")) throw new UploadError("disabled");
  }

  // base64 inflates by 4/3; kie parses bodies up to 42 MiB for a 30 MiB file.
  const base64BodyLimit = Math.ceil(max * 1.4) + 64 * 1024;
  const base64Budget = new BodyBudget(BASE64_BODIES_IN_FLIGHT * base64BodyLimit);

  app.post(
    "/api/file-base64-upload",
    {
      ...common,
      bodyLimit: base64BodyLimit,
      // After auth (onRequest), before the body is read: only so many bytes of base64 JSON are
      // held at once; further requests wait their turn with their bodies unread.
      preParsing: async (req, reply, payload) => {
        const declared = Number(req.headers["content-length"]);
        const weight = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, base64BodyLimit) : base64BodyLimit;
        await base64Budget.enter(weight, reply.raw);
        return payload;
      },
      schema: {
        summary: "Upload from Base64 or a data URL",
        tags: ["uploads"],
        body: Type.Object({
          base64Data: Type.String(),
          uploadPath: Type.Optional(Type.String()),
          fileName: Type.Optional(Type.String()),
        }),
        response,
      },
    },
    async (req, reply) => {
      await ensureEnabled();
      const { value } = jsonBody(req);
      const b = isJsonObject(value) ? value : {};
      const bytes = decodeBase64Upload(b.base64Data);
      if (bytes.length > max) throw new UploadError("too_large");
      const data = await ctx.files.saveUpload({
        account: principalOf(req).account,
        uploadPath: b.uploadPath,
        fileName: b.fileName,
        body: bytes,
      });
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
      const form = await readMultipart(req, max, await spill.dir());
      try {
        if (!form.filePath) throw new UploadError("missing_file");
        const data = await ctx.files.saveUpload({
          account: principalOf(req).account,
          uploadPath: form.fields.uploadPath,
          fileName: form.fields.fileName,
          partFileName: form.partFileName,
          body: createReadStream(form.filePath),
          // known length: S3 takes it as one streamed PutObject, no 5 MiB part buffers per upload
          size: (await stat(form.filePath)).size,
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
        body: Type.Object({
          fileUrl: Type.String(),
          uploadPath: Type.Optional(Type.String()),
          fileName: Type.Optional(Type.String()),
        }),
        response,
      },
    },
    async (req, reply) => {
      await ensureEnabled();
      const { value } = jsonBody(req);
      const b = isJsonObject(value) ? value : {};
      const fileUrl = b.fileUrl;
      if (typeof fileUrl !== "string" || !fileUrl) throw new UploadError("missing_file_url");
      let res: Awaited<ReturnType<typeof guardedRequest>>;
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
        throw err instanceof OutboundError && err.kind === "too_large"
          ? new UploadError("too_large")
          : new UploadError("download_failed");
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
        if (err instanceof OutboundError)
          throw err.kind === "too_large" ? new UploadError("too_large") : new UploadError("download_failed");
        throw err;
      }
    },
  );
}

/**
 * How many largest-size base64 bodies are handled at once. A JSON body cannot be streamed: its
 * text, the parsed base64 string and the decoded bytes (about 3.5× the file) all live while it is
 * handled, so twenty concurrent 30 MiB base64 uploads took 2 GB of RSS before this bound
 * (bench/upload-http-memory.ts, BENCH_BASE64=1). Smaller bodies share the same byte budget.
 */
const BASE64_BODIES_IN_FLIGHT = 2;

/**
 * A FIFO byte budget for request bodies. `enter` resolves once the weight fits (a body bigger
 * than the whole budget enters alone); the weight is given back when the response closes, which
 * also happens when the client goes away, so nothing leaks.
 */
class BodyBudget {
  private used = 0;
  private readonly queue: { weight: number; admit: () => void }[] = [];

  constructor(private readonly limit: number) {}

  enter(weight: number, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      let admitted = false;
      const waiter = {
        weight,
        admit: () => {
          admitted = true;
          this.used += weight;
          resolve();
        },
      };
      res.once("close", () => {
        if (admitted) {
          this.used -= weight;
        } else {
          // gone while queued: drop the place in line; the body read that follows fails on the closed socket
          this.queue.splice(this.queue.indexOf(waiter), 1);
          resolve();
        }
        this.pump();
      });
      this.queue.push(waiter);
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && (this.used === 0 || this.used + this.queue[0].weight <= this.limit)) {
      this.queue.shift()!.admit();
    }
  }
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

/** Parts a stream upload may carry; only `file`, `uploadPath` and `fileName` are read. */
const MAX_FILE_PARTS = 8;
const MAX_TEXT_PARTS = 32;

/**
 * Where multipart uploads are staged: `<data dir>/tmp`, on the same disk as the files themselves
 * rather than os.tmpdir() (often a small RAM-backed tmpfs in containers, where a few concurrent
 * 30 MiB uploads would eat the container's memory). Staging folders a crash left behind (the
 * process was killed mid-upload) are removed the first time the directory is used.
 */
class SpillDir {
  private ready: Promise<string> | null = null;
  constructor(private readonly root: string) {}

  dir(): Promise<string> {
    this.ready ??= this.prepare().catch((err) => {
      this.ready = null; // e.g. a full disk: try again on the next upload
      throw err;
    });
    return this.ready;
  }

  private async prepare(): Promise<string> {
    await mkdir(this.root, { recursive: true });
    const stale = Date.now() - STALE_SPILL_MS;
    for (const name of await readdir(this.root)) {
      if (!name.startsWith(SPILL_PREFIX)) continue;
      const p = path.join(this.root, name);
      const st = await stat(p).catch(() => null);
      if (st && st.mtimeMs < stale) await rm(p, { recursive: true, force: true }).catch(() => undefined);
    }
    return this.root;
  }
}

const SPILL_PREFIX = "peel-upload-";
/** Older than any upload can take (the request timeout is 2 minutes). */
const STALE_SPILL_MS = 3_600_000;

/**
 * Streams the `file` part to a temp file (memory stays bounded), collects the text fields. A body
 * the multipart parser cannot read (no boundary, truncated, malformed part headers) is the
 * client's mistake: `missing_file`, as docs/errors.md says. Failures of our own disk (they carry a
 * `syscall`, busboy's never do) are passed on as they are: a full disk answers `storage_full`.
 */
async function readMultipart(
  req: FastifyRequest,
  maxBytes: number,
  spillRoot: string,
): Promise<{
  filePath: string | null;
  partFileName: string | null;
  fields: Record<string, string>;
  cleanup: () => Promise<void>;
}> {
  const dir = await mkdtemp(path.join(spillRoot, SPILL_PREFIX));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const fields: Record<string, string> = {};
  let filePath: string | null = null;
  let partFileName: string | null = null;
  try {
    // files > 1: a client that adds another file part (or sends `file` twice) gets its first
    // `file` stored and the rest drained, not "File size exceeds the limit" from busboy's count.
    for await (const part of req.parts({
      limits: { fileSize: maxBytes, files: MAX_FILE_PARTS, fields: MAX_TEXT_PARTS, fieldSize: 4096 },
    })) {
      if (part.type === "file") {
        if (part.fieldname !== "file" || filePath) {
          part.file.resume();
          continue;
        }
        filePath = path.join(dir, "file");
        partFileName = part.filename || null;
        await pipeline(part.file, createWriteStream(filePath));
        if (part.file.truncated) throw new UploadError("too_large");
      } else if (typeof part.value === "string") {
        fields[part.fieldname] = part.value;
      }
    }
  } catch (err) {
    await cleanup();
    throw isClientMultipartError(err) ? new UploadError("missing_file") : err;
  }
  return { filePath, partFileName, fields, cleanup };
}

/** Errors busboy and @fastify/multipart raise for a body that is not well-formed multipart. */
function isClientMultipartError(err: unknown): boolean {
  if (err instanceof UploadError || !(err instanceof Error)) return false;
  const e = err as Error & { syscall?: unknown; statusCode?: unknown; code?: unknown };
  // Too-large and too-many-parts refusals keep their own mapping in the error handler.
  if (typeof e.statusCode === "number" || typeof e.syscall === "string" || isStorageFull(err)) return false;
  return true;
}
