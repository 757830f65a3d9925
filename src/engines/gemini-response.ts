import { ProviderError } from "../errors.js";
import { sniffImage, type SniffedFormat } from "../images/sniff.js";

/**
 * Reading a 200 generateContent reply (docs/gemini.md#reading-a-reply): pick the deliverable image, or
 * classify why there is none. Responses are documented as camelCase, but snake_case is read too
 * because proxies and older API versions have sent it.
 */

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
/** Reads `camelName`, falling back to its snake_case spelling. */
function field(o: Obj | undefined, camel: string): unknown {
  if (!o) return undefined;
  if (camel in o) return o[camel];
  return o[camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
}
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** finishReasons that withhold the output even if an image part is present. */
const BLOCKING_FINISH = new Set([
  "SAFETY",
  "IMAGE_SAFETY",
  "PROHIBITED_CONTENT",
  "IMAGE_PROHIBITED_CONTENT",
  "BLOCKLIST",
  "SPII",
  "RECITATION",
  "IMAGE_RECITATION",
]);

/** The image chosen by the selection rule, decoded once. */
export interface ChosenImage {
  bytes: Buffer;
  format: SniffedFormat;
  /** the label Google put on it; kept for logs only, never trusted (docs/gemini.md#image-formats). */
  declaredMime?: string;
  /** true when only a thought image was available (the fallback of the selection rule). */
  fromThought: boolean;
}

/** Everything worth logging about a reply, without image data. */
export interface ResponseSummary {
  finishReason?: string;
  finishMessage?: string;
  blockReason?: string;
  /** non-thought text parts, e.g. a refusal or a clarifying question (logged, never returned). */
  text: string[];
  modelVersion?: string;
  responseId?: string;
  usage?: Obj;
}

/** Either the deliverable image or the content outcome that explains its absence. */
export type InterpretedResponse =
  | { ok: true; image: ChosenImage; summary: ResponseSummary }
  | { ok: false; error: ProviderError; summary: ResponseSummary };

/** Sniffs an image from its base64 without decoding all of it: 16 chars give 12 bytes. */
function sniffBase64(data: string): SniffedFormat | null {
  return sniffImage(Buffer.from(data.slice(0, 16), "base64"));
}

interface ImagePart {
  data: string;
  mimeType?: string;
  thought: boolean;
}

function imageParts(parts: unknown[]): ImagePart[] {
  const out: ImagePart[] = [];
  for (const p of parts) {
    if (!isObj(p)) continue;
    const inline = field(p, "inlineData");
    if (!isObj(inline)) continue;
    const data = str(field(inline, "data"));
    if (!data || sniffBase64(data) === null) continue; // only parts whose bytes are an image count
    out.push({ data, mimeType: str(field(inline, "mimeType")), thought: field(p, "thought") === true });
  }
  return out;
}

/**
 * Returns the deliverable image or the ProviderError for the content outcome:
 * blockReason → prompt_blocked; a blocking finishReason → output_blocked (image not delivered);
 * no usable image → no_image with exactly one more attempt.
 */
export function interpretResponse(json: unknown, model: string): InterpretedResponse {
  const res = isObj(json) ? json : {};
  const feedback = field(res, "promptFeedback");
  const candidates = field(res, "candidates");
  const cand = Array.isArray(candidates) && isObj(candidates[0]) ? candidates[0] : undefined;
  const content = field(cand, "content");
  const rawParts = field(isObj(content) ? content : undefined, "parts");
  const parts = Array.isArray(rawParts) ? rawParts : [];

  const summary: ResponseSummary = {
    blockReason: str(field(isObj(feedback) ? feedback : undefined, "blockReason")),
    finishReason: str(field(cand, "finishReason")),
    finishMessage: str(field(cand, "finishMessage")),
    text: parts.filter((p) => isObj(p) && typeof p.text === "string" && p.thought !== true).map((p) => (p as Obj).text as string),
    modelVersion: str(field(res, "modelVersion")),
    responseId: str(field(res, "responseId")),
    usage: isObj(field(res, "usageMetadata")) ? (field(res, "usageMetadata") as Obj) : undefined,
  };
  const why = (s: string) => `${s} (model ${model}${summary.responseId ? `, response ${summary.responseId}` : ""})`;

  if (summary.blockReason) {
    return {
      ok: false,
      error: new ProviderError("prompt_blocked", why(`Gemini blocked the prompt: ${summary.blockReason}`)),
      summary,
    };
  }
  if (summary.finishReason && BLOCKING_FINISH.has(summary.finishReason)) {
    const msg = summary.finishMessage ? `: ${summary.finishMessage}` : "";
    return {
      ok: false,
      error: new ProviderError("output_blocked", why(`Gemini withheld the image: ${summary.finishReason}${msg}`)),
      summary,
    };
  }

  const images = imageParts(parts);
  const finals = images.filter((p) => !p.thought);
  const thoughts = images.filter((p) => p.thought);
  const chosen = finals.at(-1) ?? thoughts.at(-1);
  if (!chosen) {
    // NO_IMAGE, IMAGE_OTHER, OTHER, MAX_TOKENS, STOP with text only, empty parts, or an unknown
    // future reason: all "no image produced", worth exactly one more attempt (docs/gemini.md#retries).
    const reason = summary.finishReason ?? "no finishReason";
    // retryable stays false: the attempt budget does not apply, only the single extra attempt.
    const error = new ProviderError(
      "no_image",
      why(`Gemini returned no image: ${reason}${summary.text.length ? " (text only)" : ""}`),
      {
        retryOnce: true,
      },
    );
    return { ok: false, error, summary };
  }
  const bytes = Buffer.from(chosen.data, "base64");
  const format = sniffImage(bytes) as SniffedFormat; // the prefix sniffed above is the same bytes
  return {
    ok: true,
    image: { bytes, format, declaredMime: chosen.mimeType, fromThought: chosen.thought },
    summary,
  };
}
