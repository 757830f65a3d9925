import type { Resolution } from "../domain/types.js";

/**
 * Output pixel sizes per kie model, ratio and resolution (docs/gemini.md#ratios-and-sizes). peel
 * never resizes a real model's output to these numbers; they are what the sandbox engine draws and
 * what the docs promise, so they must match Google's table exactly.
 */

type Size = { width: number; height: number };
type SizeTable = Record<string, Size>;

const size = (width: number, height: number): Size => ({ width, height });

/** The 10 concrete ratios of gemini-3-pro-image, in docs/gemini.md order. */
export const PRO_RATIOS: readonly string[] = Object.freeze([
  "1:1",
  "2:3",
  "3:2",
  "3:4",
  "4:3",
  "4:5",
  "5:4",
  "9:16",
  "16:9",
  "21:9",
]);

/** gemini-3-pro-image (docs/gemini.md#ratios-and-sizes). */
const PRO_SIZES: Record<Resolution, SizeTable> = {
  "1K": {
    "1:1": size(1024, 1024),
    "2:3": size(848, 1264),
    "3:2": size(1264, 848),
    "3:4": size(896, 1200),
    "4:3": size(1200, 896),
    "4:5": size(928, 1152),
    "5:4": size(1152, 928),
    "9:16": size(768, 1376),
    "16:9": size(1376, 768),
    "21:9": size(1584, 672),
  },
  "2K": {
    "1:1": size(2048, 2048),
    "2:3": size(1696, 2528),
    "3:2": size(2528, 1696),
    "3:4": size(1792, 2400),
    "4:3": size(2400, 1792),
    "4:5": size(1856, 2304),
    "5:4": size(2304, 1856),
    "9:16": size(1536, 2752),
    "16:9": size(2752, 1536),
    "21:9": size(3168, 1344),
  },
  "4K": {
    "1:1": size(4096, 4096),
    "2:3": size(3392, 5056),
    "3:2": size(5056, 3392),
    "3:4": size(3584, 4800),
    "4:3": size(4800, 3584),
    "4:5": size(3712, 4608),
    "5:4": size(4608, 3712),
    "9:16": size(3072, 5504),
    "16:9": size(5504, 3072),
    "21:9": size(6336, 2688),
  },
};

/** nano-banana-2's ratios beyond the pro set (docs/kie-contract.md Appendix A). */
const NB2_EXTRA_RATIOS = ["1:4", "4:1", "1:8", "8:1"] as const;
const NB2_RATIOS: readonly string[] = Object.freeze([...PRO_RATIOS, ...NB2_EXTRA_RATIOS]);

/** Round to the nearest multiple of 16 (every size in Google's tables is one). */
const round16 = (n: number): number => Math.max(16, Math.round(n / 16) * 16);

/**
 * Sizes for nano-banana-2's extreme ratios. Google publishes no table for them, so peel derives
 * them: the same pixel budget as 1:1 at that resolution (1024² / 2048² / 4096²), each side rounded
 * to a multiple of 16. 1:4 at 1K → 512×2048, 1:8 at 1K → 368×2896.
 */
function derivedSize(ratio: string, resolution: Resolution): Size {
  const { w, h } = parseRatio(ratio);
  const budget = PRO_SIZES[resolution]["1:1"].width ** 2;
  const width = Math.sqrt((budget * w) / h);
  return size(round16(width), round16((width * h) / w));
}

/** Which size family a kie model id uses, or null when peel does not know it. */
function familyOf(model: string): "pro" | "flash" | "nb2" | "nb2-lite" | null {
  switch (model) {
    case "nano-banana-pro":
      return "pro";
    // Served by gemini-3.1-flash-image at 1K since Google retired gemini-2.5-flash-image
    // (docs/engines.md); kie's ten ratios, one size each.
    case "google/nano-banana":
    case "google/nano-banana-edit":
      return "flash";
    case "nano-banana-2":
      return "nb2";
    // 1K only (docs/kie-contract.md Appendix A), sized like nano-banana-2 at 1K.
    case "nano-banana-2-lite":
      return "nb2-lite";
    default:
      return null;
  }
}

/** The concrete ratios (no "auto") a model supports. Throws on an unknown model. */
export function ratiosOf(model: string): readonly string[] {
  const family = familyOf(model);
  if (family === null) throw new Error(`ratiosOf: unknown model ${JSON.stringify(model)}`);
  return family === "pro" || family === "flash" ? PRO_RATIOS : NB2_RATIOS;
}

/**
 * The pixel size a model produces for a concrete ratio and resolution (null for single-size
 * models). Throws on an unknown model, on "auto", and on a ratio or resolution the model lacks.
 */
export function outputSize(model: string, aspectRatio: string, resolution: Resolution | null): Size {
  const family = familyOf(model);
  const bad = (): Error => new Error(`outputSize: unsupported combination ${model} / ${aspectRatio} / ${resolution ?? "null"}`);
  if (family === null || !ratiosOf(model).includes(aspectRatio)) throw bad();

  let found: Size | undefined;
  if (family === "flash") {
    if (resolution !== null) throw bad();
    found = nb2Size(aspectRatio, "1K");
  } else if (family === "nb2-lite") {
    if (resolution !== null && resolution !== "1K") throw bad();
    found = nb2Size(aspectRatio, "1K");
  } else {
    if (resolution === null || !(resolution in PRO_SIZES)) throw bad();
    found = family === "pro" ? PRO_SIZES[resolution][aspectRatio] : nb2Size(aspectRatio, resolution);
  }
  if (!found) throw bad();
  return { ...found };
}

function nb2Size(ratio: string, resolution: Resolution): Size | undefined {
  // For the ratios it shares with pro, nano-banana-2 uses pro's table: Google documents no
  // separate table for gemini-3.1-flash-image (docs/gemini.md#ratios-and-sizes).
  return (NB2_EXTRA_RATIOS as readonly string[]).includes(ratio) ? derivedSize(ratio, resolution) : PRO_SIZES[resolution][ratio];
}

function parseRatio(ratio: string): { w: number; h: number } {
  const m = /^(\d+):(\d+)$/.exec(ratio);
  if (!m) throw new Error(`not a ratio: ${JSON.stringify(ratio)}`);
  const w = Number(m[1]);
  const h = Number(m[2]);
  if (w <= 0 || h <= 0) throw new Error(`not a ratio: ${JSON.stringify(ratio)}`);
  return { w, h };
}

/**
 * The ratio in `ratios` closest to width:height, by distance of log(width/height) — so 2:1 is as
 * far from 1:1 as 1:2 is. Ties go to the earlier entry in `ratios`.
 */
export function nearestRatio(width: number, height: number, ratios: readonly string[]): string {
  if (!(width > 0) || !(height > 0)) throw new Error(`nearestRatio: bad size ${width}x${height}`);
  if (ratios.length === 0) throw new Error("nearestRatio: no ratios to choose from");
  const target = Math.log(width / height);
  let best = ratios[0];
  let bestDist = Infinity;
  for (const r of ratios) {
    const { w, h } = parseRatio(r);
    const dist = Math.abs(Math.log(w / h) - target);
    if (dist < bestDist) {
      best = r;
      bestDist = dist;
    }
  }
  return best;
}
