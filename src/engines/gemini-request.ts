import type { GenerateRequest } from "./engine.js";

/**
 * Building the generateContent request (gemini-notes §3, §14). Pure functions, so the wire shape
 * can be tested without a server.
 */

export const GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";

/**
 * Vertex host per location (gemini-notes §14): `global` → the global host, the multi-regions `us`
 * and `eu` → their `rep` hosts, anything else → the regional host.
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

/** The parts of the request body peel sends, camelCase throughout (§3.2). */
export interface GenerateContentBody {
  contents: Array<{
    role: "user";
    parts: Array<{ text: string } | { inlineData: { mimeType: string; data: string } }>;
  }>;
  generationConfig: {
    responseModalities: ["TEXT", "IMAGE"];
    imageConfig?: { aspectRatio?: string; imageSize?: string };
  };
}

/**
 * §3.1: prompt first, then every reference in request order with its sniffed MIME type.
 * `aspectRatio` is left out for `auto` (the model follows the input); `imageSize` is always sent
 * when the model has resolutions, `1K` included. Deliberately absent: thinkingConfig (Pro cannot
 * switch thinking off; 2.5 answers 400), candidateCount, tools and the Vertex-only options.
 */
export function buildGenerateContentBody(req: GenerateRequest): GenerateContentBody {
  const parts: GenerateContentBody["contents"][number]["parts"] = [{ text: req.prompt }];
  for (const img of req.images) {
    parts.push({ inlineData: { mimeType: img.mimeType, data: img.bytes.toString("base64") } });
  }
  const imageConfig: { aspectRatio?: string; imageSize?: string } = {};
  if (req.aspectRatio && req.aspectRatio !== "auto") imageConfig.aspectRatio = req.aspectRatio;
  if (req.resolution) imageConfig.imageSize = req.resolution;

  const body: GenerateContentBody = {
    contents: [{ role: "user", parts }],
    // TEXT as well as IMAGE so that a refusal comes back as text we can log (§3.1).
    generationConfig: { responseModalities: ["TEXT", "IMAGE"] },
  };
  if (Object.keys(imageConfig).length > 0) body.generationConfig.imageConfig = imageConfig;
  return body;
}
