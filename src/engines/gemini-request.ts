import type { GenerateRequest } from "./engine.js";
import { googleImageModel } from "./gemini-models.js";

/**
 * Building the generateContent request (docs/gemini.md#request). Pure functions, so the wire shape
 * can be tested without a server.
 */

export const GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";

/**
 * Vertex host per location (docs/gemini.md#endpoints-and-keys): `global` → the global host, the
 * multi-regions `us` and `eu` → their `rep` hosts, anything else → the regional host.
 */
export function vertexBaseUrl(location: string): string {
  if (location === "global") return "https://aiplatform.googleapis.com";
  if (location === "us" || location === "eu") return `https://aiplatform.${location}.rep.googleapis.com`;
  return `https://${location}-aiplatform.googleapis.com`;
}

/** `models/gemini-3-pro-image` and `gemini-3-pro-image` name the same model; the path wants it once. */
export function bareModelId(model: string): string {
  return model.replace(/^(?:publishers\/google\/)?models\//, "");
}

export type EndpointTarget =
  | { mode: "gemini"; baseUrl?: string | null }
  | { mode: "vertex"; baseUrl?: string | null; project?: string | null; location: string };

/** The full generateContent URL for a model. */
export function generateContentUrl(target: EndpointTarget, model: string): string {
  const m = encodeURIComponent(bareModelId(model));
  if (target.mode === "gemini") {
    const base = trimSlash(target.baseUrl || GEMINI_DEFAULT_BASE_URL);
    return `${base}/v1beta/models/${m}:generateContent`;
  }
  const base = trimSlash(target.baseUrl || vertexBaseUrl(target.location));
  // Without a project this is Vertex "express mode" (API key, no project in the path).
  if (!target.project) return `${base}/v1beta1/publishers/google/models/${m}:generateContent`;
  const p = encodeURIComponent(target.project);
  const l = encodeURIComponent(target.location);
  return `${base}/v1beta1/projects/${p}/locations/${l}/publishers/google/models/${m}:generateContent`;
}

const trimSlash = (s: string): string => s.replace(/\/+$/, "");

/** The parts of the request body peel sends, camelCase throughout. */
export interface GenerateContentBody {
  contents: Array<{
    role: "user";
    parts: Array<{ text: string } | { inlineData: { mimeType: string; data: string } }>;
  }>;
  generationConfig: {
    responseModalities: ["TEXT", "IMAGE"];
    imageConfig?: { aspectRatio?: string; imageSize?: string };
  };
  /** Grounding with Google Search (kie's `google_search`); the same shape on Vertex. */
  tools?: Array<{ googleSearch: Record<string, never> }>;
}

/**
 * `imageSize` for a request: the task's resolution; for a single-size kie model served by a
 * model with sizes (google/nano-banana on gemini-3.1-flash-image), `1K`; never for a model that
 * takes none (gemini-2.5-flash-image), nor for a single-size task on a model peel does not know.
 */
export function imageSizeFor(req: Pick<GenerateRequest, "upstreamModel" | "resolution">): string | undefined {
  const known = googleImageModel(req.upstreamModel);
  if (known?.imageSizes === null) return undefined;
  return req.resolution ?? (known ? "1K" : undefined);
}

/** Whether `google_search` is sent: asked for, and the model is not known to lack it. */
export function sendsGoogleSearch(req: Pick<GenerateRequest, "upstreamModel" | "googleSearch">): boolean {
  return req.googleSearch === true && googleImageModel(req.upstreamModel)?.googleSearch !== false;
}

/**
 * Prompt first, then every reference in request order with its sniffed MIME type
 * (docs/gemini.md#request). `aspectRatio` is left out for `auto` (the model follows the input); `imageSize` is always sent
 * when the model has sizes, `1K` included (imageSizeFor). `tools` carries the search tool when the
 * task asked for `google_search` (sendsGoogleSearch). Deliberately absent: thinkingConfig (Pro
 * cannot switch thinking off; 2.5 answers 400), candidateCount and the Vertex-only options.
 */
export function buildGenerateContentBody(req: GenerateRequest): GenerateContentBody {
  const parts: GenerateContentBody["contents"][number]["parts"] = [{ text: req.prompt }];
  for (const img of req.images) {
    parts.push({ inlineData: { mimeType: img.mimeType, data: img.bytes.toString("base64") } });
  }
  const imageConfig: { aspectRatio?: string; imageSize?: string } = {};
  if (req.aspectRatio && req.aspectRatio !== "auto") imageConfig.aspectRatio = req.aspectRatio;
  const imageSize = imageSizeFor(req);
  if (imageSize) imageConfig.imageSize = imageSize;

  const body: GenerateContentBody = {
    contents: [{ role: "user", parts }],
    // TEXT as well as IMAGE so that a refusal comes back as text we can log.
    generationConfig: { responseModalities: ["TEXT", "IMAGE"] },
  };
  if (Object.keys(imageConfig).length > 0) body.generationConfig.imageConfig = imageConfig;
  if (sendsGoogleSearch(req)) body.tools = [{ googleSearch: {} }];
  return body;
}

/**
 * The request body as bytes to stream, and its exact length. References are base64-encoded slice
 * by slice while undici sends them, so neither a base64 copy of every reference (≈ 1.33 × their
 * size, ~70 MB for eight 6.6 MB references) nor a JSON string of the whole body (the same again)
 * ever exists: a task's memory stays at its prepared references (docs/engines.md, "Memory").
 * The bytes are exactly `JSON.stringify(buildGenerateContentBody(req))`.
 */
export function generateContentPayload(req: GenerateRequest): { length: number; chunks: () => Generator<Buffer> } {
  // Serialise with every image's data empty, then splice the base64 in where each `"data":""`
  // stands. That sequence cannot occur inside a JSON string value (its quotes would be escaped),
  // so the pieces line up with req.images in order.
  const skeleton = buildGenerateContentBody({ ...req, images: req.images.map((i) => ({ ...i, bytes: EMPTY })) });
  const pieces = JSON.stringify(skeleton)
    .split(EMPTY_DATA)
    .map((s) => Buffer.from(s, "utf8"));
  if (pieces.length !== req.images.length + 1) throw new Error("generateContentPayload: body skeleton does not match the images");
  let length = 0;
  for (const p of pieces) length += p.length;
  for (const img of req.images) length += DATA_OPEN.length + base64Length(img.bytes.length) + 1;
  return {
    length,
    *chunks() {
      for (let i = 0; i < req.images.length; i++) {
        yield pieces[i];
        yield DATA_OPEN;
        const bytes = req.images[i].bytes;
        for (let at = 0; at < bytes.length; at += BASE64_SLICE) {
          // A multiple of 3 bytes per slice, so no slice but the last one gets padding.
          yield Buffer.from(bytes.subarray(at, at + BASE64_SLICE).toString("base64"), "latin1");
        }
        yield QUOTE;
      }
      yield pieces[req.images.length];
    },
  };
}

const EMPTY = Buffer.alloc(0);
const EMPTY_DATA = '"data":""';
const DATA_OPEN = Buffer.from('"data":"', "latin1");
const QUOTE = Buffer.from('"', "latin1");
/** bytes per base64 slice: 48 KiB, a multiple of 3. */
const BASE64_SLICE = 3 * 16 * 1024;
const base64Length = (n: number): number => 4 * Math.ceil(n / 3);
