import { acceptedFormats, modelSpec, outputFormatOf, type ModelSpec } from "./models.js";
import type { NormalizedInput, Resolution } from "./types.js";

/**
 * createTask validation, in the exact order of docs/kie-contract.md §4.3: the first failing check answers
 * with its exact msg. Unknown fields are ignored; a field set to null counts as absent.
 */
export type ValidationResult =
  | { ok: true; spec: ModelSpec; input: NormalizedInput; callbackUrl: string | null }
  | { ok: false; msg: string };

export const MAX_URL_LENGTH = 2048;

const fail = (msg: string): ValidationResult => ({ ok: false, msg });

export function isHttpUrl(v: unknown): v is string {
  if (typeof v !== "string" || v.length === 0 || v.length > MAX_URL_LENGTH) return false;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return false;
  }
  return (u.protocol === "http:" || u.protocol === "https:") && u.hostname.length > 0;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * @param served whether this instance serves a model id (default: every registered model).
 *   Disabled models still count as served: they get 505 later, not 422.
 */
export function validateCreateTask(
  body: Record<string, unknown>,
  served: (id: string) => boolean = () => true,
): ValidationResult {
  const model = body.model;
  // 1–2: model
  if (model === undefined || model === null || model === "") return fail("model is required");
  const spec = typeof model === "string" && served(model) ? modelSpec(model) : undefined;
  if (!spec) return fail("The model name you specified is not supported");

  // 3: callBackUrl — absent, null or "" means no callback
  const cb = body.callBackUrl;
  const callbackUrl = cb === undefined || cb === null || cb === "" ? null : cb;
  if (callbackUrl !== null && !isHttpUrl(callbackUrl)) return fail("callBackUrl format is invalid");

  // 4: input
  const input = body.input;
  if (!isObject(input)) return fail("input is required");

  // 5–7: prompt
  const prompt = input.prompt;
  if (prompt === undefined || prompt === null || (typeof prompt === "string" && prompt.trim() === "")) {
    return fail("prompt is required");
  }
  if (typeof prompt !== "string") return fail("prompt format is invalid");
  if (prompt.length > spec.promptMax) return fail("The text length cannot exceed the maximum limit");

  // 8–10: image list
  let imageUrls: string[] = [];
  if (spec.imageField) {
    const f = spec.imageField;
    const raw = input[f];
    if (raw === undefined || raw === null) {
      if (spec.imageRequired) return fail(`${f} is required`);
    } else {
      if (!Array.isArray(raw)) return fail(`${f} format is invalid`);
      if (raw.length > spec.imageMax) return fail(`${f} cannot contain more than ${spec.imageMax} items`);
      if (!raw.every(isHttpUrl)) return fail(`${f} format is invalid`);
      if (spec.imageRequired && raw.length === 0) return fail(`${f} is required`);
      imageUrls = raw as string[];
    }
  }

  // 11: aspect ratio (any non-string is out of range)
  const ratio = pick(input[spec.ratioField], spec.ratioDefault);
  if (typeof ratio !== "string" || !spec.ratios.includes(ratio)) {
    return fail(`${spec.ratioField} is not within the range of allowed options`);
  }

  // 12: resolution
  let resolution: Resolution | null = null;
  if (spec.resolutions) {
    const r = pick(input.resolution, spec.resolutionDefault);
    if (typeof r !== "string" || !spec.resolutions.includes(r as Resolution)) {
      return fail("resolution is not within the range of allowed options");
    }
    resolution = r as Resolution;
  }

  // 13: output format (`jpeg` and `jpg` are one value; a model without the field ignores it)
  const formats = acceptedFormats(spec);
  const fmt = formats.length === 0 ? spec.formatDefault : pick(input.output_format, spec.formatDefault);
  if (typeof fmt !== "string" || (formats.length > 0 && !formats.includes(fmt))) {
    return fail("output_format is not within the range of allowed options");
  }

  const normalized: NormalizedInput = {
    prompt,
    imageUrls,
    aspectRatio: ratio,
    resolution,
    outputFormat: outputFormatOf(fmt),
  };
  if (spec.hasGoogleSearch && input.google_search === true) normalized.googleSearch = true;
  return { ok: true, spec, input: normalized, callbackUrl: callbackUrl as string | null };
}

function pick(v: unknown, def: unknown): unknown {
  return v === undefined || v === null ? def : v;
}
