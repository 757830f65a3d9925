import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import sharp from "sharp";
import type { Resolution } from "../../src/domain/types.js";
import { outputSize } from "../../src/images/sizes.js";

/**
 * A local stand-in for Google's generateContent API (gemini-notes §16): real HTTP on 127.0.0.1,
 * real decodable images of the documented sizes, Google's error bodies, and scenario switches so
 * tests can provoke every outcome. It never touches the network.
 */

export const FAKE_VERTEX_TOKEN = "fake-vertex-token";

export const FAKE_SCENARIOS = [
  "ok",
  "ok_png",
  "ok_mislabelled",
  "ok_thoughts",
  "only_thought_image",
  "text_only",
  "no_image",
  "image_safety",
  "prompt_blocked",
  "rate_limit_minute",
  "rate_limit_day",
  "internal",
  "overloaded",
  "deadline",
  "model_not_found",
  "bad_request",
  "hang",
] as const;
/** A scenario name, or `slow:<ms>`. */
export type FakeScenario = (typeof FAKE_SCENARIOS)[number] | `slow:${number}`;

export interface FakeRequest {
  method: string;
  /** path and query, with `key=` redacted. */
  path: string;
  /** lower-case names; `x-goog-api-key` and `authorization` redacted. */
  headers: Record<string, string>;
  /** parsed JSON body as sent (before snake/camel normalisation), or null. */
  body: any;
  model?: string;
  /** the scenario that answered, when the request got that far. */
  scenario?: string;
  /** names of the tools the request carried (`tools[].<name>`, camelCase), e.g. ["googleSearch"]. */
  tools: string[];
  /** Date.now() when the whole request body had arrived (retry-timing assertions). */
  receivedAt: number;
}

export interface FakeGeminiOptions {
  /** accepted API keys. @defaultValue ["test-key"] */
  keys?: string[];
  /**
   * Google model ids that exist. The retired `gemini-2.5-flash-image` answers 404 like Google
   * unless listed here. @defaultValue ["gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-3.1-flash-lite-image"]
   */
  models?: string[];
  /** "tiny" answers 64×64 images whatever was asked, for speed. @defaultValue "real" */
  imageMode?: "real" | "tiny";
}

export interface FakeGemini {
  url: string;
  requests: FakeRequest[];
  enqueue(...names: FakeScenario[]): void;
  setDefault(name: FakeScenario): void;
  /** clears queue, default and request log. */
  reset(): void;
  close(): Promise<void>;
}

const JSON_TYPE = "application/json; charset=UTF-8";
const RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"];
const NB2_RATIOS = [...RATIOS, "1:4", "4:1", "1:8", "8:1"];
const SIZES = ["1K", "2K", "4K"];
export const FAKE_DEFAULT_MODELS = ["gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-3.1-flash-lite-image"];
/**
 * What each Google model takes and draws: its ratios, the imageSize values it accepts (null: none,
 * one size per ratio), whether it grounds on Google Search, and the kie model whose size table
 * (src/images/sizes.ts) it draws at. Unknown ids behave like gemini-3-pro-image.
 */
interface ModelTraits {
  ratios: string[];
  sizes: string[] | null;
  search: boolean;
  kie: string;
}
const TRAITS: Record<string, ModelTraits> = {
  "gemini-3-pro-image": { ratios: RATIOS, sizes: SIZES, search: true, kie: "nano-banana-pro" },
  "gemini-3.1-flash-image": { ratios: NB2_RATIOS, sizes: SIZES, search: true, kie: "nano-banana-2" },
  "gemini-3.1-flash-lite-image": { ratios: NB2_RATIOS, sizes: ["1K"], search: false, kie: "nano-banana-2-lite" },
  "gemini-2.5-flash-image": { ratios: RATIOS, sizes: null, search: false, kie: "" },
};
const traitsOf = (model: string): ModelTraits => TRAITS[model] ?? TRAITS["gemini-3-pro-image"];
/** gemini-2.5-flash-image's one ~1 MP size per ratio (Google retired it on 2026-10-02). */
const FLASH_25_SIZES: Record<string, { width: number; height: number }> = {
  "1:1": { width: 1024, height: 1024 },
  "2:3": { width: 832, height: 1248 },
  "3:2": { width: 1248, height: 832 },
  "3:4": { width: 864, height: 1184 },
  "4:3": { width: 1184, height: 864 },
  "4:5": { width: 896, height: 1152 },
  "5:4": { width: 1152, height: 896 },
  "9:16": { width: 768, height: 1344 },
  "16:9": { width: 1344, height: 768 },
  "21:9": { width: 1536, height: 672 },
};
/** Tools Google knows; the fake checks only googleSearch's shape. */
const TOOL: Shape = {
  googleSearch: { searchTypes: { webSearch: "*", imageSearch: "*" }, timeRangeFilter: "*", excludeDomains: "*" },
  googleSearchRetrieval: "*",
  codeExecution: "*",
  urlContext: "*",
  functionDeclarations: "*",
};

/** Tool names as sent (snake_case normalised), whatever else the body holds. */
function toolNames(body: unknown): string[] {
  const tools = (body as { tools?: unknown } | null)?.tools;
  if (!Array.isArray(tools)) return [];
  return tools.flatMap((t) => (t && typeof t === "object" ? Object.keys(t).map(camel) : []));
}

function isScenario(name: string): name is FakeScenario {
  return (FAKE_SCENARIOS as readonly string[]).includes(name) || /^slow:\d+$/.test(name);
}

// ---------------------------------------------------------------------------------------------
// error bodies (gemini-notes §9.2)

type Reply = { status: number; body: unknown };
const gErr = (code: number, status: string, message: string, details?: unknown[]): Reply => ({
  status: code,
  body: { error: { code, message, status, ...(details ? { details } : {}) } },
});
const notFound = (model: string, version = "v1beta"): Reply =>
  gErr(
    404,
    "NOT_FOUND",
    `models/${model} is not found for API version ${version}, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`,
  );
const invalid = (message: string, details?: unknown[]): Reply => gErr(400, "INVALID_ARGUMENT", message, details);
const unknownField = (name: string): Reply => {
  const message = `Invalid JSON payload received. Unknown name "${name}": Cannot find field.`;
  return invalid(message, [
    { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ description: message }] },
  ]);
};
const quota429 = (quotaId: string, retryDelay: string): Reply =>
  gErr(
    429,
    "RESOURCE_EXHAUSTED",
    "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    [
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        links: [{ description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }],
      },
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        violations: [
          {
            quotaMetric: "generativelanguage.googleapis.com/generate_content_requests",
            quotaId,
            quotaDimensions: { location: "global" },
            quotaValue: "10",
          },
        ],
      },
      { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay },
    ],
  );

// ---------------------------------------------------------------------------------------------
// request validation (gemini-notes §16.3)

/** Known fields per object kind; `*` marks a free-form value that is not inspected. */
type Shape = { [field: string]: Shape | "leaf" | "*" | { array: Shape | "leaf" } };
const PART: Shape = {
  text: "leaf",
  thought: "leaf",
  thoughtSignature: "leaf",
  inlineData: { mimeType: "leaf", data: "leaf" },
  fileData: { mimeType: "leaf", fileUri: "leaf" },
};
const CONTENT: Shape = { role: "leaf", parts: { array: PART } };
function requestShape(vertex: boolean): Shape {
  const imageConfig: Shape = { aspectRatio: "leaf", imageSize: "leaf" };
  // Vertex-only options (§3.1, §14): an unknown field in Gemini-API mode.
  if (vertex)
    Object.assign(imageConfig, {
      personGeneration: "leaf",
      prominentPeople: "leaf",
      imageOutputOptions: { mimeType: "leaf", compressionQuality: "leaf" },
    });
  return {
    contents: { array: CONTENT },
    systemInstruction: CONTENT,
    safetySettings: "*",
    tools: { array: TOOL },
    toolConfig: "*",
    cachedContent: "leaf",
    labels: "*",
    generationConfig: {
      responseModalities: "leaf",
      candidateCount: "leaf",
      maxOutputTokens: "leaf",
      temperature: "leaf",
      topP: "leaf",
      topK: "leaf",
      seed: "leaf",
      stopSequences: "leaf",
      responseMimeType: "leaf",
      presencePenalty: "leaf",
      frequencyPenalty: "leaf",
      imageConfig,
      thinkingConfig: { thinkingBudget: "leaf", thinkingLevel: "leaf", includeThoughts: "leaf" },
    },
  };
}

const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Normalises snake_case keys to camelCase and reports the first unknown field (as sent). */
function normalise(value: unknown, shape: Shape | "leaf" | "*"): { value: unknown; unknown?: string } {
  if (shape === "leaf" || shape === "*" || value === null || typeof value !== "object" || Array.isArray(value)) return { value };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const name = camel(k);
    const sub = shape[name];
    if (sub === undefined) return { value, unknown: k };
    if (typeof sub === "object" && "array" in sub) {
      if (!Array.isArray(v)) return { value, unknown: k };
      const items: unknown[] = [];
      for (const item of v) {
        const r = normalise(item, sub.array as Shape);
        if (r.unknown) return r;
        items.push(r.value);
      }
      out[name] = items;
    } else {
      const r = normalise(v, sub as Shape | "leaf" | "*");
      if (r.unknown) return r;
      out[name] = r.value;
    }
  }
  return { value: out };
}

function looksLikeImage(b: Buffer): boolean {
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return true;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return true;
  if (b.length >= 12 && b.toString("latin1", 0, 4) === "RIFF" && b.toString("latin1", 8, 12) === "WEBP") return true;
  return b.length >= 12 && b.toString("latin1", 4, 8) === "ftyp"; // HEIC/HEIF
}

interface Checked {
  aspectRatio?: string;
  imageSize?: string;
  prompt: string;
  tools: string[];
}

function validate(raw: unknown, model: string, vertex: boolean): Reply | Checked {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return invalid("Invalid JSON payload received. Expected an object.");
  const n = normalise(raw, requestShape(vertex));
  if (n.unknown) return unknownField(n.unknown);
  const body = n.value as any;
  const contents: any[] = body.contents ?? [];
  if (contents.length === 0) return invalid("* GenerateContentRequest.contents: contents is not specified\n");
  const parts: any[] = contents.flatMap((c) => c.parts ?? []);
  const images = parts.filter((p) => p.inlineData);
  if (images.length > 14) return invalid(`Too many images: at most 14 images are supported, got ${images.length}.`);
  for (const p of images) {
    if (!looksLikeImage(Buffer.from(String(p.inlineData.data ?? ""), "base64"))) return invalid("Provided image is not valid");
  }
  const cfg = body.generationConfig ?? {};
  if (cfg.thinkingConfig && model === "gemini-2.5-flash-image") return invalid("Thinking is not enabled for this model");
  const traits = traitsOf(model);
  const ic = cfg.imageConfig ?? {};
  if (ic.aspectRatio !== undefined && !traits.ratios.includes(ic.aspectRatio))
    return invalid(`Unsupported aspect ratio: ${ic.aspectRatio}`);
  if (ic.imageSize !== undefined && !SIZES.includes(ic.imageSize)) return invalid(`Unsupported image size: ${ic.imageSize}`);
  // Google documents no imageSize for 2.5 and only 1K for the lite model; rejecting the rest
  // surfaces an adapter that sends one.
  if (ic.imageSize !== undefined && !(traits.sizes ?? []).includes(ic.imageSize))
    return invalid(`imageSize ${ic.imageSize} is not supported for this model.`);
  const tools: string[] = ((body.tools ?? []) as Record<string, unknown>[]).flatMap((t) => Object.keys(t));
  if (tools.includes("googleSearch") && !traits.search) return invalid("Search Grounding is not supported for this model.");
  const prompt = parts
    .filter((p) => typeof p.text === "string")
    .map((p) => p.text)
    .join("\n");
  return { aspectRatio: ic.aspectRatio, imageSize: ic.imageSize, prompt, tools };
}

// ---------------------------------------------------------------------------------------------
// images and success bodies (gemini-notes §16.4)

const FINAL_COLOUR = { r: 40, g: 120, b: 200 };
/** Drafts differ from the final image so tests can tell which one the engine delivered. */
const DRAFT_COLOURS = [
  { r: 200, g: 40, b: 40 },
  { r: 40, g: 200, b: 40 },
];
const imageCache = new Map<string, Promise<Buffer>>();

function flatImage(width: number, height: number, format: "jpeg" | "png", colour = FINAL_COLOUR): Promise<Buffer> {
  const key = `${width}x${height}.${format}.${colour.r},${colour.g},${colour.b}`;
  let img = imageCache.get(key);
  if (!img) {
    const base = sharp({ create: { width, height, channels: 3, background: colour } });
    img = format === "jpeg" ? base.jpeg({ quality: 90 }).toBuffer() : base.png().toBuffer();
    imageCache.set(key, img);
    img.catch(() => imageCache.delete(key));
  }
  return img;
}

function sizeFor(model: string, c: Checked, mode: "real" | "tiny"): { width: number; height: number } {
  if (mode === "tiny") return { width: 64, height: 64 };
  const ratio = c.aspectRatio ?? "1:1";
  const traits = traitsOf(model);
  if (traits.sizes === null) return FLASH_25_SIZES[ratio];
  return outputSize(traits.kie, ratio, (c.imageSize ?? "1K") as Resolution);
}

async function success(scenario: string, model: string, c: Checked, mode: "real" | "tiny"): Promise<Reply> {
  const { width, height } = sizeFor(model, c, mode);
  const imageTokens = traitsOf(model).sizes === null ? 1290 : c.imageSize === "4K" ? 2000 : 1120;
  const inline = async (format: "jpeg" | "png", colour = FINAL_COLOUR, label?: string) => ({
    inlineData: {
      mimeType: label ?? `image/${format}`,
      data: (await flatImage(width, height, format, colour)).toString("base64"),
    },
  });
  const signature = "Cq4BAX3fake" + randomBytes(6).toString("hex");
  let parts: unknown[];
  let finishReason = "STOP";
  switch (scenario) {
    case "ok_png":
      parts = [{ ...(await inline("png")), thoughtSignature: signature }];
      break;
    case "ok_mislabelled":
      parts = [{ ...(await inline("jpeg", FINAL_COLOUR, "image/png")), thoughtSignature: signature }];
      break;
    case "ok_thoughts":
      parts = [
        { text: "**Planning the layout**\n\nPlacing the subject on the left third...", thought: true },
        { ...(await inline("jpeg", DRAFT_COLOURS[0])), thought: true },
        { ...(await inline("jpeg", DRAFT_COLOURS[1])), thought: true },
        { ...(await inline("jpeg")), thoughtSignature: signature },
      ];
      break;
    case "only_thought_image":
      parts = [{ ...(await inline("jpeg")), thought: true }];
      break;
    case "text_only":
      parts = [{ text: "Could you tell me which style you would like?", thoughtSignature: signature }];
      break;
    case "no_image":
      parts = [];
      finishReason = "NO_IMAGE";
      break;
    default:
      parts = [{ ...(await inline("jpeg")), thoughtSignature: signature }];
  }
  const text = scenario === "text_only";
  const candidatesTokenCount = parts.length === 0 ? 0 : text ? 12 : imageTokens;
  // A grounded answer says what it searched for (Google's groundingMetadata), which peel ignores.
  const grounding = c.tools.includes("googleSearch")
    ? { groundingMetadata: { webSearchQueries: [c.prompt.slice(0, 80)], groundingChunks: [], groundingSupports: [] } }
    : {};
  return {
    status: 200,
    body: {
      candidates: [{ content: { role: "model", ...(parts.length ? { parts } : {}) }, finishReason, index: 0, ...grounding }],
      usageMetadata: {
        promptTokenCount: 18,
        candidatesTokenCount,
        thoughtsTokenCount: 200,
        totalTokenCount: 18 + candidatesTokenCount + 200,
        promptTokensDetails: [{ modality: "TEXT", tokenCount: 18 }],
        candidatesTokensDetails: [{ modality: text ? "TEXT" : "IMAGE", tokenCount: candidatesTokenCount }],
      },
      modelVersion: model,
      responseId: randomBytes(9).toString("base64url"),
    },
  };
}

const meta = (model: string) => ({ modelVersion: model, responseId: randomBytes(9).toString("base64url") });

function cannedReply(scenario: string, model: string): Reply | null {
  switch (scenario) {
    case "image_safety":
      return {
        status: 200,
        body: {
          candidates: [
            {
              content: { role: "model" },
              finishReason: "IMAGE_SAFETY",
              index: 0,
              finishMessage:
                "Unable to show the generated image. The image was filtered out because it violated Google's Generative AI Prohibited Use policy. You will not be charged for blocked images.",
            },
          ],
          usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 0, thoughtsTokenCount: 210, totalTokenCount: 250 },
          ...meta(model),
        },
      };
    case "prompt_blocked":
      return {
        status: 200,
        body: {
          promptFeedback: { blockReason: "PROHIBITED_CONTENT" },
          usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 },
          ...meta(model),
        },
      };
    case "rate_limit_minute":
      return quota429("GenerateRequestsPerMinutePerProjectPerModel", "2s");
    case "rate_limit_day":
      return quota429("GenerateRequestsPerDayPerProjectPerModel", "46s");
    case "internal":
      return gErr(500, "INTERNAL", "An internal error occurred.");
    case "overloaded":
      return gErr(503, "UNAVAILABLE", "The model is overloaded. Please try again later.");
    case "deadline":
      return gErr(504, "DEADLINE_EXCEEDED", "Deadline expired.");
    case "model_not_found":
      return notFound(model);
    case "bad_request":
      return invalid("Request contains an invalid argument.");
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// the server

const GEMINI_ROUTE = /^\/v1beta\/models\/([^/:]+):(generateContent)$/;
const VERTEX_ROUTE =
  /^\/v1beta1\/(?:projects\/[^/]+\/locations\/[^/]+\/)?publishers\/google\/models\/([^/:]+):(generateContent)$/;

const GEMINI_MODEL_GET = /^\/v1beta\/models\/([^/:]+)$/;
const VERTEX_MODEL_GET = /^\/v1beta1\/publishers\/google\/models\/([^/:]+)$/;

export async function startFakeGemini(opts: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const keys = new Set(opts.keys ?? ["test-key"]);
  const models = new Set(opts.models ?? FAKE_DEFAULT_MODELS);
  const mode = opts.imageMode ?? "real";
  const requests: FakeRequest[] = [];
  let queue: string[] = [];
  let fallback = "ok";
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const send = (res: http.ServerResponse, r: Reply) => {
    if (res.destroyed) return;
    const text = JSON.stringify(r.body);
    res.writeHead(r.status, { "content-type": JSON_TYPE, "content-length": Buffer.byteLength(text) });
    res.end(text);
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : String(v ?? "");
    if (headers["x-goog-api-key"]) headers["x-goog-api-key"] = "[redacted]";
    if (headers.authorization) headers.authorization = headers.authorization.replace(/^(\w+)\s.*$/, "$1 [redacted]");
    const shownUrl = new URL(url);
    if (shownUrl.searchParams.has("key")) shownUrl.searchParams.set("key", "[redacted]");
    let body: any = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = null;
    }
    const entry: FakeRequest = {
      method: req.method ?? "GET",
      path: shownUrl.pathname + shownUrl.search,
      headers,
      body,
      tools: toolNames(body),
      receivedAt: Date.now(),
    };
    requests.push(entry);

    const key = req.headers["x-goog-api-key"] ?? url.searchParams.get("key") ?? undefined;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const gemini = GEMINI_ROUTE.exec(url.pathname);
    const vertex = VERTEX_ROUTE.exec(url.pathname);

    if (req.method === "GET" && url.pathname === "/v1beta/models") {
      const authErr = checkKey(key);
      if (authErr) return send(res, authErr);
      return send(res, {
        status: 200,
        body: {
          models: [...models].map((m) => ({
            name: `models/${m}`,
            supportedGenerationMethods: ["generateContent", "streamGenerateContent"],
          })),
        },
      });
    }
    // Model metadata (models.get; Vertex publishers.models.get): what `peel doctor` asks, free of charge.
    const metadata = req.method === "GET" ? (GEMINI_MODEL_GET.exec(url.pathname) ?? VERTEX_MODEL_GET.exec(url.pathname)) : null;
    if (metadata) {
      const isVertexGet = metadata[0].startsWith("/v1beta1/");
      const authErr =
        isVertexGet && bearer !== undefined
          ? bearer === FAKE_VERTEX_TOKEN
            ? null
            : gErr(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
          : checkKey(key);
      if (authErr) return send(res, authErr);
      const model = decodeURIComponent(metadata[1]);
      entry.model = model;
      if (!models.has(model)) return send(res, notFound(model, isVertexGet ? "v1beta1" : "v1beta"));
      return send(res, {
        status: 200,
        body: {
          name: isVertexGet ? `publishers/google/models/${model}` : `models/${model}`,
          supportedGenerationMethods: ["generateContent", "streamGenerateContent"],
        },
      });
    }
    const route = req.method === "POST" ? (gemini ?? vertex) : null;
    if (!route) return send(res, gErr(404, "NOT_FOUND", `Requested entity was not found: ${url.pathname}`));
    const isVertex = !!vertex;
    if (isVertex) {
      // Vertex takes an OAuth bearer token; express mode (no project in the path) takes an API key.
      const express = !url.pathname.includes("/projects/");
      if (bearer !== undefined) {
        if (bearer !== FAKE_VERTEX_TOKEN)
          return send(
            res,
            gErr(
              401,
              "UNAUTHENTICATED",
              "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            ),
          );
      } else if (express && key !== undefined) {
        const authErr = checkKey(key);
        if (authErr) return send(res, authErr);
      } else {
        return send(
          res,
          gErr(
            401,
            "UNAUTHENTICATED",
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
          ),
        );
      }
    } else {
      const authErr = checkKey(key);
      if (authErr) return send(res, authErr);
    }

    const model = decodeURIComponent(route[1]);
    entry.model = model;
    if (raw && body === null) return send(res, invalid("Invalid JSON payload received. Unexpected token."));
    const checked = validate(body, model, isVertex);
    if ("status" in checked) return send(res, checked);
    if (!models.has(model) || model === "gemini-3-pro-image-preview")
      return send(res, notFound(model, isVertex ? "v1beta1" : "v1beta"));

    const marker = /\[\[fake:([^\]]+)\]\]/.exec(checked.prompt)?.[1];
    const scenario = queue.shift() ?? marker ?? fallback;
    entry.scenario = scenario;
    if (!isScenario(scenario)) return send(res, invalid(`fake-gemini: unknown scenario ${JSON.stringify(scenario)}`));
    if (scenario === "hang") return; // the socket stays open until the client aborts or close()
    const slow = /^slow:(\d+)$/.exec(scenario);
    if (slow) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, Number(slow[1]));
        timers.add(t);
        res.on("close", () => {
          clearTimeout(t);
          timers.delete(t);
          resolve();
        });
      });
    }
    send(res, cannedReply(scenario, model) ?? (await success(slow ? "ok" : scenario, model, checked, mode)));
  }

  function checkKey(key: string | string[] | undefined): Reply | null {
    if (key === undefined || key === "") {
      return gErr(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      );
    }
    if (typeof key !== "string" || !keys.has(key)) {
      return invalid("API key not valid. Please pass a valid API key.", [
        {
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "API_KEY_INVALID",
          domain: "googleapis.com",
          metadata: { service: "generativelanguage.googleapis.com" },
        },
        {
          "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
          locale: "en-US",
          message: "API key not valid. Please pass a valid API key.",
        },
      ]);
    }
    return null;
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks).toString("utf8")).catch((err: unknown) => {
        send(res, gErr(500, "INTERNAL", `fake-gemini failure: ${err instanceof Error ? err.message : String(err)}`));
      });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const check = (names: string[]) => {
    for (const n of names) if (!isScenario(n)) throw new Error(`fake-gemini: unknown scenario ${JSON.stringify(n)}`);
  };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...names) => {
      check(names);
      queue.push(...names);
    },
    setDefault: (name) => {
      check([name]);
      fallback = name;
    },
    reset: () => {
      queue = [];
      fallback = "ok";
      requests.length = 0;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      // `hang` replies and keep-alive sockets would otherwise keep close() waiting forever.
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
