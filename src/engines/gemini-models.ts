import type { Resolution } from "../domain/types.js";

/**
 * What peel knows about Google's image model ids: which `imageSize` values each takes, whether it
 * can ground on Google Search, and which ids Google has shut down (docs/engines.md, "Which Google
 * model each kie model calls"). Sources: Google's model pages and its deprecations page
 * (https://ai.google.dev/gemini-api/docs/deprecations).
 */

export interface GoogleImageModel {
  id: string;
  /** `imageConfig.imageSize` values it takes; null = one size per ratio, never send imageSize. */
  imageSizes: readonly Resolution[] | null;
  /** `tools: [{ googleSearch: {} }]` is supported (Grounding with Google Search). */
  googleSearch: boolean;
}

export const GOOGLE_IMAGE_MODELS: readonly GoogleImageModel[] = [
  { id: "gemini-3-pro-image", imageSizes: ["1K", "2K", "4K"], googleSearch: true },
  { id: "gemini-3.1-flash-image", imageSizes: ["1K", "2K", "4K"], googleSearch: true },
  // 1K only; Google lists no search grounding for it.
  { id: "gemini-3.1-flash-lite-image", imageSizes: ["1K"], googleSearch: false },
  // Retired (below); kept so a Vertex project that still reaches it gets a well-formed request.
  { id: "gemini-2.5-flash-image", imageSizes: null, googleSearch: false },
];

export interface RetiredGoogleModel {
  id: string;
  /** the day Google shut it down (calls answer 404 since), YYYY-MM-DD. */
  retired: string;
  /** Google's named replacement. */
  replacement: string;
}

export const RETIRED_GOOGLE_MODELS: readonly RetiredGoogleModel[] = [
  { id: "gemini-3-pro-image-preview", retired: "2026-06-25", replacement: "gemini-3-pro-image" },
  { id: "gemini-3.1-flash-image-preview", retired: "2026-06-25", replacement: "gemini-3.1-flash-image" },
  { id: "gemini-2.5-flash-image", retired: "2026-10-02", replacement: "gemini-3.1-flash-image" },
];

/** `models/gemini-3-pro-image` and `gemini-3-pro-image` name the same model. */
const bare = (id: string): string => id.replace(/^(?:publishers\/google\/)?models\//, "");

/** null for an id peel does not know (a newer model, a tuned one): it is then sent as asked. */
export function googleImageModel(id: string): GoogleImageModel | null {
  const b = bare(id);
  return GOOGLE_IMAGE_MODELS.find((m) => m.id === b) ?? null;
}

export function retiredGoogleModel(id: string): RetiredGoogleModel | null {
  const b = bare(id);
  return RETIRED_GOOGLE_MODELS.find((m) => m.id === b) ?? null;
}
