/**
 * Which fal app serves each kie model, and the parameter values each app accepts (fal's model API
 * pages for Nano Banana Pro, Nano Banana 2 and Nano Banana; docs/engines.md#fal). A task with input
 * images goes to the app's `/edit` endpoint. Values an app does not accept are left out, so the
 * app's default applies (docs/engines.md lists each case).
 */
export interface FalAppSpec {
  /** `aspect_ratio` values of the text-to-image endpoint ("auto" included when it has it). */
  ratios: readonly string[];
  /** `aspect_ratio` values of the `/edit` endpoint. */
  editRatios: readonly string[];
  /** `resolution` values, or null when the app has no resolution field. */
  resolutions: readonly string[] | null;
  /** whether the app has `enable_web_search` (kie's `google_search`). */
  webSearch: boolean;
}

const TEN = ["21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16"] as const;
const EXTREMES = ["1:4", "4:1", "1:8", "8:1"] as const;

export const FAL_APPS: Readonly<Record<string, FalAppSpec>> = {
  "fal-ai/nano-banana-pro": {
    ratios: ["auto", ...TEN],
    editRatios: ["auto", ...TEN],
    resolutions: ["1K", "2K", "4K"],
    webSearch: false,
  },
  "fal-ai/nano-banana-2": {
    ratios: ["auto", ...TEN, ...EXTREMES],
    editRatios: ["auto", ...TEN, ...EXTREMES],
    resolutions: ["0.5K", "1K", "2K", "4K"],
    webSearch: true,
  },
  "fal-ai/nano-banana": { ratios: TEN, editRatios: ["auto", ...TEN], resolutions: null, webSearch: false },
};

/** kie model → fal app id (the default `modelIds` of a `fal` route). */
export const FAL_DEFAULT_MODEL_IDS: Readonly<Record<string, string>> = {
  "nano-banana-pro": "fal-ai/nano-banana-pro",
  "nano-banana-2": "fal-ai/nano-banana-2",
  "google/nano-banana": "fal-ai/nano-banana",
  "google/nano-banana-edit": "fal-ai/nano-banana",
};
