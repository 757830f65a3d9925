import sharp, { type Sharp } from "sharp";
import type { OutputFormat } from "../domain/types.js";
import { imageWork } from "./image-work.js";
import { sniffImage } from "./sniff.js";

/**
 * Format conversion of finished images (docs/gemini.md#image-formats): the stored file's bytes
 * must agree with the task's output_format, whatever the engine returned. Never resizes.
 */

// peel decodes each image once and never reopens it, so libvips' operation cache only holds on to
// memory (up to 50 MB by default) without ever hitting. Process-wide; every peel module that uses
// sharp imports this one, directly or through reference.ts.
sharp.cache(false);

/**
 * Largest image peel decodes, in pixels. Above every real model output (6336×2688 ≈ 17 MP) and
 * typical camera files (≤ 100 MP), below decompression bombs (a 30 MiB PNG can declare gigapixels).
 * @defaultValue 100,000,000 pixels
 */
export const MAX_INPUT_PIXELS = 100_000_000;

/** JPEG quality for every JPEG peel encodes; mozjpeg off because it takes seconds at 4K. */
export const JPEG_OPTIONS = Object.freeze({ quality: 90, mozjpeg: false });

/** Opens bytes (or a file, by path) with peel's decode limits. */
export function openImage(source: Buffer | string): Sharp {
  return sharp(source, { limitInputPixels: MAX_INPUT_PIXELS, sequentialRead: true, failOn: "error" });
}

/** Width and height from the image header. Throws when the bytes are not PNG, JPEG or WebP. */
export async function imageDimensions(bytes: Buffer): Promise<{ width: number; height: number }> {
  if (sniffImage(bytes) === null) throw new Error("not a PNG, JPEG or WebP image");
  const meta = await openImage(bytes).metadata();
  if (!meta.width || !meta.height) throw new Error("image has no dimensions");
  return { width: meta.width, height: meta.height };
}

/**
 * Returns the image encoded as `format`: the same bytes when they already are (sniffed, never
 * trusted from a label), else a conversion — JPEG q90 (alpha flattened onto white, since JPEG has
 * no alpha channel) or PNG at sharp's default compression. Throws on bytes sharp cannot decode.
 */
export function encodeAs(bytes: Buffer, format: OutputFormat): Promise<{ bytes: Buffer; width: number; height: number }> {
  return imageWork.run(() => encode(bytes, format));
}

async function encode(bytes: Buffer, format: OutputFormat): Promise<{ bytes: Buffer; width: number; height: number }> {
  const sniffed = sniffImage(bytes);
  if (sniffed === null) throw new Error("encodeAs: not a PNG, JPEG or WebP image");
  if (sniffed === format) return { bytes, ...(await imageDimensions(bytes)) };

  const img = openImage(bytes);
  const out = format === "jpeg" ? img.flatten({ background: "#ffffff" }).jpeg(JPEG_OPTIONS) : img.png();
  const { data, info } = await out.toBuffer({ resolveWithObject: true });
  return { bytes: data, width: info.width, height: info.height };
}
