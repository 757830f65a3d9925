/**
 * Which Replicate model serves each kie model, and the input values each accepts (the models'
 * published input schemas on replicate.com; docs/engines.md#replicate). Values a model does not
 * accept are left out so its default applies.
 */
export interface ReplicateModelSpec {
  /** `aspect_ratio` values besides `match_input_image`. */
  ratios: readonly string[];
  /** `resolution` values, or null when the model has no resolution input. */
  resolutions: readonly string[] | null;
  /** whether the model has `google_search`. */
  googleSearch: boolean;
}

const TEN = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"] as const;

export const REPLICATE_MODELS: Readonly<Record<string, ReplicateModelSpec>> = {
  "google/nano-banana-pro": { ratios: TEN, resolutions: ["1K", "2K", "4K"], googleSearch: false },
  "google/nano-banana-2": { ratios: [...TEN, "1:4", "4:1", "1:8", "8:1"], resolutions: ["1K", "2K", "4K"], googleSearch: true },
  "google/nano-banana": { ratios: TEN, resolutions: null, googleSearch: false },
};

/** kie model → Replicate model `owner/name` (the default `modelIds` of a `replicate` route). */
export const REPLICATE_DEFAULT_MODEL_IDS: Readonly<Record<string, string>> = {
  "nano-banana-pro": "google/nano-banana-pro",
  "nano-banana-2": "google/nano-banana-2",
  "google/nano-banana": "google/nano-banana",
  "google/nano-banana-edit": "google/nano-banana",
};
