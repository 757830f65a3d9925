import { JPEG_OPTIONS, openImage } from "./convert.js";
import { imageWork } from "./image-work.js";
import { MIME_OF, sniffImage } from "./sniff.js";

/**
 * Reference (input) images before they go upstream (docs/gemini.md#reference-images,
 * docs/engines.md): anything over 7,000,000 bytes is re-encoded so that every reference fits
 * Vertex's 7 MB inline limit and eight of them stay well under the Gemini API's request limit.
 */

/** Largest reference sent as is, in bytes (Vertex's inline per-file limit). */
export const REFERENCE_MAX_BYTES = 7_000_000;

/**
 * Long-edge caps tried in order for an oversized reference, in pixels. Google's guidance gives
 * 4096 then 3072; peel adds 2048 so that even incompressible content (noise, ~0.9 byte per pixel
 * at q90) ends under the limit.
 */
const LONG_EDGE_STEPS = [4096, 3072, 2048] as const;

/**
 * Reference JPEGs skip libjpeg's optimised Huffman tables: optimising needs a second pass over
 * coefficients buffered for the whole image (≈ 3 bytes per pixel at 4:2:0, ~25 MB for an 8 MP
 * input) and that buffer, through glibc's malloc, kept a task's RSS many times its inputs. The
 * single-pass file is ~7 % larger; upstream decodes it anyway.
 */
const REFERENCE_JPEG = Object.freeze({ ...JPEG_OPTIONS, optimiseCoding: false });

type ReferenceMime = "image/png" | "image/jpeg" | "image/webp";

/**
 * Returns a reference image ready to send: unchanged (with its sniffed MIME type) when it is at
 * most REFERENCE_MAX_BYTES, else JPEG q90 with alpha flattened onto white and the long edge capped
 * at 4096 px, then 3072, then 2048 px while still too big (a cap that would not shrink the previous
 * result is skipped). Throws when the bytes are not a decodable PNG, JPEG or WebP.
 */
export async function prepareReference(bytes: Buffer): Promise<{ bytes: Buffer; mimeType: ReferenceMime }> {
  const sniffed = sniffImage(bytes);
  if (sniffed === null) throw new Error("reference image is not PNG, JPEG or WebP");
  if (bytes.length <= REFERENCE_MAX_BYTES) return { bytes, mimeType: MIME_OF[sniffed] };

  return { bytes: await shrinkUntilSmall(bytes), mimeType: "image/jpeg" };
}

/**
 * prepareReference for a source too large to send as is, read from a file: libvips streams it
 * from disk, so the raw file never has to be in memory. Throws when it is not a decodable PNG,
 * JPEG or WebP.
 */
export async function prepareReferenceFile(file: string): Promise<{ bytes: Buffer; mimeType: "image/jpeg" }> {
  return { bytes: await shrinkUntilSmall(file), mimeType: "image/jpeg" };
}

/** Takes its turn in the process-wide image queue (image-work.ts): a few passes at up to 4096 px. */
function shrinkUntilSmall(source: Buffer | string): Promise<Buffer> {
  return imageWork.run(() => shrinkPasses(source));
}

async function shrinkPasses(source: Buffer | string): Promise<Buffer> {
  let out: { data: Buffer; longEdge: number } | null = null;
  for (const cap of LONG_EDGE_STEPS) {
    if (out && (out.data.length <= REFERENCE_MAX_BYTES || cap >= out.longEdge)) continue;
    out = await shrinkToJpeg(source, cap);
  }
  return out!.data;
}

/**
 * Each pass opens the source afresh: libvips streams it top to bottom (sequentialRead) and JPEG
 * sources shrink on load, so peak memory stays near one output image rather than one decoded
 * source, and nothing outlives the call.
 */
async function shrinkToJpeg(source: Buffer | string, longEdge: number): Promise<{ data: Buffer; longEdge: number }> {
  const { data, info } = await openImage(source)
    .autoOrient() // re-encoding drops EXIF, so bake the orientation into the pixels first
    .resize({ width: longEdge, height: longEdge, fit: "inside", withoutEnlargement: true })
    .flatten({ background: "#ffffff" })
    .jpeg(REFERENCE_JPEG)
    .toBuffer({ resolveWithObject: true });
  return { data, longEdge: Math.max(info.width, info.height) };
}
