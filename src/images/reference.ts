import { JPEG_OPTIONS, openImage } from "./convert.js";
import { MIME_OF, sniffImage } from "./sniff.js";

/**
 * Reference (input) images before they go upstream (gemini-notes §12): anything over 7,000,000
 * bytes is re-encoded so that every reference fits Vertex's 7 MB inline limit and eight of them
 * stay well under the Gemini API's request limit.
 */

/** Largest reference sent as is, in bytes (Vertex's inline per-file limit). */
export const REFERENCE_MAX_BYTES = 7_000_000;

/** Long-edge caps tried in order for an oversized reference, in pixels (gemini-notes §12). */
const LONG_EDGE_STEPS = [4096, 3072] as const;

type ReferenceMime = "image/png" | "image/jpeg" | "image/webp";

/**
 * Returns a reference image ready to send: unchanged (with its sniffed MIME type) when it is at
 * most REFERENCE_MAX_BYTES, else JPEG q90 with alpha flattened onto white and the long edge capped
 * at 4096 px, then at 3072 px if still too big. gemini-notes stops at 3072: a file still over the
 * limit after that (pathological noise) is returned as is and upstream decides.
 * Throws when the bytes are not a decodable PNG, JPEG or WebP.
 */
export async function prepareReference(bytes: Buffer): Promise<{ bytes: Buffer; mimeType: ReferenceMime }> {
  const sniffed = sniffImage(bytes);
  if (sniffed === null) throw new Error("reference image is not PNG, JPEG or WebP");
  if (bytes.length <= REFERENCE_MAX_BYTES) return { bytes, mimeType: MIME_OF[sniffed] };

  let out = await shrinkToJpeg(bytes, LONG_EDGE_STEPS[0]);
  if (out.length > REFERENCE_MAX_BYTES) out = await shrinkToJpeg(bytes, LONG_EDGE_STEPS[1]);
  return { bytes: out, mimeType: "image/jpeg" };
}

/**
 * Each pass opens the source afresh: libvips streams it top to bottom (sequentialRead) and JPEG
 * sources shrink on load, so peak memory stays near one output image rather than one decoded
 * source, and nothing outlives the call.
 */
function shrinkToJpeg(bytes: Buffer, longEdge: number): Promise<Buffer> {
  return openImage(bytes)
    .autoOrient() // re-encoding drops EXIF, so bake the orientation into the pixels first
    .resize({ width: longEdge, height: longEdge, fit: "inside", withoutEnlargement: true })
    .flatten({ background: "#ffffff" })
    .jpeg(JPEG_OPTIONS)
    .toBuffer();
}
