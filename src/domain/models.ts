import type { OutputFormat, Resolution } from "./types.js";

/**
 * The model registry: every kie model peel serves, with its input field names, defaults and limits
 * (docs/kie-contract.md §4.1 and Appendix A). Validation (validation.ts) and the OpenAPI schemas
 * (http/schemas.ts) are both derived from these specs, so they cannot drift apart.
 */
export interface ModelSpec {
  /** kie model id as clients send it. */
  id: string;
  summary: string;
  /** prompt length limit in UTF-16 units (JS string.length). */
  promptMax: number;
  /** name of the input-image array field, or null for text-only models. */
  imageField: "image_input" | "image_urls" | null;
  imageRequired: boolean;
  imageMax: number;
  /** bytes per input image. */
  imageMaxBytes: number;
  ratioField: "aspect_ratio" | "image_size";
  /** allowed values, `auto` included where the model has it. */
  ratios: readonly string[];
  ratioDefault: string;
  /** null for single-size models. */
  resolutions: readonly Resolution[] | null;
  resolutionDefault: Resolution | null;
  /**
   * wire spellings of the output formats, as kie documents them; empty for a model without an
   * `output_format` field (it always produces `formatDefault`). `jpg` and `jpeg` are accepted for
   * each other wherever one of them is listed (acceptedFormats).
   */
  formats: readonly string[];
  formatDefault: string;
  /** nano-banana-2's web grounding switch. */
  hasGoogleSearch: boolean;
}

const PRO_RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto"] as const;
const FLASH_RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto"] as const;
const NB2_RATIOS = [
  "auto",
  "1:1",
  "1:4",
  "16:9",
  "1:8",
  "21:9",
  "2:3",
  "3:2",
  "3:4",
  "4:1",
  "4:3",
  "4:5",
  "5:4",
  "8:1",
  "9:16",
] as const;
const MiB = 1024 * 1024;

/**
 * Nano Banana; its edit sibling differs only in the required image list. Google retired the model
 * behind it (gemini-2.5-flash-image), so peel serves these ids with gemini-3.1-flash-image at 1K,
 * keeping kie's input schemas (docs/engines.md).
 */
const FLASH: ModelSpec = {
  id: "google/nano-banana",
  summary: "Nano Banana: text-to-image, one size per ratio (1K)",
  promptMax: 5_000,
  imageField: null,
  imageRequired: false,
  imageMax: 0,
  imageMaxBytes: 10 * MiB,
  ratioField: "image_size",
  ratios: FLASH_RATIOS,
  ratioDefault: "1:1",
  resolutions: null,
  resolutionDefault: null,
  formats: ["png", "jpeg"],
  formatDefault: "png",
  hasGoogleSearch: false,
};

export const MODELS: readonly ModelSpec[] = [
  {
    id: "nano-banana-pro",
    summary: "Nano Banana Pro (Gemini 3 Pro Image): text-to-image and image editing, 1K/2K/4K",
    promptMax: 10_000,
    imageField: "image_input",
    imageRequired: false,
    imageMax: 8,
    imageMaxBytes: 30 * MiB,
    ratioField: "aspect_ratio",
    ratios: PRO_RATIOS,
    ratioDefault: "1:1",
    resolutions: ["1K", "2K", "4K"],
    resolutionDefault: "1K",
    formats: ["png", "jpg"],
    formatDefault: "png",
    hasGoogleSearch: false,
  },
  FLASH,
  {
    ...FLASH,
    id: "google/nano-banana-edit",
    summary: "Nano Banana edit: edit and compose up to 10 images, one size per ratio (1K)",
    imageField: "image_urls",
    imageRequired: true,
    imageMax: 10,
  },
  {
    id: "nano-banana-2",
    summary: "Nano Banana 2 (Gemini 3.1 Flash Image): text-to-image and editing, up to 14 images, 1K/2K/4K",
    promptMax: 20_000,
    imageField: "image_input",
    imageRequired: false,
    imageMax: 14,
    imageMaxBytes: 30 * MiB,
    ratioField: "aspect_ratio",
    ratios: NB2_RATIOS,
    ratioDefault: "auto",
    resolutions: ["1K", "2K", "4K"],
    resolutionDefault: "1K",
    formats: ["jpg", "png"],
    formatDefault: "jpg",
    hasGoogleSearch: true,
  },
  {
    id: "nano-banana-2-lite",
    summary: "Nano Banana 2 Lite (Gemini 3.1 Flash Lite Image): fast text-to-image and editing, up to 10 images, 1K only",
    promptMax: 20_000,
    imageField: "image_urls",
    imageRequired: false,
    imageMax: 10,
    imageMaxBytes: 30 * MiB,
    ratioField: "aspect_ratio",
    ratios: NB2_RATIOS,
    ratioDefault: "auto",
    resolutions: ["1K"],
    resolutionDefault: "1K",
    // kie documents no output_format for the lite model; it delivers what nano-banana-2 does by default.
    formats: [],
    formatDefault: "jpg",
    hasGoogleSearch: false,
  },
];

const BY_ID = new Map(MODELS.map((m) => [m.id, m]));

export function modelSpec(id: string): ModelSpec | undefined {
  return BY_ID.get(id);
}

const JPEG_SPELLINGS = ["jpg", "jpeg"] as const;

/**
 * The `output_format` values a model accepts: its documented spellings plus the other spelling of
 * JPEG (clients write `jpeg` for `jpg` and the reverse; both mean the same bytes). Empty when the
 * model has no `output_format`.
 */
export function acceptedFormats(spec: ModelSpec): readonly string[] {
  const out = [...spec.formats];
  if (out.some((f) => (JPEG_SPELLINGS as readonly string[]).includes(f))) {
    for (const j of JPEG_SPELLINGS) if (!out.includes(j)) out.push(j);
  }
  return out;
}

/** `jpg` and `jpeg` are both JPEG. */
export function outputFormatOf(wire: string): OutputFormat {
  return wire === "png" ? "png" : "jpeg";
}
